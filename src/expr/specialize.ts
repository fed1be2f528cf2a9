// Specialization: when the flag snapshot changes, every flag() call is replaced by its current
// value, whatever became constant is folded, and only the request-dependent residual is parsed
// (and type-checked) again, once. The request path then runs just that residual, or nothing at all
// when it folded to a constant (docs/expressions.md; docs/design/conventions.md). The residual
// answers exactly as cel-js evaluating the whole expression would, errors included: folding keeps
// CEL's evaluation order and the checker's types (test/fuzz/rules.js holds it to that).
//
// Run-time failures. A condition whose evaluation throws (int overflow, division by zero, a value
// of the wrong type behind dyn()) does not match: the request goes on to the next rule, never
// crashes. Each such failure increments `evaluationFailures()`, one count for the process, and is
// passed to the optional `onError` given to specialize(). The runtime passes no `onError` and
// exports no such count: a failing evaluation shows in neither /metrics nor the logs; the tests read
// both to tell a failure from a plain non-match. A condition that throws for every request (no
// request data involved) is folded to constant false with a `problem` instead.
//
// Weights. A weight is an integer 0–256. A value outside that range is clamped to it, and a weight
// that fails to evaluate (e.g. `100 / flag("X")` with X unset) gets the default weight 1; both come
// with a `problem` string for the caller to show in status and logs.
//
// A maxconn follows the same rules with its own range and default: 0–MAX_MAXCONN, and 0 (no limit)
// when it fails. A negative value from a flag is clamped to 0, no limit: the default, what the server
// had before any maxconn, rather than a guess at what the writer meant.
//
// Rate limits (docs/proxying.md, "Limits and the queue"). A rate is an integer 1–MAX_RATE, clamped
// likewise; a rate that fails to evaluate limits nothing (null), with a `problem`: a typo in a flag
// must not throttle every client to one request a second. A key (`by`) is a string; one that fails
// for a request counts that request under the key "", and one that fails for every request puts
// them all there.

import type { ASTNode } from '@marcbachmann/cel-js';
import type { FlagSnapshot } from '../flags/snapshot.js';
import { MAX_MAXCONN, MAX_RATE, MAX_WEIGHT } from '../config/schema.js';
import type { CompiledCondition, CompiledExpr, CompiledKey, CompiledMaxconn, CompiledRate, CompiledWeight } from './compile.js';
import { directTest, directText } from './direct.js';
import { env, literalString, withFlags } from './environment.js';
import type { RequestInput } from './request.js';
import { withRequest } from './request.js';
import { toSource } from './source.js';
import { checkedType, makeNode, mapChildren, valueNode, walk } from './tree.js';

/** A condition for one flag snapshot: a constant, or the request-dependent part left to test. */
export type ConditionResidual =
  | { readonly kind: 'const'; readonly value: boolean; readonly source: string; readonly problem: string | null }
  | {
      readonly kind: 'dynamic';
      /** The residual as CEL source, e.g. for /explain. */
      readonly source: string;
      /** Whether the request matches; false (and counted) when the evaluation throws. */
      test(input: RequestInput): boolean;
      /** Run as a closure (direct.ts) rather than by cel-js. */
      readonly direct: boolean;
      readonly problem: string | null;
    };

/** A weight (0–256) or a maxconn (0–MAX_MAXCONN) for one flag snapshot: always a constant integer. */
export interface NumberResidual {
  readonly kind: 'const';
  readonly value: number;
  readonly source: string;
  /** Why the value is not what the expression gave (out of range, failed); null when it is. */
  readonly problem: string | null;
}

/** A rate for one flag snapshot: requests a second, or null when it could not be computed (no limit). */
export interface RateResidual {
  readonly kind: 'const';
  readonly value: number | null;
  readonly source: string;
  readonly problem: string | null;
}

/** A rate-limit key for one flag snapshot: a constant, or the request-dependent part left to compute. */
export type KeyResidual =
  | { readonly kind: 'const'; readonly value: string; readonly source: string; readonly problem: string | null }
  | {
      readonly kind: 'dynamic';
      readonly source: string;
      /** The key of a request; "" when the evaluation throws or gives no string. */
      key(input: RequestInput): string;
      /** Run as a closure (direct.ts) rather than by cel-js. */
      readonly direct: boolean;
      readonly problem: string | null;
    };

/** What specialize() returns. */
export type Residual = ConditionResidual | NumberResidual | RateResidual | KeyResidual;

/** Called when a condition throws at run time; it must not throw (it is guarded anyway). */
export type EvaluationErrorHandler = (error: unknown, compiled: CompiledCondition) => void;

/** The weight of a server that gives none, and of one whose weight expression fails. */
export const DEFAULT_WEIGHT = 1;

let failures = 0;

/** How many condition evaluations have thrown (and so counted as not matching) since start. */
export function evaluationFailures(): number {
  return failures;
}

/** Specializes a compiled expression for `snapshot`. Never throws: problems come back in `problem`. */
export function specialize(compiled: CompiledCondition, snapshot: FlagSnapshot, onError?: EvaluationErrorHandler): ConditionResidual;
export function specialize(compiled: CompiledWeight | CompiledMaxconn, snapshot: FlagSnapshot): NumberResidual;
export function specialize(compiled: CompiledExpr, snapshot: FlagSnapshot, onError?: EvaluationErrorHandler): Residual;
export function specialize(compiled: CompiledExpr, snapshot: FlagSnapshot, onError?: EvaluationErrorHandler): Residual {
  if (compiled.kind === 'condition') {
    const condition = compiled as CompiledCondition;
    // A residual made for a handler reports to it: kept apart from the shared ones.
    if (onError !== undefined) return specializeCondition(condition, snapshot, onError);
    return memoized(condition, snapshot, () => specializeCondition(condition, snapshot, undefined));
  }
  if (compiled.kind === 'rate') return specializeRate(compiled as CompiledRate, snapshot);
  if (compiled.kind === 'key') return specializeKey(compiled as CompiledKey, snapshot);
  return specializeNumber(compiled, NUMBER_RULES[compiled.kind], snapshot);
}

// Folding a condition or a key parses and type-checks its residual again: most of what a flag
// change costs (about 0.8 ms of the realistic bench config's 5 rules; bench/RESULTS.md, "A flag
// change"). A residual depends only on the values of the flags its expression names — a flag()
// left in it, for a default (substitute()), reads those alone — so it is kept per expression for
// the last MEMO_SIZE combinations of them: a weight flag flipping 1 <-> 3 leaves every rule's
// residual as it was, and MAINT going 0 -> 1 -> 0 finds its earlier one. Residuals are frozen and
// keep no state of their own (the failure count is the module's).
const MEMO_SIZE = 8;
const memo = new WeakMap<CompiledExpr, Map<string, ConditionResidual | KeyResidual>>();

function memoized<R extends ConditionResidual | KeyResidual>(compiled: CompiledExpr, snapshot: FlagSnapshot, make: () => R): R {
  let key = '';
  for (const name of compiled.flags) key += `${snapshot.flags.get(name)?.value ?? '-'},`;
  let made = memo.get(compiled);
  if (made === undefined) {
    made = new Map();
    memo.set(compiled, made);
  }
  const hit = made.get(key);
  if (hit !== undefined) return hit as R;
  const residual = make();
  if (made.size >= MEMO_SIZE) made.delete(made.keys().next().value as string);
  made.set(key, residual);
  return residual;
}

/** The range of a server's number expression, the value it gets when it fails, and what 0 means. */
const NUMBER_RULES = {
  weight: { name: 'weight', max: MAX_WEIGHT, fallback: DEFAULT_WEIGHT, zero: '' },
  maxconn: { name: 'maxconn', max: MAX_MAXCONN, fallback: 0, zero: ' (no limit)' },
} as const;

function specializeNumber(
  compiled: CompiledExpr,
  rule: (typeof NUMBER_RULES)[keyof typeof NUMBER_RULES],
  snapshot: FlagSnapshot,
): NumberResidual {
  const { name, max, fallback } = rule;
  const using = (n: number): string => `using ${n}${n === 0 ? rule.zero : ''}`;
  const value = evaluateInt(compiled, snapshot);
  if (typeof value === 'string') return number(fallback, `the ${name} could not be computed (${value}): ${using(fallback)}`);
  if (value < 0n) return number(0, `the ${name} is ${value}, below 0: ${using(0)}`);
  if (value > BigInt(max)) return number(max, `the ${name} is ${value}, above ${max}: ${using(max)}`);
  return number(Number(value), null);
}

/** Specializes a rate limit's rate for `snapshot`: 1–MAX_RATE, or null when it fails. Never throws. */
export function specializeRate(compiled: CompiledRate, snapshot: FlagSnapshot): RateResidual {
  const value = evaluateInt(compiled, snapshot);
  const rate = (v: number | null, problem: string | null): RateResidual =>
    Object.freeze({ kind: 'const', value: v, source: String(v), problem });
  if (typeof value === 'string') return rate(null, `the rate could not be computed (${value}): requests are not limited`);
  if (value < 1n) return rate(1, `the rate is ${value}, below 1: using 1`);
  if (value > BigInt(MAX_RATE)) return rate(MAX_RATE, `the rate is ${value}, above ${MAX_RATE}: using ${MAX_RATE}`);
  return rate(Number(value), null);
}

// A flags-only int (a weight, a maxconn, a rate) reads no request data, so evaluating it whole with
// flag() bound to the snapshot is the same as substituting and folding — and it sidesteps
// re-serializing anything. A string: why it failed.
function evaluateInt(compiled: CompiledExpr, snapshot: FlagSnapshot): bigint | string {
  let raw: unknown;
  try {
    raw = withFlags(snapshot, () => compiled.evaluate());
  } catch (error) {
    return summary(error);
  }
  return typeof raw === 'bigint' ? raw : 0n;
}

function number(value: number, problem: string | null): NumberResidual {
  return Object.freeze({ kind: 'const', value, source: String(value), problem });
}

function summary(error: unknown): string {
  const s = (error as { summary?: unknown } | null)?.summary;
  return typeof s === 'string' ? s : error instanceof Error ? error.message : String(error);
}

/** What is left of an expression once `snapshot` is folded into it. */
type Folded =
  | { readonly kind: 'literal'; readonly value: unknown }
  /** Reads no request data and is still not constant: evaluating it threw, and would for every request. */
  | { readonly kind: 'failing'; readonly why: string }
  | {
      readonly kind: 'residual';
      readonly source: string;
      readonly run: (context: object) => unknown;
      /** The checked residual's tree, for a closure (direct.ts); null when it is evaluated whole or reads flag(). */
      readonly ast: ASTNode | null;
      readonly problem: string | null;
    };

// `noun`: what the expression is, in a problem (`the condition could not be specialized`).
function foldFor(compiled: CompiledExpr, snapshot: FlagSnapshot, noun: string): Folded {
  try {
    const folded = unwrapDyn(fold(compiled.ast, compiled.perRequest, snapshot));
    if (folded.op === 'value') return { kind: 'literal', value: folded.args };
    const source = toSource(folded);
    if (!compiled.perRequest.has(compiled.ast)) return { kind: 'failing', why: summary(tryEvaluate(source, snapshot)) };
    const parsed = env.parse(source);
    const checked = parsed.check();
    if (!checked.valid) throw checked.error;
    // A flag() call is left only where its default has to be evaluated (substitute()): rare, so
    // only that residual pays for binding the snapshot.
    const run = readsFlags(folded) ? (context: object) => withFlags(snapshot, () => parsed(context)) : parsed;
    return { kind: 'residual', source, run, ast: run === parsed ? parsed.ast : null, problem: null };
  } catch (error) {
    // Not expected: the residual is the checked expression with literals put in. Should it still
    // not parse or check (a cel-js corner source.ts does not know), evaluate the whole expression
    // with flag() bound to this snapshot instead: slower, still correct, and `problem` says so.
    const whole = compiled.evaluate;
    const problem = `the ${noun} could not be specialized (${summary(error)}); it is evaluated whole`;
    return {
      kind: 'residual',
      source: compiled.source.source,
      run: (context) => withFlags(snapshot, () => whole(context)),
      ast: null,
      problem,
    };
  }
}

function specializeCondition(
  compiled: CompiledCondition,
  snapshot: FlagSnapshot,
  onError: EvaluationErrorHandler | undefined,
): ConditionResidual {
  const folded = foldFor(compiled, snapshot, 'condition');
  if (folded.kind === 'literal' && typeof folded.value === 'boolean') {
    return Object.freeze({ kind: 'const', value: folded.value, source: String(folded.value), problem: null });
  }
  if (folded.kind !== 'residual') {
    const why = folded.kind === 'failing' ? folded.why : 'it is not a bool';
    return Object.freeze({ kind: 'const', value: false, source: 'false', problem: `the condition fails: ${why}; it never matches` });
  }
  const evaluate = folded.run;
  // The checked residual as a closure when it is made of string tests only (direct.ts): the
  // common rule, run per request without cel-js.
  const closure = folded.ast === null ? null : directTest(folded.ast);
  const fail = (error: unknown): false => {
    failures++;
    try {
      onError?.(error, compiled);
    } catch {
      // A faulty handler must not turn a failed rule into a failed request.
    }
    return false;
  };
  return Object.freeze({
    kind: 'dynamic',
    source: folded.source,
    problem: folded.problem,
    direct: closure !== null,
    // Uses no `this`: the runtime keeps `residual.test` detached from the residual.
    test(input: RequestInput): boolean {
      let result: unknown;
      try {
        // A closure cannot throw (direct.ts); it is guarded all the same.
        result = closure !== null ? closure(input) : withRequest(input, evaluate);
      } catch (error) {
        return fail(error);
      }
      return result === true || (result !== false && fail(new TypeError(`the condition gave ${typeof result}, not bool`)));
    },
  });
}

/** Specializes a rate-limit key (`by`) for `snapshot`. Never throws: problems come back in `problem`. */
export function specializeKey(compiled: CompiledKey, snapshot: FlagSnapshot): KeyResidual {
  return memoized(compiled, snapshot, () => foldKey(compiled, snapshot));
}

function foldKey(compiled: CompiledKey, snapshot: FlagSnapshot): KeyResidual {
  const folded = foldFor(compiled, snapshot, 'key');
  if (folded.kind === 'literal') {
    const value = typeof folded.value === 'string' ? folded.value : '';
    return Object.freeze({ kind: 'const', value, source: JSON.stringify(value), problem: null });
  }
  if (folded.kind === 'failing') {
    return Object.freeze({
      kind: 'const',
      value: '',
      source: '""',
      problem: `the key fails: ${folded.why}; every request is counted under one key`,
    });
  }
  const evaluate = folded.run;
  // `client.ip`, `header("X-Api-Key")`: a closure, without cel-js (direct.ts).
  const closure = folded.ast === null ? null : directText(folded.ast);
  return Object.freeze({
    kind: 'dynamic',
    source: folded.source,
    problem: folded.problem,
    direct: closure !== null,
    key(input: RequestInput): string {
      try {
        const v = closure !== null ? closure(input) : withRequest(input, evaluate);
        return typeof v === 'string' ? v : '';
      } catch {
        return '';
      }
    },
  });
}

function readsFlags(node: ASTNode): boolean {
  let found = false;
  walk(node, (n) => {
    if (n.op === 'call' && n.args[0] === 'flag') found = true;
  });
  return found;
}

function tryEvaluate(source: string, snapshot: FlagSnapshot): unknown {
  try {
    withFlags(snapshot, () => env.evaluate(source));
    return new Error('it is not constant');
  } catch (error) {
    return error;
  }
}

/**
 * `node` with every flag() call replaced by its value in `snapshot` (or its default). cel-js
 * evaluates a call's arguments first, so `flag("X", default)` fails when its default does, set or
 * not: a set flag whose default is not a literal keeps its call, and constant() (or the residual,
 * with flag() bound to the snapshot) evaluates it as cel-js would.
 */
function substitute(node: ASTNode, snapshot: FlagSnapshot): ASTNode {
  if (node.op === 'call' && node.args[0] === 'flag') {
    const [nameArg, fallback] = node.args[1];
    const value = snapshot.flags.get(literalString(nameArg) ?? '')?.value ?? null;
    if (fallback === undefined) return valueNode(BigInt(value ?? 0));
    return flagWithDefault(node, substitute(fallback, snapshot), snapshot);
  }
  return mapChildren(node, (child) => substitute(child, snapshot));
}

/**
 * Evaluates a request-independent subtree to a literal; keeps it as it is when it throws or is not
 * a scalar. `original`: the checked node it was made from; a literal stands for a `dyn` one as
 * `dyn(literal)`, or the residual would no longer type-check where the `dyn` was what let it.
 */
function constant(node: ASTNode, original: ASTNode, snapshot: FlagSnapshot): ASTNode {
  if (node.op === 'value') return node;
  let v: unknown;
  try {
    // flag() is bound for a call substitute() kept (a set flag with a default to evaluate).
    v = withFlags(snapshot, () => env.evaluate(toSource(node)));
  } catch {
    // Either a run-time error (kept, so it happens where CEL semantics say) or a free comprehension
    // variable; the enclosing comprehension folds as a whole.
    return node;
  }
  let literal: ASTNode;
  if (typeof v === 'boolean' || typeof v === 'bigint' || typeof v === 'string') literal = valueNode(v);
  else if (typeof v === 'number' && Number.isFinite(v)) literal = valueNode(v);
  else return node; // lists, maps, CIDR blocks…: toSource() cannot write them back as literals
  return checkedType(original) === 'dyn' ? makeNode('call', ['dyn', [literal]]) : literal;
}

/**
 * A `flag(name, default)` call whose default is folded (`folded`, by substitute() or fold()). Set:
 * the flag's value, once the default is a literal (it cannot fail); else the call stays, for
 * constant() or the residual to evaluate with flag() bound to the snapshot. Unset: the default,
 * where the checker typed it int; else (`[][0]` is a type parameter) the call stays too: where
 * the residual stands, the call's int was what let it check.
 */
function flagWithDefault(call: ASTNode, folded: ASTNode, snapshot: FlagSnapshot): ASTNode {
  const [nameArg, fallback] = (call.args as [string, ASTNode[]])[1] as [ASTNode, ASTNode];
  const value = snapshot.flags.get(literalString(nameArg) ?? '')?.value ?? null;
  if (value !== null && unwrapDyn(folded).op === 'value') return valueNode(BigInt(value));
  if (value === null && (folded.op === 'value' || checkedType(fallback) === 'int')) return folded;
  return makeNode('call', ['flag', [nameArg, folded]]);
}

/** The literal under a `dyn(literal)` that constant() wrote, or `node` itself. */
function unwrapDyn(node: ASTNode): ASTNode {
  if (node.op !== 'call' || node.args[0] !== 'dyn') return node;
  const arg = node.args[1][0];
  return arg?.op === 'value' ? arg : node;
}

function isBool(node: ASTNode, value?: boolean): boolean {
  const v = unwrapDyn(node);
  return v.op === 'value' && typeof v.args === 'boolean' && (value === undefined || v.args === value);
}

/** Substitutes flags and folds constants; request-dependent nodes are rebuilt around folded children. */
function fold(node: ASTNode, perRequest: ReadonlySet<ASTNode>, snapshot: FlagSnapshot): ASTNode {
  if (!perRequest.has(node)) return constant(substitute(node, snapshot), node, snapshot);
  const f = (child: ASTNode): ASTNode => fold(child, perRequest, snapshot);
  switch (node.op) {
    case '&&':
    case '||': {
      // CEL's && and || are commutative even for errors: `x && false` is false whatever x does.
      const decides = node.op === '||';
      const left = f(node.args[0]);
      const right = f(node.args[1]);
      if (isBool(left, decides) || isBool(right, decides)) return valueNode(decides);
      // `false || x` is x only when x is a bool: cel-js fails `false || "a"`, and so must the
      // residual, even where the checker let a non-bool through (dyn()).
      if (isBool(left, !decides) && checkedType(node.args[1]) === 'bool') return right;
      if (isBool(right, !decides) && checkedType(node.args[0]) === 'bool') return left;
      return makeNode(node.op, [left, right]);
    }
    case '!_': {
      const arg = f(node.args);
      return isBool(arg) ? valueNode(!unwrapDyn(arg).args) : makeNode('!_', arg);
    }
    case '?:': {
      const cond = f(node.args[0]);
      // A constant condition picks its branch, unless the checker typed that branch otherwise than
      // the ternary (`c ? [][0] : size(x)` is an int, `[][0]` alone a type parameter): where the
      // residual stands, the ternary's type is what let it check.
      const chosen = isBool(cond, true) ? node.args[1] : isBool(cond, false) ? node.args[2] : null;
      if (chosen !== null && checkedType(chosen) === checkedType(node)) return f(chosen);
      return makeNode('?:', [cond, f(node.args[1]), f(node.args[2])]);
    }
    case 'call': {
      const arg = node.args[1][0];
      // A default that reads the request: when the flag is set, the residual still evaluates it
      // (cel-js's order), then gives the flag.
      if (node.args[0] === 'flag' && node.args[1][1] !== undefined) return flagWithDefault(node, f(node.args[1][1]), snapshot);
      if (node.args[0] === 'header' && arg !== undefined) {
        // Node lowercases header names, so a lowercase literal is found on the first lookup.
        const name = f(arg);
        const text = literalString(name);
        return makeNode('call', ['header', [text === undefined ? name : valueNode(text.toLowerCase())]]);
      }
      return mapChildren(node, f);
    }
    default:
      return mapChildren(node, f);
  }
}
