// Rate limits across workers (docs/proxying.md, "Limits and the queue"; runtime/buckets.ts): each worker decides on
// its own buckets, with no message on the request path, and every RATE_SYNC_MS tells the others,
// through the primary, what it admitted per rule and key; they take it off their own buckets. A key
// thus gets its rate across all workers over time, within what the workers admit in one interval
// before they hear of each other (measured with two workers: docs/proxying.md).
import type { Runtime, RuntimeLimit } from '../runtime/runtime.js';
import type { ObservedState } from '../runtime/servers.js';
import type { Spent } from './messages.js';

/**
 * How often a worker reports what its rate limits admitted. The shorter, the less two workers can
 * both spend the same tokens; each report is one IPC message, sent only when something was admitted.
 */
export const RATE_SYNC_MS = 50;

/** What this worker's rate limits admitted since the last call, by rule and key; null: nothing. */
export function takeSpent(observed: ObservedState): Spent | null {
  const out: [string, [string, number][]][] = [];
  for (const [key, rule] of observed.all().rules) {
    const spent = rule.currentBuckets?.drain() ?? null;
    if (spent !== null) out.push([key, spent]);
  }
  return out.length > 0 ? out : null;
}

/** Takes what another worker admitted off this worker's buckets, at `now` (ms), under the current rates. */
export function chargeSpent(runtime: Runtime, spent: Spent, now: number): void {
  const limits = new Map<string, RuntimeLimit>();
  for (const fe of runtime.frontends) for (const r of fe.limits) if (r.limit !== null) limits.set(r.state.key, r.limit);
  for (const [rule, keys] of spent) {
    const limit = limits.get(rule);
    // A rule without a rate limit here any more (a reload the other worker has not made yet).
    if (limit === undefined) continue;
    for (const [key, n] of keys) limit.buckets.charge(key, n, now, limit.rate, limit.capacity);
  }
}
