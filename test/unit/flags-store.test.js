// FlagStore against a real temp directory, written the way real writers write (docs/design/watching.md): a shell's
// `echo >` (truncate, then write), `touch`, `rm`, `mv`, a FIFO, symlinks, bursts. Every wait is for
// an event or a condition, with a timeout; none is a fixed sleep.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { events } from '../../dist/log.js';
import { FlagStore } from '../../dist/flags/store.js';
import { scaled } from '../helpers/slow.js';

// Capture the event log instead of writing it to stderr, so lines can be checked.
const logged = [];
for (const level of ['info', 'warn', 'error']) events[level] = (obj, msg) => void logged.push({ level, ...obj, msg });
const logFor = (flag) => logged.filter((l) => l.flag === flag);

function tempFlags(t, { create = true } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-store-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, 'flags');
  if (create) fs.mkdirSync(dir, { mode: 0o755 });
  return { root, dir, at: (name) => path.join(dir, name) };
}

async function started(t, dir, opts = {}) {
  // The start limit (2 s) scaled: a stalled loaded machine must not end start-up before an empty
  // file has settled, which these tests assert on the first snapshot.
  const store = new FlagStore({ dir, rescanMs: 60_000, startLimitMs: scaled(2000), ...opts });
  t.teardown(() => store.close());
  await store.start();
  return store;
}

/** Resolves with the first published (snapshot, changes) that satisfies `pred`. */
function nextChange(store, pred = () => true, ms = 3000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      store.off('change', on);
      reject(new Error(`no matching change within ${ms} ms`));
    }, ms);
    const on = (snapshot, changes) => {
      if (!pred(snapshot, changes)) return;
      clearTimeout(timer);
      store.off('change', on);
      resolve({ snapshot, changes });
    };
    store.on('change', on);
  });
}

/** Polls a condition that publishes no snapshot (directory problems), with a timeout. */
async function until(cond, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Records the value of `name` in every snapshot published. */
function record(store, name) {
  const values = [];
  store.on('change', (s) => values.push(s.flags.get(name)?.value ?? null));
  return values;
}

const value = (snapshot, name) => snapshot.flags.get(name)?.value ?? null;
const sh = (dir, script) => execFileSync('sh', ['-c', script], { cwd: dir });

test('start reads the flags, ignores non-flags, and an empty file for an unset flag is 1', async (t) => {
  const { dir, at } = tempFlags(t);
  fs.writeFileSync(at('MAINT'), '3 # db migration\n');
  fs.writeFileSync(at('TOUCHED'), '');
  for (const name of ['.hidden', '1consul', 'MAINT.swp', 'MAINT~', 'X.dpkg-new']) fs.writeFileSync(at(name), '5');
  fs.mkdirSync(at('sub'));
  const store = await started(t, dir);
  const { snapshot } = store;
  t.is(snapshot.version, 1);
  t.deepEqual([...snapshot.flags.keys()].sort(), ['MAINT', 'TOUCHED']);
  t.deepEqual(snapshot.flags.get('MAINT'), { value: 3, note: 'db migration', changedAt: null, problem: null });
  t.is(value(snapshot, 'TOUCHED'), 1);
  t.true(Object.isFrozen(snapshot) && Object.isFrozen(snapshot.flags.get('MAINT')));
  t.like(store.watcherStatus, { mode: 'events', problem: null });
});

test('echo N > f (truncate, then write) applies N and nothing in between', async (t) => {
  const { dir, at } = tempFlags(t);
  fs.writeFileSync(at('ECHO'), '0\n');
  const store = await started(t, dir);
  const seen = record(store, 'ECHO');
  const done = nextChange(store, (s) => value(s, 'ECHO') === 1);
  sh(dir, 'echo 1 > ECHO');
  const { snapshot, changes } = await done;
  t.deepEqual(seen, [1]);
  t.is(changes.length, 1);
  t.like(changes[0], { name: 'ECHO', old: 0, value: 1, note: null, uid: process.getuid() });
  t.is(typeof changes[0].mtime, 'number');
  t.is(typeof snapshot.flags.get('ECHO').changedAt, 'number');
  t.like(logFor('ECHO').at(-1), { event: 'flag.change', old: 0, value: 1, msg: 'flag ECHO 0 -> 1' });
});

test('touch of a new file sets 1; rm unsets', async (t) => {
  const { dir, at } = tempFlags(t);
  const store = await started(t, dir);
  const set = nextChange(store, (s) => value(s, 'TOUCH') === 1);
  sh(dir, 'touch TOUCH');
  t.like((await set).changes[0], { name: 'TOUCH', old: null, value: 1 });
  const unset = nextChange(store, (s) => !s.flags.has('TOUCH'));
  fs.rmSync(at('TOUCH'));
  t.like((await unset).changes[0], { name: 'TOUCH', old: 1, value: null, uid: null, mtime: null });
});

test('mv of a temp file over the flag applies the new value', async (t) => {
  const { dir, at } = tempFlags(t);
  fs.writeFileSync(at('MOVED'), '1\n');
  const store = await started(t, dir);
  const seen = record(store, 'MOVED');
  const done = nextChange(store, (s) => value(s, 'MOVED') === 7);
  fs.writeFileSync(at('.MOVED.tmp'), '7 # from ansible\n');
  fs.renameSync(at('.MOVED.tmp'), at('MOVED'));
  const { snapshot } = await done;
  t.deepEqual(seen, [7]);
  t.is(snapshot.flags.get('MOVED').note, 'from ansible');
});

test('invalid content keeps the last good value and reports a problem without the content', async (t) => {
  const { dir, at } = tempFlags(t);
  fs.writeFileSync(at('BAD'), '4 # good\n');
  const store = await started(t, dir);
  const problem = nextChange(store, (s) => s.flags.get('BAD').problem !== null);
  fs.writeFileSync(at('BAD'), 'hunter2-secret\n');
  const { snapshot, changes } = await problem;
  t.deepEqual(changes, [], 'a problem is not a value change');
  const state = snapshot.flags.get('BAD');
  t.like(state, { value: 4, note: 'good' });
  t.false(state.problem.includes('hunter2'));
  const fixed = nextChange(store, (s) => value(s, 'BAD') === 5);
  fs.writeFileSync(at('BAD'), '5\n');
  t.is((await fixed).snapshot.flags.get('BAD').problem, null);
  t.true(logFor('BAD').some((l) => l.event === 'flag.problem' && l.level === 'warn'));
  t.false(JSON.stringify(logged).includes('hunter2'));
});

test('a file larger than 4 KiB is a problem; an unset flag with a problem stays unset', async (t) => {
  const { dir, at } = tempFlags(t);
  const store = await started(t, dir);
  const done = nextChange(store, (s) => s.flags.get('BIG')?.problem != null);
  fs.writeFileSync(at('BIG'), `1${' '.repeat(5000)}`);
  t.like((await done).snapshot.flags.get('BIG'), { value: null, problem: 'larger than 4 KiB' });
});

test('a FIFO does not block: it is a problem, and other flags still change', async (t) => {
  const { dir, at } = tempFlags(t);
  const store = await started(t, dir);
  const fifo = nextChange(store, (s) => s.flags.get('PIPE')?.problem != null);
  execFileSync('mkfifo', [at('PIPE')]);
  t.regex((await fifo).snapshot.flags.get('PIPE').problem, /FIFO/);
  const other = nextChange(store, (s) => value(s, 'AFTER') === 2);
  fs.writeFileSync(at('AFTER'), '2');
  await other;
  t.is(value(store.snapshot, 'PIPE'), null);
});

test('a symlink out of the directory is refused; one inside (ConfigMap style) is followed', async (t) => {
  const { root, dir, at } = tempFlags(t);
  fs.writeFileSync(path.join(root, 'outside'), '9\n');
  fs.mkdirSync(at('..2026_01'));
  fs.writeFileSync(at('..2026_01/INSIDE'), '6\n');
  fs.symlinkSync('..2026_01', at('..data'));
  fs.symlinkSync('..data/INSIDE', at('INSIDE'));
  fs.symlinkSync('../outside', at('OUT'));
  const store = await started(t, dir);
  t.like(store.snapshot.flags.get('OUT'), { value: null, problem: 'symlink points outside the flags directory' });
  t.is(value(store.snapshot, 'INSIDE'), 6);
  // The ConfigMap update: a new timestamped directory, `..data` renamed over.
  const swapped = nextChange(store, (s) => value(s, 'INSIDE') === 8);
  fs.mkdirSync(at('..2026_02'));
  fs.writeFileSync(at('..2026_02/INSIDE'), '8\n');
  fs.symlinkSync('..2026_02', at('..data_tmp'));
  fs.renameSync(at('..data_tmp'), at('..data'));
  await swapped;
  t.pass();
});

test('touch and chmod that leave the value unchanged publish nothing', async (t) => {
  const { dir, at } = tempFlags(t);
  fs.writeFileSync(at('SAME'), '1\n');
  const store = await started(t, dir);
  const seen = [];
  store.on('change', (_s, changes) => seen.push(...changes.map((c) => c.name)));
  sh(dir, 'touch SAME && chmod 600 SAME && echo 1 > SAME');
  // A later write to another flag is processed no earlier than the touches: once it is seen, any
  // snapshot for SAME would have been published already.
  const sentinel = nextChange(store, (s) => value(s, 'SENTINEL') === 1);
  fs.writeFileSync(at('SENTINEL'), '1');
  await sentinel;
  t.deepEqual(seen, ['SENTINEL']);
  t.is(store.snapshot.version, 2);
});

test('a missed event is repaired by the rescan', async (t) => {
  const { dir, at } = tempFlags(t);
  fs.writeFileSync(at('MISSED'), '0');
  const store = await started(t, dir, { events: false, rescanMs: 40 });
  t.is(store.watcherStatus.mode, 'polling');
  const done = nextChange(store, (s) => value(s, 'MISSED') === 1);
  fs.writeFileSync(at('MISSED'), '1');
  await done;
  t.true(store.watcherStatus.rescans >= 1);
  t.is(typeof store.watcherStatus.lastRescanAt, 'number');
});

// 200 rapid writes from another process, as `while …; do echo $((i%2)) > F; done` would do.
function burst(dir, name, count, values) {
  const script = `i=0; while [ $i -lt ${count} ]; do if [ $((i % 2)) -eq 0 ]; then echo ${values[0]} > ${name}; else echo ${values[1]} > ${name}; fi; i=$((i + 1)); done`;
  return new Promise((resolve, reject) => {
    spawn('sh', ['-c', script], { cwd: dir, stdio: 'ignore' })
      .on('error', reject)
      .on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
  });
}

test('a burst of 200 alternating 0/1 writes ends on the last value and reports only written values', async (t) => {
  const { dir, at } = tempFlags(t);
  fs.writeFileSync(at('BURST'), '0\n');
  const store = await started(t, dir);
  const seen = record(store, 'BURST');
  await burst(dir, 'BURST', 200, [0, 1]);
  await until(() => value(store.snapshot, 'BURST') === 1 && fs.readFileSync(at('BURST'), 'utf8') === '1\n');
  t.true(
    seen.every((v) => v === 0 || v === 1),
    `seen ${JSON.stringify(seen)}`,
  );
  t.is(seen.at(-1), 1);
});

test('a burst on a new file never applies its empty moment as a touch', async (t) => {
  const { dir } = tempFlags(t);
  const store = await started(t, dir);
  const seen = record(store, 'FRESH');
  await burst(dir, 'FRESH', 201, [2, 3]);
  await until(() => value(store.snapshot, 'FRESH') === 2);
  t.true(
    seen.every((v) => v === 2 || v === 3),
    `seen ${JSON.stringify(seen)}`,
  );
});

test('a note change publishes a snapshot with no value change', async (t) => {
  const { dir, at } = tempFlags(t);
  fs.writeFileSync(at('NOTE'), '1 # back at 14:00\n');
  const store = await started(t, dir);
  const done = nextChange(store, (s) => s.flags.get('NOTE').note === 'back at 15:00');
  fs.writeFileSync(at('NOTE'), '1 # back at 15:00\n');
  t.deepEqual((await done).changes, []);
  t.true(logFor('NOTE').some((l) => l.event === 'flag.note'));
});

test('a missing directory at start is a warning; it is picked up when it appears', async (t) => {
  const { dir, at } = tempFlags(t, { create: false });
  const store = await started(t, dir);
  t.is(store.snapshot.flags.size, 0);
  t.regex(store.watcherStatus.problem, /missing/);
  const done = nextChange(store, (s) => value(s, 'LATE') === 3);
  fs.mkdirSync(dir);
  fs.writeFileSync(at('LATE'), '3');
  await done;
  await until(() => store.watcherStatus.problem === null);
  t.pass();
});

test('rm -rf of the directory unsets its flags; a recreated directory is watched again', async (t) => {
  const { dir, at } = tempFlags(t);
  fs.writeFileSync(at('GONE'), '1');
  const store = await started(t, dir);
  const unset = nextChange(store, (s) => !s.flags.has('GONE'));
  fs.rmSync(dir, { recursive: true });
  await unset;
  const back = nextChange(store, (s) => value(s, 'GONE') === 2);
  fs.mkdirSync(dir);
  fs.writeFileSync(at('GONE'), '2');
  await back;
  // The new directory's own events arrive (not just a rescan: it is 60 s away).
  const again = nextChange(store, (s) => value(s, 'GONE') === 3);
  fs.writeFileSync(at('GONE'), '3');
  await again;
  t.is(store.watcherStatus.rescans, 0);
});

test('a directory renamed away keeps the values and says why until it is back', async (t) => {
  const { dir, at } = tempFlags(t);
  fs.writeFileSync(at('KEPT'), '5');
  const store = await started(t, dir);
  fs.renameSync(dir, `${dir}.away`);
  await until(() => /missing/.test(store.watcherStatus.problem ?? ''));
  t.is(value(store.snapshot, 'KEPT'), 5);
  fs.renameSync(`${dir}.away`, dir);
  await until(() => store.watcherStatus.problem === null);
  t.is(value(store.snapshot, 'KEPT'), 5);
});

test('a directory replaced by a symlink loop is a directory problem, never a flag of its name; values are kept', async (t) => {
  const { dir, at } = tempFlags(t);
  fs.writeFileSync(at('KEPT'), '5');
  const store = await started(t, dir, { rescanMs: 20 });
  fs.renameSync(dir, `${dir}.away`);
  fs.symlinkSync('flags', dir); // flags -> flags
  await until(() => /\(ELOOP\)/.test(store.watcherStatus.problem ?? ''));
  // Two full passes later every flag has been read again, and every event handled long since.
  const rescans = store.watcherStatus.rescans;
  await until(() => store.watcherStatus.rescans >= rescans + 2);
  t.deepEqual([...store.snapshot.flags.keys()], ['KEPT']);
  t.like(store.snapshot.flags.get('KEPT'), { value: 5, problem: null });
  t.regex(store.watcherStatus.problem, /is a symlink loop \(ELOOP\); flags keep their last values/);
  fs.unlinkSync(dir);
  fs.renameSync(`${dir}.away`, dir);
  await until(() => store.watcherStatus.problem === null);
  const done = nextChange(store, (s) => value(s, 'KEPT') === 6);
  fs.writeFileSync(at('KEPT'), '6');
  await done;
  t.deepEqual([...store.snapshot.flags.keys()], ['KEPT']);
});

test('a symlinked directory re-pointed with mv -T is followed', async (t) => {
  const { root, dir } = tempFlags(t, { create: false });
  for (const [release, v] of [
    ['r1', 1],
    ['r2', 2],
  ]) {
    fs.mkdirSync(path.join(root, release));
    fs.writeFileSync(path.join(root, release, 'REL'), `${v}\n`);
  }
  fs.symlinkSync('r1', dir);
  const store = await started(t, dir);
  t.is(value(store.snapshot, 'REL'), 1);
  const done = nextChange(store, (s) => value(s, 'REL') === 2);
  fs.symlinkSync('r2', path.join(root, 'tmp'));
  fs.renameSync(path.join(root, 'tmp'), dir);
  await done;
  const after = nextChange(store, (s) => value(s, 'REL') === 3);
  fs.writeFileSync(path.join(root, 'r2', 'REL'), '3\n');
  await after;
  t.pass();
});

test('a world-writable directory is refused at start, and stops changes while running', async (t) => {
  const { dir, at } = tempFlags(t);
  fs.writeFileSync(at('WW'), '1');
  fs.chmodSync(dir, 0o777);
  const refused = new FlagStore({ dir, rescanMs: 60_000 });
  await t.throwsAsync(() => refused.start(), { code: 'FLAG_DIR', message: /world-writable/ });
  await refused.close();

  fs.chmodSync(dir, 0o755);
  const store = await started(t, dir);
  fs.chmodSync(dir, 0o777);
  await until(() => /world-writable/.test(store.watcherStatus.problem ?? ''));
  fs.writeFileSync(at('WW'), '2');
  t.is(value(store.snapshot, 'WW'), 1);
  const applied = nextChange(store, (s) => value(s, 'WW') === 2);
  fs.chmodSync(dir, 0o755);
  await applied;
  t.is(store.watcherStatus.problem, null);
});

test('after close nothing is published', async (t) => {
  const { dir, at } = tempFlags(t);
  const store = await started(t, dir);
  let published = 0;
  store.on('change', () => published++);
  await store.close();
  fs.writeFileSync(at('CLOSED'), '1');
  // The store would have published within ~10 ms; give it clearly longer than that once.
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(published, 0);
});

// The tests with thousands of files run one at a time (serial tests run before the others): creating
// the files blocks this process, and the other tests' timing with it.
//
// A pass over many flags runs in chunks, and an event is served between two chunks, not after the
// pass. ZSILENT is changed through a hard link in another directory, which the flags directory's
// watch does not see: only a pass finds it, and the pass (started here by a `..`-name event, as a
// ConfigMap update would) reads it last. Z_MAINT, written with an event right after the pass
// started, must be applied while ZSILENT still shows its old value.
test.serial('an event is served while a full pass is still running, not after it', async (t) => {
  const { root, dir, at } = tempFlags(t);
  const count = 5000;
  for (let i = 0; i < count; i++) fs.writeFileSync(at(`F${String(i).padStart(5, '0')}`), `${i % 2}\n`);
  fs.writeFileSync(at('Z_MAINT'), '0\n');
  fs.writeFileSync(at('ZSILENT'), '0\n');
  fs.mkdirSync(path.join(root, 'other'));
  fs.linkSync(at('ZSILENT'), path.join(root, 'other', 'ZSILENT'));
  const store = await started(t, dir);
  t.is(store.snapshot.flags.size, count + 2);
  const maint = nextChange(store, (s) => value(s, 'Z_MAINT') === 1, 10_000);
  const repaired = nextChange(store, (s) => value(s, 'ZSILENT') === 1, 10_000);
  fs.writeFileSync(path.join(root, 'other', 'ZSILENT'), '1\n'); // no event in flags/
  fs.writeFileSync(at('..trigger'), ''); // every flag is read again
  sh(dir, 'echo 1 > Z_MAINT');
  const { snapshot } = await maint;
  t.is(value(snapshot, 'ZSILENT'), 0, 'Z_MAINT was applied only after the whole pass');
  await repaired;
  t.is(store.watcherStatus.rescans, 0, 'found by the pass the event started, not by the backstop');
});

test('start reads each flag file once when nothing changes; an empty one still settles as a touch', async (t) => {
  const { dir, at } = tempFlags(t);
  for (let i = 0; i < 40; i++) fs.writeFileSync(at(`S${i}`), `${i}\n`);
  fs.writeFileSync(at('TOUCHED'), '');
  const opened = new Map();
  const openSync = fs.openSync;
  fs.openSync = (p, ...rest) => {
    if (typeof p === 'string' && path.dirname(p) === dir) opened.set(path.basename(p), (opened.get(path.basename(p)) ?? 0) + 1);
    return openSync(p, ...rest);
  };
  t.teardown(() => void (fs.openSync = openSync));
  const store = await started(t, dir);
  fs.openSync = openSync;
  t.is(store.snapshot.flags.size, 41);
  t.is(value(store.snapshot, 'S7'), 7);
  t.is(value(store.snapshot, 'TOUCHED'), 1);
  for (let i = 0; i < 40; i++) t.is(opened.get(`S${i}`), 1, `S${i} read ${opened.get(`S${i}`)} times`);
  t.true(opened.get('TOUCHED') >= 2, 'the empty file is read again after its settle time');
});

test.serial('while every flag is read again, an rm settles and unsets, and a later echo applies', async (t) => {
  const { dir, at } = tempFlags(t);
  for (let i = 0; i < 2000; i++) fs.writeFileSync(at(`F${i}`), '1\n');
  fs.writeFileSync(at('GONE'), '1\n');
  const store = await started(t, dir);
  const seen = record(store, 'GONE');
  const unset = nextChange(store, (s) => !s.flags.has('GONE'));
  fs.writeFileSync(at('..trigger'), '');
  fs.rmSync(at('GONE'));
  await unset;
  const back = nextChange(store, (s) => value(s, 'GONE') === 2);
  sh(dir, 'echo 2 > GONE');
  await back;
  t.deepEqual(seen, [null, 2]);
});

test('a pass is a cursor over its names', async (t) => {
  const { Sweep } = await import('../../dist/flags/sweep.js');
  const names = Array.from({ length: 300 }, (_, i) => `F${i}`);
  const sweep = new Sweep(names, 3);
  const taken = [];
  while (!sweep.done) taken.push(sweep.next());
  t.deepEqual(taken, names);
  t.is(sweep.next(), undefined);
  sweep.addBusy(2);
  t.is(sweep.busyMs, 5);
  t.true(new Sweep([], 0).done);
});

test('a pass lists the flag names off the event loop, like listFlagNames', async (t) => {
  const { listFlagsAsync } = await import('../../dist/flags/sweep.js');
  const { listFlagNames } = await import('../../dist/flags/dir.js');
  const { dir, at } = tempFlags(t);
  fs.writeFileSync(at('PLAIN'), '1');
  fs.symlinkSync('PLAIN', at('LINK'));
  fs.mkdirSync(at('SUB'));
  execFileSync('mkfifo', [at('PIPE')]);
  for (const name of ['.hidden', '1consul', 'X.swp', '..data']) fs.writeFileSync(at(name), '1');
  const listed = await listFlagsAsync(dir);
  t.deepEqual([...listed.names].sort(), ['LINK', 'PIPE', 'PLAIN', 'SUB']);
  t.deepEqual([...listed.names].sort(), [...listFlagNames(dir)].sort());
  t.deepEqual(listed.files, []);
  const typed = await listFlagsAsync(dir, true);
  t.deepEqual([...typed.names].sort(), ['LINK', 'PIPE', 'PLAIN', 'SUB']);
  t.deepEqual(typed.files, ['PLAIN'], 'only regular files, not what a symlink points to');
  t.deepEqual(await listFlagsAsync(path.join(dir, 'nowhere'), true), { names: [], files: [] });
});

// The backstop's pause after a pass: `rescanMs` from the end of the pass, or 4× the pass's busy
// time when that is longer, so the rescan takes at most a fifth of a core.
const PAUSES = [
  // rescanMs, busyMs, pause
  [1000, 0, 1000],
  [1000, 100, 1000],
  [1000, 250, 1000],
  [1000, 400, 1600],
  [40, 30, 120],
  [60_000, 2000, 60_000],
];
for (const [rescanMs, busyMs, pause] of PAUSES) {
  test(`backstopPause(${rescanMs}, ${busyMs}) = ${pause}`, async (t) => {
    const { backstopPause } = await import('../../dist/flags/sweep.js');
    t.is(backstopPause(rescanMs, busyMs), pause);
  });
}

test('holds: held only after the settle time, in the same state; due() hands over due names and the next due time; end and clear forget', async (t) => {
  const { Holds } = await import('../../dist/flags/holds.js');
  const holds = new Holds(20);
  t.is(holds.begin('A', 100, 'empty'), 120);
  t.is(holds.begin('A', 105, 'empty'), null); // held already: the hold keeps its start
  holds.begin('B', 101, 'missing');
  holds.end('B');
  holds.begin('C', 110, 'missing');
  t.false(holds.held('A', 119, 'empty'));
  t.false(holds.held('B', 200, 'missing'));
  t.is(holds.size, 2);
  t.is(holds.dueAt(), 120);
  t.deepEqual(holds.due(119), { names: [], next: 120 });
  t.deepEqual(holds.due(120), { names: ['A'], next: 130 });
  t.true(holds.held('A', 120, 'empty'));
  t.false(holds.held('A', 120, 'missing')); // a hold is for the state it began on
  t.is(holds.begin('C', 125, 'empty'), 145); // seen in the other state: it starts again
  t.false(holds.held('C', 140, 'empty'));
  t.deepEqual([...holds.names()], ['A', 'C']);
  holds.clear();
  t.is(holds.size, 0);
  t.is(holds.dueAt(), null);
});

// A `..`-name event means every flag must be read again, but it never restarts a pass: the pass
// runs to its end and another follows. And a `..` entry changes only what symlinks resolve
// through, so it does not spoil the verification of a plain file. Under a steady stream of them,
// a change no event told of, at the end of the list, is still found and applied.
test.serial('a stream of `..` events does not keep a pass from reaching and applying its last flag', async (t) => {
  const { root, dir, at } = tempFlags(t);
  for (let i = 0; i < 3000; i++) fs.writeFileSync(at(`F${String(i).padStart(4, '0')}`), '1\n');
  fs.writeFileSync(at('ZSILENT'), '0\n');
  fs.mkdirSync(path.join(root, 'other'));
  fs.linkSync(at('ZSILENT'), path.join(root, 'other', 'ZSILENT'));
  const store = await started(t, dir);
  const repaired = nextChange(store, (s) => value(s, 'ZSILENT') === 1, 10_000);
  fs.writeFileSync(path.join(root, 'other', 'ZSILENT'), '1\n'); // no event in flags/
  let ticks = 0;
  const stream = setInterval(() => fs.writeFileSync(at('..tick'), String(ticks++)), 1);
  t.teardown(() => clearInterval(stream));
  await repaired;
  const during = ticks;
  clearInterval(stream);
  t.log(`${during} \`..\` events before the change was applied`);
  t.true(during > 3, 'the events kept coming while the pass ran');
  t.is(store.watcherStatus.rescans, 0);
});

test.serial('start serves nothing before every flag is read, even while `..` events keep coming', async (t) => {
  const { dir, at } = tempFlags(t);
  for (let i = 0; i < 3000; i++) fs.writeFileSync(at(`A${String(i).padStart(4, '0')}`), '1\n');
  fs.writeFileSync(at('MAINT'), '1\n');
  let ticks = 0;
  const stream = setInterval(() => fs.writeFileSync(at('..data'), String(ticks++)), 1);
  t.teardown(() => clearInterval(stream));
  const store = await started(t, dir);
  clearInterval(stream);
  t.is(store.snapshot.flags.size, 3001);
  t.is(value(store.snapshot, 'MAINT'), 1);
});

test.serial('start loads ConfigMap-style flags while `..` entries keep changing', async (t) => {
  const { dir, at } = tempFlags(t);
  fs.mkdirSync(at('..2026_01'));
  for (let i = 0; i < 500; i++) {
    fs.writeFileSync(at(`..2026_01/K${i}`), `${i}\n`);
    fs.symlinkSync(`..data/K${i}`, at(`K${i}`));
  }
  fs.symlinkSync('..2026_01', at('..data'));
  let ticks = 0;
  const stream = setInterval(() => fs.writeFileSync(at('..tick'), String(ticks++)), 1);
  t.teardown(() => clearInterval(stream));
  const store = await started(t, dir);
  clearInterval(stream);
  t.is(store.snapshot.flags.size, 500);
  t.is(value(store.snapshot, 'K499'), 499);
});
