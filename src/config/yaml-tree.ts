// flagman.yaml's text read into a small tree of maps, lists and scalars, each with the offset it
// starts at: what the config readers walk (nodes.ts). Two readers make the same tree:
//
// - the quick one runs js-yaml's event parser (offsets, no document model) and resolves each
//   plain scalar with the `yaml` package's YAML 1.2 core tags, the ones the full reader uses;
// - the full one is the `yaml` package's document model, and gives every syntax error with its
//   offset and message, not only the first.
//
// The quick reader declines what it does not read exactly as the full one does, and the full
// reader then reads the text as before: any syntax error; a tag, a directive, a second document;
// a duplicate key, a key that is empty, not a scalar, explicit (`? k`) or on several lines; an
// alias to no anchor, an anchor named with other than letters, digits, `_`, `-` and `.`, or on an
// empty value; an empty value inside braces or brackets; a tab in a line's indentation; a block
// map as a value on its key's line (`a: b: c`); a plain value on a line after its key's or its
// `-`; a plain scalar that starts with `:` or `?`; a block scalar with an indentation indicator or
// with a line of blanks only. Most of these are the full reader's errors that js-yaml lets through; the
// differential fuzz target found them (test/fuzz/yaml-tree.js: `npm run fuzz`, and briefly in
// test/unit/config-yaml-tree.test.js, which also reads every YAML file of the repository both ways).
//
// In a fresh process, a reload of the bench's config (47 lines) took 8.9 ms in the full reader and
// 1.5 ms in the quick one (bench/RESULTS.md, "A reload read by js-yaml's event parser").
import { COLLECTION_STYLE, EVENT_ID, getScalarValue, parseEvents, SCALAR_STYLE } from 'js-yaml';
import type { Event, ScalarEvent } from 'js-yaml';
import { isAlias, isMap, isScalar, isSeq, parseDocument, Schema } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';

/** How a scalar was written (the `yaml` package's names). */
export type ScalarStyle = 'PLAIN' | 'QUOTE_DOUBLE' | 'QUOTE_SINGLE' | 'BLOCK_LITERAL' | 'BLOCK_FOLDED';

export interface YScalar {
  readonly kind: 'scalar';
  /** Offset of the first character: the quote of a quoted scalar, the `|` or `>` of a block one. */
  readonly start: number;
  /** The value by YAML 1.2's core schema: a plain `8080` is a number, `"8080"` a string. */
  readonly value: string | number | boolean | null;
  readonly style: ScalarStyle;
  /** The text the value was resolved from (a plain `1.0` keeps its `.0`). */
  readonly source: string;
}

export interface YMap {
  readonly kind: 'map';
  readonly start: number;
  readonly items: YPair[];
}

export interface YPair {
  readonly key: YNode | null;
  readonly value: YNode | null;
}

export interface YSeq {
  readonly kind: 'seq';
  readonly start: number;
  readonly items: (YNode | null)[];
}

/** A node with aliases followed: `*name` is the anchored node itself. */
export type YNode = YScalar | YMap | YSeq;

export interface YamlProblem {
  readonly message: string;
  readonly offset: number;
}

export interface YamlTree {
  /** The document's content; null for a file with none. */
  readonly root: YNode | null;
  /** Syntax errors and warnings (an unknown tag), in the order found; the tree is not to be read past them. */
  readonly problems: readonly YamlProblem[];
  /** Which reader made it. */
  readonly reader: 'quick' | 'full';
}

/** Reads `text`: the quick reader when it can, else the full one. `quick: false` forces the full one. */
export function readYamlTree(text: string, quick = true): YamlTree {
  const root = quick ? readQuick(text) : DECLINED;
  if (root !== DECLINED) return { root, problems: [], reader: 'quick' };
  return readFull(text);
}

/** The full reader alone: the `yaml` package's document, as a tree. */
export function readFull(text: string): YamlTree {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const problems = [...doc.errors, ...doc.warnings].map((e) => ({ message: MESSAGES[e.code] ?? e.message, offset: e.pos[0] }));
  return { root: fromDocument(doc, doc.contents, new Map()), problems, reader: 'full' };
}

// The `yaml` package's messages that speak of its own API, in words about the file.
const MESSAGES: Readonly<Partial<Record<string, string>>> = {
  MULTIPLE_DOCS: 'a second YAML document (after ---): the config is one document',
};

function fromDocument(doc: Document, raw: unknown, seen: Map<unknown, YNode>): YNode | null {
  const node = isAlias(raw) ? (raw.resolve(doc) as YamlNode | undefined) : (raw as YamlNode | null | undefined);
  if (node === null || node === undefined) return null;
  const known = seen.get(node);
  if (known !== undefined) return known;
  const start = node.range?.[0] ?? 0;
  if (isMap(node)) {
    const items: YPair[] = [];
    const out: YMap = { kind: 'map', start, items };
    seen.set(node, out);
    for (const p of node.items) items.push({ key: fromDocument(doc, p.key, seen), value: fromDocument(doc, p.value, seen) });
    return out;
  }
  if (isSeq(node)) {
    const items: (YNode | null)[] = [];
    const out: YSeq = { kind: 'seq', start, items };
    seen.set(node, out);
    for (const item of node.items) items.push(fromDocument(doc, item, seen));
    return out;
  }
  if (isScalar(node)) {
    const value = node.value as YScalar['value'];
    const out: YScalar = {
      kind: 'scalar',
      start,
      value,
      style: (node.type as ScalarStyle | undefined) ?? 'PLAIN',
      source: node.source ?? '',
    };
    seen.set(node, out);
    return out;
  }
  return null;
}

// --- the quick reader ------------------------------------------------------------------------

const DECLINED = Symbol('declined');

/** Thrown inside the quick reader for what it leaves to the full one. */
class Decline extends Error {}

const STYLES: Readonly<Record<number, ScalarStyle>> = {
  [SCALAR_STYLE.PLAIN]: 'PLAIN',
  [SCALAR_STYLE.SINGLE_QUOTED]: 'QUOTE_SINGLE',
  [SCALAR_STYLE.DOUBLE_QUOTED]: 'QUOTE_DOUBLE',
  [SCALAR_STYLE.LITERAL_BLOCK]: 'BLOCK_LITERAL',
  [SCALAR_STYLE.FOLDED_BLOCK]: 'BLOCK_FOLDED',
};

// The core schema's scalar tags, in the order the full reader tries them on a plain scalar.
interface CoreTag {
  readonly test?: RegExp;
  readonly default?: boolean | 'key';
  resolve(source: string, onError: (message: string) => void, options: object): unknown;
}
let plainTags: readonly CoreTag[] | null = null;
const RESOLVE_OPTIONS = { intAsBigInt: false };

// What a core tag's match can start with: `~`, the letters of null, true and false, a digit, a
// sign, or the dot of `.5`, `.inf` and `.nan` (and an empty scalar is null). A plain scalar that
// starts otherwise (a name, a path, an address) is a string without a regex tried: in a profile of
// reloads of a 1,550-line config, the eight tags' tests were a fifth of the quick reader's time
// (test/unit/config-yaml-tree.test.js holds the two ways equal).
const TAG_FIRST = /^[~nNtTfF0-9+.-]/;

/** A plain scalar's value, as the full reader would give it; declines what a tag would refuse. */
export function resolvePlain(source: string): YScalar['value'] {
  if (source !== '' && !TAG_FIRST.test(source)) return source;
  return resolveByTags(source);
}

/** resolvePlain by trying every core tag in turn. */
export function resolveByTags(source: string): YScalar['value'] {
  plainTags ??= (new Schema({ schema: 'core' }).tags as unknown as CoreTag[]).filter((t) => t.default === true && t.test !== undefined);
  for (const tag of plainTags) {
    if (!tag.test!.test(source)) continue;
    let failed = false;
    const v = tag.resolve(source, () => (failed = true), RESOLVE_OPTIONS);
    if (failed) throw new Decline();
    const value = isScalar(v) ? v.value : v;
    if (value === null || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') return value;
    throw new Decline();
  }
  return source;
}

interface Frame {
  readonly node: YMap | YSeq;
  readonly flow: boolean;
  /** A map's key read and waiting for its value. */
  key: YScalar | null;
  /** A map's keys so far, as values: a second equal one is the full reader's error to give. */
  readonly keys: Set<unknown> | null;
}

const isBlank = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';

/** From `i`, past blanks, line ends and comments. */
function skipBlank(text: string, i: number): number {
  for (;;) {
    while (isBlank(text[i])) i++;
    if (text[i] !== '#') return i;
    while (i < text.length && text[i] !== '\n') i++;
  }
}

/** Where the full reader puts an empty value: past the `:` or `-` that introduces it, and the spaces after. */
function emptyStart(text: string, from: number, indicator: ':' | '-'): number {
  let i = skipBlank(text, from);
  if (text[i] !== indicator) throw new Decline();
  i++;
  while (text[i] === ' ' || text[i] === '\t') i++;
  return i;
}

/** The `|` or `>` of a block scalar's header, the first one past `from` and what introduces the value. */
function headerStart(text: string, from: number): number {
  let i = from;
  for (;;) {
    i = skipBlank(text, i);
    const c = text[i];
    if (c === '|' || c === '>') return i;
    if (c !== ':' && c !== '-' && c !== '?') throw new Decline();
    i++;
  }
}

// A tab in a line's indentation, indicators (`- `, `? `, `: `) included: the full reader refuses
// it, js-yaml reads some of them.
const TAB_INDENT = /^[ ?:-]*\t/m;
// A line of blanks only: js-yaml reads some the full reader refuses inside or after block scalars.
const BLANK_LINE = /^[ \t]+$/m;
const INDENT_INDICATOR = /^[|>][-+]?[1-9]/;
// Before a key on its line: `?` and blanks, or `- ?` in a list.
const EXPLICIT_KEY = /\?[ \t]*(?:[&!][^ \t]*[ \t]*)*$/;

function readQuick(text: string): YNode | null | typeof DECLINED {
  if (text.includes('\t') && TAB_INDENT.test(text)) return DECLINED;
  let events: Event[];
  try {
    events = parseEvents(text, {});
  } catch {
    return DECLINED;
  }
  try {
    return build(text, events);
  } catch (err) {
    if (err instanceof Decline) return DECLINED;
    throw err;
  }
}

// Anchor names of letters, digits, `_`, `-` and `.`: the readers part ways on some others (`&a:`).
const ANCHOR_NAME = /^[A-Za-z0-9_.-]+$/;

function anchorName(text: string, start: number, end: number): string {
  const name = text.slice(start, end);
  if (!ANCHOR_NAME.test(name) || name.endsWith('.')) throw new Decline();
  return name;
}

const isPlainText = (node: YNode): boolean => node.kind === 'scalar' && node.style === 'PLAIN' && node.source !== '';

/** `text.slice(from, to).includes('\n')`, without the slice: asked for every key and value read. */
function newlineBetween(text: string, from: number, to: number): boolean {
  const i = text.indexOf('\n', from);
  return i !== -1 && i < to;
}

/** Whether a `?` comes between `from` and `to`: an explicit key needs one (EXPLICIT_KEY). */
function questionMarkBetween(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (text.charCodeAt(i) === 63) return true;
  return false;
}

function build(text: string, events: Event[]): YNode | null {
  const stack: Frame[] = [];
  const anchors = new Map<string, YNode>();
  let root: YNode | null = null;
  let documents = 0;
  // Offset past the last thing read: where an empty value or a block scalar's header is looked for.
  let cursor = 0;

  const attach = (node: YNode): void => {
    const top = stack[stack.length - 1];
    if (top === undefined) {
      root = node;
      return;
    }
    if (top.node.kind === 'seq') {
      // A plain item on a line after its `-`: as for a map's value, below.
      if (!top.flow && isPlainText(node) && newlineBetween(text, skipBlank(text, cursor), node.start)) throw new Decline();
      top.node.items.push(node);
      return;
    }
    if (top.key === null) {
      // A key that is a collection, or none (`: x`), is the full reader's to judge.
      if (node.kind !== 'scalar' || node.source === '' || node.source.includes('\n')) throw new Decline();
      // `? key`, an explicit key, likewise.
      const line = text.lastIndexOf('\n', node.start) + 1;
      if (questionMarkBetween(text, line, node.start) && EXPLICIT_KEY.test(text.slice(line, node.start))) throw new Decline();
      // A block map starts where the full reader puts its first key: past the key's anchor.
      if (!top.flow && top.node.items.length === 0) (top.node as { start: number }).start = node.start;
      // The full reader holds keys unique by value: `1` and `1.0` are the same key, "1" another.
      if (top.keys!.has(node.value)) throw new Decline();
      top.keys!.add(node.value);
      top.key = node;
      return;
    }
    // A plain value on a line after its key's: the readers part ways when a comment comes between.
    if (isPlainText(node) && newlineBetween(text, top.key.start, node.start)) throw new Decline();
    top.node.items.push({ key: top.key, value: node });
    top.key = null;
  };
  const anchor = (start: number, end: number, node: YNode): void => {
    if (start >= 0) anchors.set(anchorName(text, start, end), node);
  };

  for (const ev of events) {
    switch (ev.type) {
      case EVENT_ID.DOCUMENT:
        if (++documents > 1 || ev.directives.length > 0) throw new Decline();
        break;
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE: {
        if (ev.tagStart >= 0) throw new Decline();
        // `&a key: 1` anchors the map, which the full reader has start at its first key.
        const start = ev.anchorStart >= 0 && ev.start < ev.anchorEnd ? skipBlank(text, ev.anchorEnd) : ev.start;
        const node: YMap | YSeq = ev.type === EVENT_ID.MAPPING ? { kind: 'map', start, items: [] } : { kind: 'seq', start, items: [] };
        const flow = ev.style === COLLECTION_STYLE.FLOW;
        // `a: b: c`, a block map as a value on its key's line, is refused by the full reader.
        const parent = stack[stack.length - 1];
        if (!flow && node.kind === 'map' && parent?.key && !newlineBetween(text, parent.key.start, start)) throw new Decline();
        anchor(ev.anchorStart, ev.anchorEnd, node);
        attach(node);
        stack.push({ node, flow, key: null, keys: node.kind === 'map' ? new Set() : null });
        cursor = flow ? start + 1 : Math.max(cursor, ev.anchorEnd, start);
        break;
      }
      case EVENT_ID.SCALAR: {
        const node = scalar(text, ev, ev.anchorStart >= 0 ? ev.anchorEnd : cursor, stack[stack.length - 1]);
        anchor(ev.anchorStart, ev.anchorEnd, node);
        attach(node);
        if (ev.valueStart < 0) cursor = node.start;
        else cursor = node.style === 'QUOTE_DOUBLE' || node.style === 'QUOTE_SINGLE' ? ev.valueEnd + 1 : ev.valueEnd;
        break;
      }
      case EVENT_ID.ALIAS: {
        const node = anchors.get(anchorName(text, ev.anchorStart, ev.anchorEnd));
        if (node === undefined) throw new Decline();
        attach(node);
        cursor = ev.anchorEnd;
        break;
      }
      case EVENT_ID.POP: {
        const frame = stack.pop();
        if (frame === undefined || !frame.flow) break;
        // Past the closing bracket, so that what follows the collection is looked for after it.
        let i = cursor;
        for (;;) {
          i = skipBlank(text, i);
          if (text[i] !== ',') break;
          i++;
        }
        if (text[i] !== (frame.node.kind === 'map' ? '}' : ']')) throw new Decline();
        cursor = i + 1;
        break;
      }
    }
  }
  return root;
}

function scalar(text: string, ev: ScalarEvent, from: number, parent: Frame | undefined): YScalar {
  if (ev.tagStart >= 0) throw new Decline();
  if (ev.valueStart < 0) {
    // An empty value: null, where the full reader puts it.
    if (parent === undefined || parent.flow || ev.anchorStart >= 0) throw new Decline();
    const start = emptyStart(text, from, parent.node.kind === 'map' ? ':' : '-');
    return { kind: 'scalar', start, value: null, style: 'PLAIN', source: '' };
  }
  const style = STYLES[ev.style];
  if (style === undefined) throw new Decline();
  const source = getScalarValue(text, ev);
  switch (style) {
    case 'PLAIN':
      // `:x` and `?x` begin plain scalars the full reader reads as keys.
      if (text[ev.valueStart] === ':' || text[ev.valueStart] === '?') throw new Decline();
      return { kind: 'scalar', start: ev.valueStart, value: resolvePlain(source), style, source };
    case 'QUOTE_DOUBLE':
    case 'QUOTE_SINGLE':
      return { kind: 'scalar', start: ev.valueStart - 1, value: source, style, source };
    default: {
      const start = headerStart(text, from);
      // An indentation indicator (`|2`) is counted from a different place by each reader.
      if (INDENT_INDICATOR.test(text.slice(start, start + 3))) throw new Decline();
      // Through the next line with something on it: the lines a block scalar's indentation rules judge.
      let end = skipBlank(text, ev.valueEnd);
      end = end >= text.length ? text.length : text.indexOf('\n', end);
      if (BLANK_LINE.test(text.slice(start, end < 0 ? text.length : end))) throw new Decline();
      return { kind: 'scalar', start, value: source, style, source };
    }
  }
}
