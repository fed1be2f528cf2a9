// Hands a routed request to its backend: a server of a proxy backend, a fixed response, or a redirect.
import type { Target } from '../runtime/runtime.js';
import { takerOf } from './attempt.js';
import type { Exchange } from './exchange.js';
import { REASONS } from './reasons.js';
import { redirect } from './redirect.js';
import { respond } from './respond.js';
import { forward } from './upstream.js';

/** Serves `ex` from `routed`, or from its fallback when it has no eligible server (counted on the backend that answers). */
export function dispatch(ex: Exchange, routed: Target, headers: string[]): void {
  const target = takerOf(routed);
  ex.target = target;
  if (target.kind === 'proxy') forward(ex, target, headers);
  else if (target.kind === 'respond') respond(ex, target);
  else if (target.kind === 'redirect') redirect(ex, target);
  // A refuse backend is tcp-only (config/refs.ts keeps it from http frontends): close, as it would.
  else ex.cut(REASONS.refused);
}
