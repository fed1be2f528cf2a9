// Specialization: when the flag snapshot changes, every flag() call is replaced by its current
// value, whatever became constant is folded, and only the request-dependent residual is parsed
// (and type-checked) again, once. The request path then runs just that residual, or nothing at all
// when it folded to a constant (docs/expressions.md; docs/design/conventions.md).
//
// Run-time failures. A condition whose evaluation throws (int overflow, division by zero, a value
// of the wrong type behind dyn()) does not match: the request goes on to the next rule, never
// crashes. Each such failure increments `evaluationFailures()` and is passed to the optional
// `onError` given to specialize(), for per-rule metrics and logs. A condition that throws for every
// request (no request data involved) is folded to constant false with a `problem` instead.
//
// Weights. A weight is an integer 0–256. A value outside that range is clamped to it, and a weight
// that fails to evaluate (e.g. `100 / flag("X")` with X unset) gets the default weight 1; both come
// with a `problem` string for the caller to show in status and logs.
//
// A maxconn follows the same rules with its own range and default: 0–MAX_MAXCONN, and 0 (no limit)
// when it fails. A negative value from a flag is clamped to 0, no limit: the default, what the server
// had before any maxconn, rather than a guess at what the writer meant.

import type { ASTNode } from '@marcbachmann/cel-js';
import type { FlagSnapshot } from '../flags/snapshot.js';
import { MAX_MAXCONN } from '../config/schema.js';
import type { CompiledCondition, CompiledExpr, CompiledMaxconn, CompiledWeight } from './compile.js';
import { directTest } from './direct.js';
import { env, literalString, withFlags } from './environment.js';
import type { RequestInput } from './request.js';
import { withRequest } from './request.js';
import { toSource } from './source.js';
import { makeNode, mapChildren, valueNode } from './tree.js';

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

/** A weight for one flag snapshot: always a constant integer 0–256. */
export type WeightResidual = NumberResidual;

/** What specialize() returns. */
export type Residual = ConditionResidual | NumberResidual;

/** Called when a condition throws at run time; it must not throw (it is guarded anyway). */
export type EvaluationErrorHandler = (error: unknown, compiled: CompiledCondition) => void;

/** The largest weight (docs/configuration.md); larger values are clamped to it. */
export const MAX_WEIGHT = 256;
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
  if (compiled.kind === 'condition') return specializeCondition(compiled as CompiledCondition, snapshot, onError);
  return specializeNumber(compiled, NUMBER_RULES[compiled.kind], snapshot);
}

/** The range of a server's number expression, the value it gets when it fails, and what 0 means. */
const NUMBER_RULES = {
  weight: { name: 'weight', max: MAX_WEIGHT, fallback: DEFAULT_WEIGHT, zero: '' },
  maxconn: { name: 'maxconn', max: MAX_MAXCONN, fallback: 0, zero: ' (no limit)' },
} as const;

function specializeNumber(compiled: CompiledExpr, rule: (typeof NUMBER_RULES)[keyof typeof NUMBER_RULES], snapshot: FlagSnapshot): NumberResidual {
  // A weight or a maxconn reads no request data, so evaluating it whole with flag() bound to the
  // snapshot is the same as substituting and folding — and it sidesteps re-serializing anything.
  const { name, max, fallback } = rule;
  const using = (n: number): string => `using ${n}${n === 0 ? rule.zero : ''}`;
  let raw: unknown;
  try {
    raw = withFlags(snapshot, () => compiled.evaluate());
  } catch (error) {
    return number(fallback, `the ${name} could not be computed (${summary(error)}): ${using(fallback)}`);
  }
  const value = typeof raw === 'bigint' ? raw : 0n;
  if (value < 0n) return number(0, `the ${name} is ${value}, below 0: ${using(0)}`);
  if (value > BigInt(max)) return number(max, `the ${name} is ${value}, above ${max}: ${using(max)}`);
  return number(Number(value), null);
}

function number(value: number, problem: string | null): NumberResidual {
  return Object.freeze({ kind: 'const', value, source: String(value), problem });
}

function summary(error: unknown): string {
  const s = (error as { summary?: unknown } | null)?.summary;
  return typeof s === 'string' ? s : error instanceof Error ? error.message : String(error);
}

function specializeCondition(
  compiled: CompiledCondition,
  snapshot: FlagSnapshot,
  onError: EvaluationErrorHandler | undefined,
): ConditionResidual {
  let source: string;
  let run: (context: object) => unknown;
  let problem: string | null = null;
  let direct: ((input: RequestInput) => boolean) | null = null;
  try {
    const folded = fold(compiled.ast, compiled.perRequest, snapshot);
    if (folded.op === 'value' && typeof folded.args === 'boolean') {
      return Object.freeze({ kind: 'const', value: folded.args, source: String(folded.args), problem: null });
    }
    source = toSource(folded);
    if (!compiled.perRequest.has(compiled.ast)) {
      // No request data and still not constant: evaluating it threw, and would for every request.
      const why = summary(tryEvaluate(source));
      return Object.freeze({ kind: 'const', value: false, source: 'false', problem: `the condition fails: ${why}; it never matches` });
    }
    const parsed = env.parse(source);
    const checked = parsed.check();
    if (!checked.valid) throw checked.error;
    run = parsed;
    // The checked residual as a closure when it is made of string tests only (direct.ts): the
    // common rule, run per request without cel-js.
    direct = directTest(parsed.ast);
  } catch (error) {
    // Not expected: the residual is the checked expression with literals put in. Should it still
    // not parse or check (a cel-js corner source.ts does not know), evaluate the whole expression
    // with flag() bound to this snapshot instead: slower, still correct, and `problem` says so.
    problem = `the condition could not be specialized (${summary(error)}); it is evaluated whole`;
    source = compiled.source.source;
    const whole = compiled.evaluate;
    run = (context) => withFlags(snapshot, () => whole(context));
  }
  const evaluate = run;
  const fail = (error: unknown): false => {
    failures++;
    try {
      onError?.(error, compiled);
    } catch {
      // A faulty handler must not turn a failed rule into a failed request.
    }
    return false;
  };
  const closure = direct;
  return Object.freeze({
    kind: 'dynamic',
    source,
    problem,
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

function tryEvaluate(source: string): unknown {
  try {
    env.evaluate(source);
    return new Error('it is not constant');
  } catch (error) {
    return error;
  }
}

/** `node` with every flag() call replaced by its value in `snapshot` (or its default). */
function substitute(node: ASTNode, snapshot: FlagSnapshot): ASTNode {
  if (node.op === 'call' && node.args[0] === 'flag') {
    const [nameArg, fallback] = node.args[1];
    const value = snapshot.flags.get(literalString(nameArg) ?? '')?.value ?? null;
    if (value !== null) return valueNode(BigInt(value));
    return fallback === undefined ? valueNode(0n) : substitute(fallback, snapshot);
  }
  return mapChildren(node, (child) => substitute(child, snapshot));
}

/** Evaluates a request-independent subtree to a literal; keeps it as it is when it throws or is not a scalar. */
function constant(node: ASTNode): ASTNode {
  if (node.op === 'value') return node;
  let v: unknown;
  try {
    v = env.evaluate(toSource(node));
  } catch {
    // Either a run-time error (kept, so it happens where CEL semantics say) or a free comprehension
    // variable; the enclosing comprehension folds as a whole.
    return node;
  }
  if (typeof v === 'boolean' || typeof v === 'bigint' || typeof v === 'string') return valueNode(v);
  if (typeof v === 'number' && Number.isFinite(v)) return valueNode(v);
  return node; // lists, maps, CIDR blocks…: toSource() cannot write them back as literals
}

function isBool(node: ASTNode, value?: boolean): boolean {
  return node.op === 'value' && typeof node.args === 'boolean' && (value === undefined || node.args === value);
}

/** Substitutes flags and folds constants; request-dependent nodes are rebuilt around folded children. */
function fold(node: ASTNode, perRequest: ReadonlySet<ASTNode>, snapshot: FlagSnapshot): ASTNode {
  if (!perRequest.has(node)) return constant(substitute(node, snapshot));
  const f = (child: ASTNode): ASTNode => fold(child, perRequest, snapshot);
  switch (node.op) {
    case '&&':
    case '||': {
      // CEL's && and || are commutative even for errors: `x && false` is false whatever x does.
      const decides = node.op === '||';
      const left = f(node.args[0]);
      const right = f(node.args[1]);
      if (isBool(left, decides) || isBool(right, decides)) return valueNode(decides);
      if (isBool(left, !decides)) return right;
      if (isBool(right, !decides)) return left;
      return makeNode(node.op, [left, right]);
    }
    case '!_': {
      const arg = f(node.args);
      return isBool(arg) ? valueNode(!arg.args) : makeNode('!_', arg);
    }
    case '?:': {
      const cond = f(node.args[0]);
      if (isBool(cond, true)) return f(node.args[1]);
      if (isBool(cond, false)) return f(node.args[2]);
      return makeNode('?:', [cond, f(node.args[1]), f(node.args[2])]);
    }
    case 'call': {
      const arg = node.args[1][0];
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
