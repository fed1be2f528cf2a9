// Reading a YAML tree with positions. The Walker turns offsets into `file:line:col` and collects
// every error instead of stopping at the first, so `flagman check` shows them all at once; the
// readers here return undefined after recording an error, and callers just skip that value.
import type { YMap, YNode, YScalar, YSeq } from './yaml-tree.js';
import { FlagmanError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { ExprSource, Position } from './schema.js';
import { parseDuration, parseSize } from './units.js';

/** One key of a map (or one item of a list) with where it is, ready for the section readers. */
export interface Entry {
  /** Dotted path for messages: `backends.app.servers.app1.address`, `frontends.web.rules[0]`. */
  readonly path: string;
  /** The key as written (for list items, the index). */
  readonly name: string;
  /** Position of the key (for list items, of the item). */
  readonly keyAt: Position;
  /** The value (aliases are followed in the tree); null when the file holds none. */
  readonly node: YNode | null;
  /** Position of the value (of the key when there is no value). */
  readonly at: Position;
}

/** A table of allowed keys and what each one means (docs/design/conventions.md): the readers, docs and tests share it. */
export type KeyTable = Readonly<Record<string, string>>;

export const isMap = (node: YNode | null): node is YMap => node !== null && node.kind === 'map';
export const isSeq = (node: YNode | null): node is YSeq => node !== null && node.kind === 'seq';
export const isScalar = (node: YNode | null): node is YScalar => node !== null && node.kind === 'scalar';

/** Collects errors and positions while one config document is read. */
export class Walker {
  readonly errors: FlagmanError[] = [];
  readonly file: string;
  readonly #text: string;
  /** Offset of each line's first character, the first line's (0) included. */
  readonly #lineStarts: number[] = [0];

  constructor(file: string, text: string) {
    this.file = file;
    this.#text = text;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.#lineStarts.push(i + 1);
  }

  /** The position of a character offset in the file. */
  pos(offset: number): Position {
    const starts = this.#lineStarts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.file, line: lo + 1, col: offset - starts[lo]! + 1 };
  }

  /** The position of a node's first character. */
  nodeAt(node: YNode): Position {
    return this.pos(node.start);
  }

  /** Records an error; reading goes on. */
  fail(code: ErrorCode, reason: string, at: Position): undefined {
    this.errors.push(new FlagmanError(code, reason, at));
    return undefined;
  }

  /**
   * Where an expression's first character is: inside the quote of a quoted scalar, on the first
   * content line of a block scalar, so a CEL error column can be added to it. (Past an escape in a
   * double-quoted string, or a line fold, source columns and file columns part ways; the start holds.)
   */
  exprAt(node: YScalar): Position {
    const start = node.start;
    if (node.style === 'QUOTE_DOUBLE' || node.style === 'QUOTE_SINGLE') return this.pos(start + 1);
    if (node.style === 'BLOCK_LITERAL' || node.style === 'BLOCK_FOLDED') {
      let i = this.#text.indexOf('\n', start);
      while (i >= 0 && i < this.#text.length && /\s/.test(this.#text[i] ?? '')) i++;
      return this.pos(i < 0 ? start : i);
    }
    return this.pos(start);
  }
}

/** Describes a value for "expected X, got Y" messages. */
export function kindOf(node: YNode | null): string {
  if (node === null) return 'nothing';
  if (isMap(node)) return 'a map';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'nothing';
    if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
    if (typeof v === 'number') return `the number ${String(v)}`;
    if (typeof v === 'boolean') return String(v);
  }
  return 'an unsupported value';
}

/** Records "PATH: expected WHAT, got KIND" at the value. */
export function wrongKind(w: Walker, e: Entry, what: string): undefined {
  return w.fail('CONFIG_SCHEMA', `${e.path}: expected ${what}, got ${kindOf(e.node)}`, e.at);
}

function entry(w: Walker, path: string, name: string, keyAt: Position, node: YNode | null): Entry {
  return { path, name, keyAt, node, at: node === null ? keyAt : w.nodeAt(node) };
}

// The path of the document itself, in messages about the whole file.
const ROOT = '(top level)';

/** The document's top level as an entry (an empty file reads as an empty map). */
export function rootEntry(w: Walker, contents: YNode | null): Entry {
  return entry(w, ROOT, '', { file: w.file, line: 1, col: 1 }, contents);
}

function isNothing(node: YNode | null): boolean {
  return node === null || (isScalar(node) && node.value === null);
}

/** The entries of a map, in file order; nothing (`key:` left empty) reads as an empty map. */
export function mapEntries(w: Walker, e: Entry): Entry[] | undefined {
  if (isNothing(e.node)) return [];
  if (!isMap(e.node)) return wrongKind(w, e, 'a map');
  const out: Entry[] = [];
  for (const pair of e.node.items) {
    const key = pair.key;
    if (!isScalar(key) || key.value === null || typeof key.value === 'object') {
      const at = key === null ? e.at : w.nodeAt(key);
      w.fail('CONFIG_SCHEMA', `${e.path}: a key must be a plain name, not ${kindOf(key)}`, at);
      continue;
    }
    // A plain `1.0:` key is the number 1; keep the name as written.
    const name = typeof key.value === 'string' ? key.value : key.source || String(key.value);
    const path = e.path === ROOT ? name : `${e.path}.${name}`;
    out.push(entry(w, path, name, w.nodeAt(key), pair.value));
  }
  return out;
}

/** A map whose keys come from a table: unknown keys are errors at the key. */
export function fieldsOf<T extends KeyTable>(w: Walker, e: Entry, table: T): Partial<Record<keyof T & string, Entry>> | undefined {
  const entries = mapEntries(w, e);
  if (entries === undefined) return undefined;
  const out: Partial<Record<string, Entry>> = {};
  for (const f of entries) {
    if (Object.hasOwn(table, f.name)) out[f.name] = f;
    else {
      const where = e.path === ROOT ? 'at the top level' : `in ${e.path}`;
      w.fail('CONFIG_SCHEMA', `unknown key "${f.name}" ${where} (known: ${Object.keys(table).join(', ')})`, f.keyAt);
    }
  }
  return out as Partial<Record<keyof T & string, Entry>>;
}

/** The items of a list; `single` also accepts one bare value as a list of one. */
export function listItems(w: Walker, e: Entry, what: string, single = false): Entry[] | undefined {
  if (isNothing(e.node)) return [];
  if (!isSeq(e.node)) {
    if (single && isScalar(e.node)) return [e];
    return wrongKind(w, e, `a list of ${what}`);
  }
  return e.node.items.map((node, i) => {
    const at = node === null ? e.at : w.nodeAt(node);
    return entry(w, `${e.path}[${i}]`, String(i), at, node);
  });
}

/** Records "PATH: missing required key" at the parent's key. */
export function missing(w: Walker, parent: Entry, key: string, hint = ''): undefined {
  const where = parent.path === ROOT ? `missing required top-level key "${key}"` : `${parent.path}: missing required key "${key}"`;
  return w.fail('CONFIG_SCHEMA', `${where}${hint}`, parent.keyAt);
}

/** A string scalar; `nonEmpty` rejects "". */
export function readString(w: Walker, e: Entry, nonEmpty = true): string | undefined {
  if (!isScalar(e.node) || typeof e.node.value !== 'string') return wrongKind(w, e, 'a string');
  if (nonEmpty && e.node.value === '') return w.fail('CONFIG_SCHEMA', `${e.path}: must not be empty`, e.at);
  return e.node.value;
}

/** A whole number in [min, max]. */
export function readInt(w: Walker, e: Entry, min: number, max: number): number | undefined {
  const v = isScalar(e.node) ? e.node.value : undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) return wrongKind(w, e, `a whole number from ${min} to ${max}`);
  if (v < min || v > max) return w.fail('CONFIG_SCHEMA', `${e.path}: must be from ${min} to ${max}, not ${v}`, e.at);
  return v;
}

// YAML 1.2 reads on/off as strings; operators (`log.access: off`, docs/configuration.md) mean booleans.
const BOOLEANS: Readonly<Record<string, boolean>> = { on: true, off: false };

/** true/false, or on/off. */
export function readBool(w: Walker, e: Entry): boolean | undefined {
  const v = isScalar(e.node) ? e.node.value : undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && Object.hasOwn(BOOLEANS, v)) return BOOLEANS[v];
  return wrongKind(w, e, 'true, false, on or off');
}

/** One of a table of words. */
export function readOneOf<T extends string>(w: Walker, e: Entry, words: readonly T[]): T | undefined {
  const v = isScalar(e.node) ? e.node.value : undefined;
  if (typeof v === 'string' && (words as readonly string[]).includes(v)) return v as T;
  return wrongKind(w, e, `one of ${words.join(', ')}`);
}

/** A duration in ms of at least `min` ms (0 allowed only where a table says so). */
export function readDuration(w: Walker, e: Entry, min = 1): number | undefined {
  const raw = isScalar(e.node) ? e.node.value : undefined;
  // A bare `5` reaches here as a number; parse its text so the message says which units exist.
  const v = typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 ? String(raw) : raw;
  if (typeof v !== 'string') return wrongKind(w, e, 'a duration such as 250ms, 5s or 2m');
  const ms = tryParse(w, e, () => parseDuration(v));
  if (ms !== undefined && ms < min) return w.fail('CONFIG_SCHEMA', `${e.path}: must be more than 0, not ${v}`, e.at);
  return ms;
}

/** A size in bytes: a whole number (`1048576`), or a whole number and a unit (`512KiB`, `1MiB`). */
export function readSize(w: Walker, e: Entry): number | undefined {
  const raw = isScalar(e.node) ? e.node.value : undefined;
  // A bare `1048576` reaches here as a number; parse its text so every size goes one way.
  const v = typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 ? String(raw) : raw;
  if (typeof v !== 'string') return wrongKind(w, e, 'a size such as 1048576, 512KiB or 1MiB');
  return tryParse(w, e, () => parseSize(v));
}

/**
 * An integer in [min, max] or a CEL expression (a string), kept as source text: a YAML integer is
 * checked here, an expression when it is compiled. `example` shows an expression in the message.
 */
export function readIntOrExpr(w: Walker, e: Entry, min: number, max: number, example: string): ExprSource | undefined {
  if (isScalar(e.node) && typeof e.node.value === 'number') {
    const n = readInt(w, e, min, max);
    return n === undefined ? undefined : { source: String(n), at: e.at };
  }
  if (!isScalar(e.node) || typeof e.node.value !== 'string') {
    return wrongKind(w, e, `an integer ${min}–${max} or an expression such as ${example}`);
  }
  return readExpr(w, e, 'an expression');
}

/** Runs a units parser; its FlagmanError becomes a recorded error at the value, prefixed with the path. */
export function tryParse<T>(w: Walker, e: Entry, parse: () => T): T | undefined {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof FlagmanError)) throw err;
    return w.fail(err.code, `${e.path}: ${err.reason}`, e.at);
  }
}

/** A CEL expression kept as written: a string, or a scalar whose text is its own source (`true`, `3`). */
export function readExpr(w: Walker, e: Entry, what: string): ExprSource | undefined {
  const node = e.node;
  if (!isScalar(node) || node.value === null || typeof node.value === 'object') return wrongKind(w, e, what);
  const source = String(node.value);
  if (source.trim() === '') return w.fail('CONFIG_SCHEMA', `${e.path}: must not be empty`, e.at);
  return { source, at: w.exprAt(node) };
}
