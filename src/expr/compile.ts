// Compiling a CEL expression from the config: parse, validate what CEL alone would allow (unknown
// functions, flag() names, request data in weights), type-check once, and record what
// specialize.ts needs. Every error is a CONFIG_EXPR FlagmanError at the offending character.

import type { ASTNode, ParseResult } from '@marcbachmann/cel-js';
import type { ExprSource, Mode, Position } from '../config/schema.js';
import { FlagmanError } from '../errors.js';
import type { Place } from '../errors.js';
import { FLAG_NAME } from '../flags/snapshot.js';
import { FLAGMAN_PARSE_ERROR, KNOWN_FUNCTIONS, REQUEST_FUNCTIONS, REQUEST_VARIABLES, env, literalString } from './environment.js';
import { childrenOf, walk } from './tree.js';

/**
/**
 * What an expression is for: a rule's `when` (bool); a server's `weight` or `maxconn`, or a rate
 * limit's `rate` (int, flags only: recomputed when a flag changes, never per request); a rate
 * limit's `by` (string: the key a request is counted under).
 */
export type ExprKind = 'condition' | 'weight' | 'maxconn' | 'rate' | 'key';

/** A parsed, validated and type-checked expression, ready to be specialized for a flag snapshot. */
export interface CompiledExpr {
  readonly kind: ExprKind;
  readonly source: ExprSource;
  /** The flag names it reads, in order of first use, without repeats. */
  readonly flags: readonly string[];
  /** The checked AST (for specialize.ts; cel-js annotates it in place). */
  readonly ast: ASTNode;
  /** Nodes whose value can differ per request: they read `request`/`client`, header() or cookie(). */
  readonly perRequest: ReadonlySet<ASTNode>;
  /** The whole expression, checked once; used only when a residual cannot be built (specialize.ts). */
  readonly evaluate: ParseResult;
}

/** A compiled rule condition. */
export interface CompiledCondition extends CompiledExpr {
  readonly kind: 'condition';
}

/** A compiled server weight. */
export interface CompiledWeight extends CompiledExpr {
  readonly kind: 'weight';
}

/** A compiled server maxconn. */
export interface CompiledMaxconn extends CompiledExpr {
  readonly kind: 'maxconn';
}

/** A compiled rate (requests a second) of a rate limit. */
export interface CompiledRate extends CompiledExpr {
  readonly kind: 'rate';
}

/** A compiled rate-limit key (`by`). */
export interface CompiledKey extends CompiledExpr {
  readonly kind: 'key';
}

const RESULT_TYPE = { condition: 'bool', weight: 'int', maxconn: 'int', rate: 'int', key: 'string' } as const satisfies Record<
  ExprKind,
  string
>;

// What is said of an expression of the wrong type.
const MUST_BE = {
  condition: 'a rule condition must be bool',
  weight: 'a weight must be an int',
  maxconn: 'a maxconn must be an int',
  rate: 'a rate must be an int',
  key: 'a rate-limit key (by) must be a string',
} as const satisfies Record<ExprKind, string>;

// Kinds computed once per flag snapshot, never per request: how messages name them.
const FLAGS_ONLY: Partial<Record<ExprKind, readonly [string, string]>> = {
  weight: ['a weight', 'weights are'],
  maxconn: ['a maxconn', 'a maxconn is'],
  rate: ['a rate', 'rates are'],
};

/**
 * Compiles a rule condition (`when`); it must type-check to bool. A tcp frontend's rules see a
 * connection, not a request: only client.ip, flag() and cidr(). Throws FlagmanError CONFIG_EXPR.
 */
export function compileCondition(src: ExprSource, mode: Mode = 'http'): CompiledCondition {
  return compile(src, 'condition', mode) as CompiledCondition;
}

/** Compiles a server weight; it must type-check to int and use flag() and constants only. */
export function compileWeight(src: ExprSource): CompiledWeight {
  return compile(src, 'weight') as CompiledWeight;
}

/** Compiles a server maxconn; as a weight, it must type-check to int and use flag() and constants only. */
export function compileMaxconn(src: ExprSource): CompiledMaxconn {
  return compile(src, 'maxconn') as CompiledMaxconn;
}

/** Compiles a rate limit's rate; it must type-check to int and use flag() and constants only. */
export function compileRate(src: ExprSource): CompiledRate {
  return compile(src, 'rate') as CompiledRate;
}

/** Compiles a rate limit's key (`by`); it must type-check to string and may read the request. */
export function compileKey(src: ExprSource): CompiledKey {
  return compile(src, 'key') as CompiledKey;
}

/**
 * The config position of character `offset` of the expression. Exact on one line; on later lines
 * of a literal block scalar (`when: |`) every line shares the first line's indentation, so the
 * column is exact there too. Quoted or folded multi-line scalars reflow the text: approximate.
 */
export function placeOf(at: Position, source: string, offset: number | undefined): Place {
  if (offset === undefined || offset < 0 || offset > source.length) return { ...at };
  const before = source.slice(0, offset);
  const nl = before.lastIndexOf('\n');
  if (nl < 0) return { file: at.file, line: at.line, col: at.col + offset };
  let lines = 0;
  for (let i = 0; i < before.length; i++) if (before.charCodeAt(i) === 10) lines++;
  return { file: at.file, line: at.line + lines, col: at.col + (offset - nl - 1) };
}

function fail(src: ExprSource, reason: string, offset: number | undefined, cause?: unknown): never {
  const place = placeOf(src.at, src.source, offset);
  throw new FlagmanError('CONFIG_EXPR', reason, place, cause === undefined ? undefined : { cause });
}

/** cel-js errors carry `range.start` (an offset into the source) and `summary` (no code frame). */
function celFailure(src: ExprSource, error: unknown, what: string): never {
  const e = error as { summary?: unknown; range?: { start?: unknown } } | null;
  const summary = typeof e?.summary === 'string' ? e.summary : String(error);
  const start = typeof e?.range?.start === 'number' ? e.range.start : undefined;
  // Our own cidr() macro reports through cel's ParseError; its message needs no "syntax error".
  const own = (error as { code?: unknown } | null)?.code === FLAGMAN_PARSE_ERROR;
  return fail(src, own ? summary : `${what}: ${summary}`, start, error);
}

// A reload compiles every expression of the config again, and most are unchanged (a weight edited,
// a server added): parsing and type-checking them again was most of a reload's compile time on the
// realistic config. A compiled expression depends on its text, kind, mode and place alone, and is
// frozen, so the same four give back the same object, which also keeps the residuals specialize.ts
// memoizes for it. Bounded: the COMPILED_KEPT used last are kept.
const COMPILED_KEPT = 4096;
const compiled = new Map<string, CompiledExpr>();

function compile(src: ExprSource, kind: ExprKind, mode: Mode = 'http'): CompiledExpr {
  const key = `${kind}\0${mode}\0${src.at.file}\0${src.at.line}\0${src.at.col}\0${src.source}`;
  const hit = compiled.get(key);
  if (hit !== undefined) {
    compiled.delete(key);
    compiled.set(key, hit);
    return hit;
  }
  const made = compileAfresh(src, kind, mode);
  if (compiled.size >= COMPILED_KEPT) compiled.delete(compiled.keys().next().value as string);
  compiled.set(key, made);
  return made;
}

function compileAfresh(src: ExprSource, kind: ExprKind, mode: Mode): CompiledExpr {
  let parsed: ParseResult;
  try {
    parsed = env.parse(src.source);
  } catch (error) {
    celFailure(src, error, 'syntax error');
  }
  const flags = validate(src, kind, parsed.ast, mode);
  const checked = parsed.check();
  if (!checked.valid) celFailure(src, checked.error, 'type error');
  const want = RESULT_TYPE[kind];
  if (checked.type !== want) fail(src, `${MUST_BE[kind]}, but this expression is ${checked.type ?? 'of unknown type'}`, 0);
  return Object.freeze({
    kind,
    source: src,
    flags: Object.freeze(flags),
    ast: parsed.ast,
    perRequest: perRequestNodes(parsed.ast),
    evaluate: parsed,
  });
}

// What a tcp frontend's rules may not read: there is a connection, but no HTTP request.
const TCP_NO_REQUEST = 'a tcp frontend has no HTTP request: its rules may use client.ip, flag() and cidr() only';

/** Checks function names, flag() arguments and (for weights) request data; returns the flag names. */
function validate(src: ExprSource, kind: ExprKind, ast: ASTNode, mode: Mode): string[] {
  const flags: string[] = [];
  const flagsOnly = FLAGS_ONLY[kind];
  walk(ast, (node) => {
    if (mode === 'tcp' && node.op === 'id' && node.args === 'request') fail(src, `${TCP_NO_REQUEST}, not 'request'`, node.start);
    if (mode === 'tcp' && node.op === 'call' && REQUEST_FUNCTIONS.has(node.args[0]))
      fail(src, `${TCP_NO_REQUEST}, not ${node.args[0]}()`, node.start);
    if (node.op === 'id' && flagsOnly !== undefined && REQUEST_VARIABLES.has(node.args)) {
      fail(
        src,
        `${flagsOnly[0]} may use flag() and constants only, not '${node.args}': ` +
          `${flagsOnly[1]} recomputed when a flag changes, never per request`,
        node.start,
      );
    }
    if (node.op === 'rcall' && !KNOWN_FUNCTIONS.method.has(node.args[0])) {
      // An rcall node starts at its receiver; point at the method name instead.
      const name = src.source.indexOf(node.args[0], node.args[1].end);
      fail(src, `unknown method '${node.args[0]}()'`, name < 0 ? node.start : name);
    }
    if (node.op !== 'call') return;
    const [name, args] = node.args;
    if (!KNOWN_FUNCTIONS.global.has(name)) fail(src, `unknown function '${name}()'`, node.start);
    if (flagsOnly !== undefined && (REQUEST_FUNCTIONS.has(name) || name === 'cidr')) {
      fail(
        src,
        `${flagsOnly[0]} may use flag() and constants only, not ${name}(): ` +
          `${flagsOnly[1]} recomputed when a flag changes, never per request`,
        node.start,
      );
    }
    if (name !== 'flag') return;
    const arg = args[0];
    const flag = literalString(arg);
    if (flag === undefined) {
      fail(src, 'flag() needs the flag name as a string literal, like flag("MAINT")', arg?.start ?? node.start);
    }
    if (!FLAG_NAME.test(flag)) {
      fail(src, `flag("${flag}"): not a valid flag name (${FLAG_NAME.source})`, arg?.start);
    }
    if (!flags.includes(flag)) flags.push(flag);
  });
  return flags;
}

/** The nodes that read per-request data, directly or below them. */
function perRequestNodes(ast: ASTNode): ReadonlySet<ASTNode> {
  const marked = new Set<ASTNode>();
  const visit = (node: ASTNode): boolean => {
    let dynamic = (node.op === 'id' && REQUEST_VARIABLES.has(node.args)) || (node.op === 'call' && REQUEST_FUNCTIONS.has(node.args[0]));
    for (const child of childrenOf(node)) if (visit(child)) dynamic = true;
    if (dynamic) marked.add(node);
    return dynamic;
  };
  visit(ast);
  return marked;
}
