// The expression API the runtime uses: compile at load, specialize per flag snapshot, test per request.

export { compileCondition, compileKey, compileMaxconn, compileRate, compileWeight } from './compile.js';
export type { CompiledCondition, CompiledExpr, CompiledKey, CompiledMaxconn, CompiledRate, CompiledWeight, ExprKind } from './compile.js';
export { DEFAULT_WEIGHT, MAX_WEIGHT, evaluationFailures, specialize, specializeKey, specializeRate } from './specialize.js';
export type { ConditionResidual, EvaluationErrorHandler, KeyResidual, NumberResidual, RateResidual, Residual, WeightResidual } from './specialize.js';
export { requestInput } from './request.js';
export type { RequestInput } from './request.js';
