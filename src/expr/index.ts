// The expression API the runtime uses: compile at load, specialize per flag snapshot, test per request.

export { compileCondition, compileMaxconn, compileWeight } from './compile.js';
export type { CompiledCondition, CompiledExpr, CompiledMaxconn, CompiledWeight, ExprKind } from './compile.js';
export { DEFAULT_WEIGHT, MAX_WEIGHT, evaluationFailures, specialize } from './specialize.js';
export type { ConditionResidual, EvaluationErrorHandler, NumberResidual, Residual, WeightResidual } from './specialize.js';
export { requestInput } from './request.js';
export type { RequestInput } from './request.js';
