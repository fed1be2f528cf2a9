// The end of a process that serves frontends, a single process or a worker alike: stop accepting,
// let what is in flight finish until timeouts.shutdown, cut the rest, and wait until every exchange
// has written its access line.
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ObservedState } from '../runtime/servers.js';
import type { ListenerSet } from './listeners.js';

// A connection cut at the deadline closes in a later turn of the event loop, after its server has
// already reported itself closed; how long its exchange may take to log, at most, once cut.
const SETTLE_MS = 1000;

/**
 * Closes every listener and resolves once all their exchanges have ended and logged; those still
 * open after `deadlineMs` are cut, their lines saying `"reason":"shutdown"` (proxy/reasons.ts).
 */
export async function drainForShutdown(
  listeners: ListenerSet,
  tunnels: Set<Duplex>,
  observed: ObservedState,
  deadlineMs: number,
): Promise<void> {
  const deadline = setTimeout(() => {
    listeners.forceClose();
    for (const t of tunnels) t.destroy();
  }, deadlineMs);
  deadline.unref();
  await listeners.close();
  clearTimeout(deadline);
  await logged(observed);
}

// An exchange (HTTP request, upgrade, tcp connection) leaves its frontend's `active` count in the
// same step as it writes its line: none active, every line written. No event says so, and this runs
// once per process lifetime, so it looks every millisecond.
async function logged(observed: ObservedState): Promise<void> {
  const until = Date.now() + SETTLE_MS;
  const active = (): number => {
    let n = 0;
    for (const c of observed.all().frontends.values()) n += c.active;
    return n;
  };
  while (active() > 0 && Date.now() < until) await sleep(1);
}
