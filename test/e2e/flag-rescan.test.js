// docs/flags.md: "A full rescan (`flags.rescan`, 1 s) repairs anything the events missed — Linux
// drops inotify events silently once its queue is full". flagman is frozen with SIGSTOP, the flags
// directory is flooded past the kernel's inotify queue, and only then is the flag written: its
// event is dropped by the kernel, so only the rescan can apply it.
//
// To show that the repair is the rescan's and not a lucky event, a second flagman with the rescan
// effectively off (1h) gets exactly the same treatment and must NOT apply the write.
//
// The other two tests are about full passes (the rescan, and the start-up read) getting in the way:
// a pass slower than the rescan period must not starve a write, and flagman must not start routing
// before its start-up pass has read the flags on disk.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { adminStatus, request, sh, startFlagman, tempDir, upstream } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';
import { scaled } from '../helpers/slow.js';

const config = (rescan, dir = './flags') => maintenanceConfig({ rescan, dir });

function maxQueuedEvents() {
  try {
    return Number(fs.readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8').trim()) || 16384;
  } catch {
    return 16384;
  }
}

// Each rename of a dotfile queues two inotify events (IN_MOVED_FROM, IN_MOVED_TO) for the flags
// directory's watch in one system call — a third of the calls a create-and-delete flood needs, which
// matters on a loaded machine — and a dotfile is not a flag (README, "The flag rules"), so nothing else reacts to
// it. Consecutive events differ in name, so the kernel merges none. At least 20,000 renames: the
// queue overflows more than twice over.
const FLOOD = Math.min(200_000, Math.max(20_000, maxQueuedEvents() + 4000));

function flood(dir) {
  const started = Date.now();
  const a = path.join(dir, '.flood-a');
  const b = path.join(dir, '.flood-b');
  fs.closeSync(fs.openSync(a, 'w'));
  for (let i = 0; i < FLOOD; i++) {
    if (i % 2 === 0) fs.renameSync(a, b);
    else fs.renameSync(b, a);
  }
  fs.unlinkSync(FLOOD % 2 === 0 ? a : b);
  return Date.now() - started;
}

async function frozen(t, rescan) {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, config(rescan), { vars: { app: app.port }, flags: { MAINT: '0\n' } });
  // Registered after startFlagman's teardown, so it runs before it (AVA runs teardowns in reverse):
  // a failing test never leaves a stopped process behind, nor a SIGTERM pending on one.
  t.teardown(() => {
    try {
      process.kill(fm.proc.pid, 'SIGCONT');
    } catch {
      // already gone
    }
  });
  t.is(classify(await request(fm.port)), 'app');
  return fm;
}

function classify(r) {
  if (r.status === 200 && r.body === 'app') return 'app';
  if (r.status === 503 && r.body === 'maintenance\n') return 'maintenance';
  return `other: ${r.status}`;
}

test('a write lost to inotify overflow is applied by the rescan (and is lost without it)', async (t) => {
  t.timeout(scaled(40_000));
  const [fm, control] = await Promise.all([frozen(t, '500ms'), frozen(t, '1h')]);
  const before = await adminStatus(fm);
  const controlBefore = await adminStatus(control);
  t.is(before.watcher.mode, 'events');
  t.is(controlBefore.watcher.rescans, 0);

  // Both are stopped while their directories are flooded and the flag is written.
  process.kill(fm.proc.pid, 'SIGSTOP');
  process.kill(control.proc.pid, 'SIGSTOP');
  const floodMs = [flood(fm.flagsDir), flood(control.flagsDir)];
  await sh('echo 1 > flags/MAINT', fm.dir);
  await sh('echo 1 > flags/MAINT', control.dir);
  const from = fm.events.length;
  const controlFrom = control.events.length;
  const resumedAt = Date.now();
  process.kill(fm.proc.pid, 'SIGCONT');
  process.kill(control.proc.pid, 'SIGCONT');

  const change = await fm.waitFlag('MAINT', 1, { from, timeout: 5000 });
  const appliedMs = Date.now() - resumedAt;
  t.is(change.old, 0);
  t.is(classify(await request(fm.port)), 'maintenance');
  const after = await adminStatus(fm);
  t.is(after.flags.MAINT.value, 1);
  t.true(after.watcher.rescans > before.watcher.rescans, `rescans advanced: ${before.watcher.rescans} -> ${after.watcher.rescans}`);
  t.true(Date.parse(after.watcher.lastRescanAt) > (before.watcher.lastRescanAt === null ? 0 : Date.parse(before.watcher.lastRescanAt)));
  t.is(after.watcher.problem, null);
  if (after.watcher.rescans === before.watcher.rescans + 1) {
    // Exactly one rescan since `before`: the change cannot predate it. (The control below is the
    // real proof that the event was lost.)
    t.true(Date.parse(change.time) >= Date.parse(after.watcher.lastRescanAt), 'applied by the rescan, not before it');
  }

  // The control: same flood, same write, no rescan. Its MAINT must stay 0 for as long as three of
  // the other's rescan periods. Waiting for an absence cannot await an event: sample /status every
  // 100 ms, bounded to 1.5 s, and stop early if the write shows up (which fails the test).
  const deadline = Date.now() + 1500;
  let controlValue = 0;
  while (Date.now() < deadline && controlValue === 0) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    controlValue = (await adminStatus(control)).flags.MAINT?.value ?? null;
  }
  t.is(controlValue, 0, 'without a rescan the dropped event is never seen: the flood did overflow the queue');
  t.deepEqual(
    control.events.slice(controlFrom).filter((e) => e.event === 'flag.change'),
    [],
  );
  t.is(classify(await request(control.port)), 'app');
  t.is((await adminStatus(control)).watcher.rescans, 0);

  t.log(`flood: ${FLOOD} dotfile renames per directory in ${floodMs.join(' / ')} ms`);
  t.log(`applied ${appliedMs} ms after SIGCONT (rescan 500ms); rescans ${before.watcher.rescans} -> ${after.watcher.rescans}`);
});

// The other side of the backstop: a rescan must never stand in the way of the events. With 5,000
// flags a full pass reads 5,000 files (a few hundred ms on this machine), longer than a 100 ms
// rescan period, so a rescan tick always arrives while a pass is running. Whatever pass or tick
// is in flight, a settled write to one flag must still be applied promptly (docs/design/watching.md: 50 ms p99;
// 2 s here so that only starvation, not slowness, fails this test). Serial: its flagman reads
// files back to back, which would slow the flood test above.
test.serial('a rescan slower than its period does not starve a write (5,000 flags, rescan 100ms)', async (t) => {
  t.timeout(scaled(40_000));
  const flags = { MAINT: '0\n' };
  for (let i = 0; i < 5000; i++) flags[`F${String(i).padStart(5, '0')}`] = '1\n';
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, config('100ms'), { vars: { app: app.port }, flags });
  // Write only once rescans are under way (the first is due 100 ms after start). There is no
  // event for a rescan: sample /status every 25 ms, bounded to 10 s.
  let before = await adminStatus(fm);
  for (const deadline = Date.now() + 10_000; before.watcher.rescans < 1 && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    before = await adminStatus(fm);
  }
  t.true(before.watcher.rescans >= 1, 'rescans are running');
  t.is(Object.keys(before.flags).length, 5001, 'every flag file was loaded');

  const from = fm.events.length;
  const written = Date.now();
  await sh('echo 1 > flags/MAINT', fm.dir);
  let appliedMs = null;
  try {
    await fm.waitFlag('MAINT', 1, { from, timeout: 2000 });
    appliedMs = Date.now() - written;
  } catch {
    // reported below, with the figures
  }
  const after = await adminStatus(fm);
  const routed = classify(await request(fm.port));
  t.log(
    `MAINT applied after ${appliedMs ?? 'more than 2000'} ms; rescans ${before.watcher.rescans} -> ${after.watcher.rescans} meanwhile; /status MAINT ${after.flags.MAINT?.value}; routed to ${routed}`,
  );
  t.not(appliedMs, null, 'echo 1 > flags/MAINT applied within 2 s');
  t.is(routed, 'maintenance');
});

// Full passes at start: flagman must not begin routing before it has read the flags on disk. A
// `..`-name event (kubelet's `..data` swap in a ConfigMap volume) makes the store read every flag
// again; a stream of them keeps the start-up pass over 5,000 flags from ever completing within the
// store's start limit (2 s). A start-up pass slower than that limit on a busy host does the same
// (seen in the full suite: 0 of 5,001 flags loaded). Either way MAINT=1 is on disk and no writer
// touched it: serving the app instead applies "unset", a value no writer wrote (docs/design/watching.md).
test.serial('flags on disk are applied before flagman serves, even while ..-name events keep arriving at start', async (t) => {
  t.timeout(scaled(40_000));
  const base = tempDir(t);
  const flagsDir = path.join(base, 'flags');
  fs.mkdirSync(flagsDir, { mode: 0o755 });
  fs.writeFileSync(path.join(flagsDir, 'MAINT'), '1\n');
  // Names that sort before MAINT, so MAINT is not read first.
  for (let i = 0; i < 5000; i++) fs.writeFileSync(path.join(flagsDir, `A${String(i).padStart(5, '0')}`), '1\n');
  // A `..`-name rewritten every millisecond, for at most 8 s (killed by PID as soon as it is not needed).
  const toucher = execa(
    process.execPath,
    [
      '-e',
      `const fs = require('fs'); const p = ${JSON.stringify(path.join(flagsDir, '..data'))}; setInterval(() => fs.writeFileSync(p, ''), 1); setTimeout(() => process.exit(0), 8000);`,
    ],
    { reject: false },
  );
  t.teardown(() => {
    if (toucher.exitCode === null) toucher.kill('SIGKILL');
  });
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, config('1s', flagsDir), { vars: { app: app.port } });
  const routed = classify(await request(fm.port));
  const loaded = fm.events.find((e) => e.event === 'flags.loaded');
  toucher.kill('SIGKILL');
  t.log(`at start: flags.loaded says ${loaded?.flags} of 5001; the first request went to ${routed}`);
  t.is(loaded?.flags, 5001, 'every flag file loaded before serving');
  t.is(routed, 'maintenance', 'MAINT=1 on disk is honoured from the first request');
});
