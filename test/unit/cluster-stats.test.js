// Counters across worker processes (cluster/stats.ts): what each worker reports, added up in the
// primary — here a frontend's limits, the connections refused for want of a PROXY header among them.
import test from 'ava';
import { addUp, ended, takeStats } from '../../dist/cluster/stats.js';
import { ObservedState } from '../../dist/runtime/servers.js';
import { makeUpstreamPool } from '../../dist/upstream/pool.js';

/** A worker's counters with `web`'s limits set to `counts`. */
function worker(counts) {
  const observed = new ObservedState(makeUpstreamPool);
  Object.assign(observed.frontendLimits('web'), counts);
  return takeStats(observed);
}

test("a frontend's limits add up across workers, an exited one's counts kept and its connections gone", (t) => {
  const primary = new ObservedState(makeUpstreamPool);
  const a = worker({ proxyHeaderRefused: 2, waited: 1, open: 4, rateLimited: 5 });
  const b = ended(worker({ proxyHeaderRefused: 3, waited: 2, open: 7, bodyTooLarge: 1 }));
  addUp(primary, [a, b]);
  t.deepEqual(primary.frontendLimits('web'), { bodyTooLarge: 1, rateLimited: 5, open: 4, waiting: 0, waited: 3, proxyHeaderRefused: 5 });
  // The next report replaces the last one: the sum is taken anew, not added to.
  addUp(primary, [worker({ proxyHeaderRefused: 4 }), b]);
  t.is(primary.frontendLimits('web').proxyHeaderRefused, 7);
});
