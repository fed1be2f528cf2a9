// The limits of the rule a request matched (docs/proxying.md, "Limits and the queue"): the size of its body and the
// rate of its key. Checked once the rule is known and before the request goes anywhere: a declared
// body over `maxBody` and a request past its rate are answered here, and no server sees a byte of
// them. A body without a declared length is counted as it streams up (upstream/connection.ts),
// and refused the moment it goes over (refuseBody).
import type http from 'node:http';
import { requestInput, type RequestFrom } from '../expr/environment.js';
import type { RuleLimits, RuntimeRule } from '../runtime/runtime.js';
import type { FrontendLimitCounters } from '../runtime/servers.js';
import type { Exchange } from './exchange.js';
import { REASONS } from './reasons.js';

/**
 * Refuses `ex` if it is over its rule's limits (413, or 429 with Retry-After); true when it was.
 * Else `ex` keeps the rule's limits, for its body to be counted on the way up.
 */
export function overLimits(ex: Exchange, rule: RuntimeRule): boolean {
  const limits = rule.limits;
  ex.rule = limits;
  if (limits.maxBody !== Infinity && declaredOver(ex.req, limits.maxBody)) {
    refuseBody(ex);
    return true;
  }
  const wait = rateWait(limits, ex.frontend.limitCounters, ex.req, ex);
  if (wait === 0) return false;
  ex.refuse(429, REASONS.rateLimited, String(wait));
  return true;
}

// Node's parser accepts only digits in a Content-Length, and HTTP/2 is checked against its DATA by nghttp2.
function declaredOver(req: http.IncomingMessage, max: number): boolean {
  const length = req.headers['content-length'];
  return length !== undefined && Number(length) > max;
}

/** Refuses `ex` for a body over its rule's `maxBody` (413, or a cut once a head went out), and counts it. */
export function refuseBody(ex: Exchange): void {
  if (ex.rule !== null) ex.rule.state.bodyTooLarge++;
  ex.frontend.limitCounters.bodyTooLarge++;
  ex.refuse(413, REASONS.bodyTooLarge);
}

/**
 * Takes a token for `req` from its rule's rate limit: 0 when it passes, else the whole seconds until
 * a token comes (Retry-After, at least 1), the refusal counted. No limit: 0, without a look at the clock.
 */
export function rateWait(limits: RuleLimits, counters: FrontendLimitCounters, req: http.IncomingMessage, from: RequestFrom): number {
  const limit = limits.limit;
  if (limit === null) return 0;
  // One small object for a key that reads the request; `client.ip` reads only the address from it.
  const key = limit.key === null ? '' : limit.key(requestInput(req, from));
  const ms = limit.buckets.take(key, performance.now(), limit.rate, limit.capacity);
  if (ms === 0) return 0;
  limits.state.rateLimited++;
  counters.rateLimited++;
  return Math.max(1, Math.ceil(ms / 1000));
}
