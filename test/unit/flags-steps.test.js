// The flag store's step loop (src/flags/steps.ts) on a fake clock, with its effects faked: what it
// tells the store (loaded, idle, publish) and when. test/fuzz/flags.js runs it against the flag
// rules; these are the store's own sequencing promises.
import test from 'ava';
import { observe } from '../../dist/flags/decide.js';
import { FlagSteps } from '../../dist/flags/steps.js';
import { FlagValues } from '../../dist/flags/values.js';

/** A FlagSteps over `files` (name → text) on a fake clock; `said` records what it told the store. */
function harness(files, { initial = true } = {}) {
  let now = 0;
  const queue = [];
  const at = (t, fn) => {
    const item = { t, fn, cancelled: false };
    queue.push(item);
    queue.sort((a, b) => a.t - b.t);
    return item;
  };
  const said = [];
  const values = new FlagValues();
  const io = {
    now: () => now,
    wallClock: () => now,
    look: () => ({ replaced: false, safe: true, resumed: false, there: true, present: true }),
    read: (n) => (n in files ? observe({ kind: 'file', content: Buffer.from(files[n]), uid: 0, mtime: 0 }) : observe({ kind: 'missing' })),
    list: (_atStart, done) => at(now + 0.2, () => done(Object.keys(files))),
    rearm: () => undefined,
    byEvents: () => true,
    setTimer: (ms, fn) => at(now + ms, fn),
    clearTimer: (item) => (item.cancelled = true),
    pause: (ms, fn) => at(now + (ms > 0 ? Math.ceil(ms) : 0.01), fn),
    publish: (changes) => said.push({ publish: changes.map((c) => `${c.name}=${c.value}`) }),
    applied: () => undefined,
    excess: () => undefined,
    failed: (err) => {
      throw err;
    },
    loaded: () => said.push({ loaded: now }),
    idle: () => said.push({ idle: now }),
  };
  const steps = new FlagSteps({ quietMs: 2, settleMs: 25, rescanMs: 0, initial }, values, io);
  const runUntil = (t) => {
    while (queue.length > 0 && queue[0].t <= t) {
      const item = queue.shift();
      if (item.cancelled) continue;
      now = Math.max(now, item.t);
      item.fn();
    }
    now = Math.max(now, t);
  };
  return {
    steps,
    values,
    said,
    runUntil,
    get now() {
      return now;
    },
  };
}

test('loaded is said once, after begin(), even when a pass a hint started has ended before it', (t) => {
  const h = harness({ A: '1\n' });
  // The watch's first hint arrives while start() is still arming it: a whole pass runs and ends.
  h.steps.hint(null, false);
  h.runUntil(50);
  t.deepEqual(
    h.said.filter((s) => 'loaded' in s),
    [],
  );
  h.steps.begin();
  h.runUntil(100);
  t.is(h.said.filter((s) => 'loaded' in s).length, 1);
  t.is(h.values.get('A')?.value, 1);
});

test('while loading nothing is published; after started(), a change is', (t) => {
  const files = { A: '1\n' };
  const h = harness(files);
  h.steps.begin();
  h.runUntil(50);
  t.deepEqual(
    h.said.filter((s) => 'publish' in s),
    [],
  );
  h.steps.started();
  files.A = '2\n';
  h.steps.hint('A', false);
  h.runUntil(100);
  t.deepEqual(
    h.said.filter((s) => 'publish' in s),
    [{ publish: ['A=2'] }],
  );
  t.true(h.said.some((s) => 'idle' in s));
});
