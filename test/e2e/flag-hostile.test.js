// The flag rules (README: names, invalid files, safety) and docs/flags.md against hostile entries in
// the flags directory, through the real proxy: a FIFO, a symlink to /dev/zero, a symlink out of the
// directory, a 1 MB file, binary content, a symlink to a FIFO, a symlink loop, a socket, a
// subdirectory, names that are not flag names, and 10,001 flag files.
// Each is reported (or, for a non-flag name, ignored without noise), nothing blocks — a client
// keeps requesting throughout and latency is measured —, no content of a rejected file is ever
// echoed, and a valid flag beside them still steers traffic.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { adminStatus, flagmanCli, keepAliveLoad, percentile, request, sh, startFlagman, upstream } from '../helpers/e2e.js';
import { scaled } from '../helpers/slow.js';

// Any flag of a hostile file applied at all would route to `hostile`.
const CONFIG = `
flags: { dir: ./flags, rescan: {{rescan}} }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: flag("MAINT") > 0
        use: maintenance
      - when: flag("PIPE") != 0 || flag("ZERO") != 0 || flag("OUT") != 0 || flag("BIG") != 0 || flag("BIN") != 0 || flag("UTF") != 0 || flag("LINKFIFO") != 0 || flag("LOOP") != 0 || flag("SOCK") != 0
        use: hostile
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
  maintenance:
    respond: { status: 503, body: "maintenance\\n" }
  hostile:
    respond: { status: 500, body: "a hostile file was applied\\n" }
`;

// Generous bounds for a loaded 2-core machine; the figures are logged.
const P99_BOUND_MS = 200;
// With ~100–400 requests a p99 is the 2nd–4th slowest: one stall of the event loop shows only in the max.
const MAX_BOUND_MS = 1000;
const AFTER_REQUESTS = 200;
const DURING_REQUESTS = 300;

const MARK = 'SECRET-MARKER-xyz';

function classify(r) {
  if (r.status === 200 && r.body === 'app') return 'app';
  if (r.status === 503 && r.body === 'maintenance\n') return 'maintenance';
  return `other: ${r.status} ${JSON.stringify(r.body.slice(0, 80))}`;
}

async function setup(t, { rescan = '500ms', flags = { MAINT: '0\n' } } = {}) {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, rescan }, flags });
  return fm;
}

/** `n` requests one after another on one keep-alive connection: latencies and failures. */
function measure(port, n) {
  return keepAliveLoad(port, { classify, limit: n, maxMs: 30_000 }).done;
}

function latencyFigures(res) {
  const l = res.latencies;
  return `${res.count} requests ${JSON.stringify(res.labels)}, ${res.errors.length} errors; p50 ${percentile(l, 50).toFixed(1)} ms, p99 ${percentile(l, 99).toFixed(1)} ms, max ${Math.max(...l).toFixed(1)} ms`;
}

/**
 * Logs the figures and asserts that every request was answered, by an expected backend. The
 * latency bounds are returned as violations (or none) so that a test can report every bound it
 * misses at once.
 */
function checkLatency(t, res, what, allowed = ['app']) {
  t.log(`${what}: ${latencyFigures(res)}`);
  t.deepEqual(res.errors, [], `${what}: no request failed`);
  t.deepEqual(
    Object.keys(res.labels).filter((l) => !allowed.includes(l)),
    [],
    `${what}: only ${allowed.join('/')} answered`,
  );
  const p99 = percentile(res.latencies, 99);
  const max = Math.max(...res.latencies);
  const out = [];
  if (!(p99 < P99_BOUND_MS)) out.push(`${what}: request p99 ${p99.toFixed(1)} ms >= ${P99_BOUND_MS} ms`);
  if (!(max < MAX_BOUND_MS)) out.push(`${what}: one request took ${max.toFixed(1)} ms >= ${MAX_BOUND_MS} ms (the proxy stalled)`);
  return out;
}

/**
 * Resolves once `n` full rescans have started after now and the last one has had time to run.
 * There is no event for a rescan, so /status is sampled every 25 ms, bounded by `timeout`.
 */
async function rescansPassed(fm, n = 2, timeout = 10_000) {
  const start = (await adminStatus(fm)).watcher.rescans;
  const deadline = Date.now() + timeout;
  for (;;) {
    const s = await adminStatus(fm);
    if (s.watcher.rescans >= start + n) return s;
    if (Date.now() > deadline) throw new Error(`fewer than ${n} rescans within ${timeout} ms (at ${s.watcher.rescans}, from ${start})`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

// name → how to create it, and the problem it must be reported with (null: not a flag name, ignored
// without noise). `ctx` gives the flags directory and a place outside it.
const HOSTILE = [
  {
    name: 'PIPE',
    problem: /FIFO/,
    make: ({ dir }) => sh('mkfifo flags/PIPE', dir),
  },
  {
    name: 'ZERO',
    problem: /outside the flags directory/,
    make: ({ flagsDir }) => fs.symlinkSync('/dev/zero', path.join(flagsDir, 'ZERO')),
  },
  {
    name: 'OUT',
    // Valid content, with a note: applied, it would route to `hostile` and show the marker.
    problem: /outside the flags directory/,
    make: ({ dir, flagsDir }) => {
      fs.writeFileSync(path.join(dir, 'outside.txt'), `1 # ${MARK}-outside\n`);
      fs.symlinkSync(path.join(dir, 'outside.txt'), path.join(flagsDir, 'OUT'));
    },
  },
  {
    name: 'BIG',
    problem: /larger than 4 KiB/,
    make: ({ flagsDir }) => fs.writeFileSync(path.join(flagsDir, 'BIG'), `1 # ${MARK}-big\n${'1'.repeat(1024 * 1024)}\n`),
  },
  {
    name: 'BIN',
    problem: /binary content/,
    make: ({ flagsDir }) => fs.writeFileSync(path.join(flagsDir, 'BIN'), Buffer.from(`1 # ${MARK}-bin\0\0\0\n`)),
  },
  {
    name: 'UTF',
    problem: /binary content/,
    make: ({ flagsDir }) =>
      fs.writeFileSync(path.join(flagsDir, 'UTF'), Buffer.concat([Buffer.from(`1 # ${MARK}-utf `), Buffer.from([0xff, 0xfe, 0x0a])])),
  },
  {
    name: 'LINKFIFO',
    // A symlink inside the directory, to a FIFO that is itself a dotfile (so not a flag).
    problem: /FIFO/,
    make: async ({ dir, flagsDir }) => {
      await sh('mkfifo flags/.fifo', dir);
      fs.symlinkSync('.fifo', path.join(flagsDir, 'LINKFIFO'));
    },
  },
  {
    name: 'LOOP',
    problem: /loop/,
    make: ({ flagsDir }) => fs.symlinkSync('LOOP', path.join(flagsDir, 'LOOP')),
  },
  {
    name: 'SOCK',
    problem: /socket/,
    make: async ({ t, flagsDir }) => {
      const server = net.createServer();
      await new Promise((resolve) => server.listen(path.join(flagsDir, 'SOCK'), resolve));
      t.teardown(() => new Promise((resolve) => server.close(resolve)));
    },
  },
  {
    name: 'SUBDIR',
    // The flag rules: subdirectories are not flags, ignored without noise, whatever they hold.
    problem: null,
    make: ({ flagsDir }) => {
      fs.mkdirSync(path.join(flagsDir, 'SUBDIR'));
      fs.writeFileSync(path.join(flagsDir, 'SUBDIR', 'MAINT'), `1 # ${MARK}-subdir\n`);
    },
  },
  {
    name: 'A B',
    problem: null,
    make: ({ flagsDir }) => fs.writeFileSync(path.join(flagsDir, 'A B'), `1 # ${MARK}-space\n`),
  },
  {
    name: 'A\nB',
    problem: null,
    make: ({ flagsDir }) => fs.writeFileSync(path.join(flagsDir, 'A\nB'), `1 # ${MARK}-newline\n`),
  },
];

test('hostile entries are reported without their content, never block, and a valid flag beside them still works', async (t) => {
  t.timeout(scaled(30_000));
  const fm = await setup(t);
  const from = fm.events.length;
  const load = keepAliveLoad(fm.port, { classify });
  t.teardown(() => load.stop());

  // A writer blocked on the FIFO, with the marker: if flagman ever opened the FIFO for reading the
  // writer would get through (and its content could reach a log). It must still be blocked at the end.
  let writer;
  for (const h of HOSTILE) {
    const mark = fm.events.length;
    await h.make({ t, dir: fm.dir, flagsDir: fm.flagsDir });
    if (h.name === 'PIPE') {
      writer = execa('sh', ['-c', `echo "1 # ${MARK}-fifo" > flags/PIPE`], { cwd: fm.dir, reject: false });
      t.teardown(() => {
        if (writer.exitCode === null) writer.kill('SIGKILL');
      });
    }
    if (h.problem) {
      const e = await fm.waitEvent((ev) => ev.event === 'flag.problem' && ev.flag === h.name, { from: mark });
      t.regex(e.problem, h.problem, h.name);
    }
  }
  // Reported once each, and whatever a non-flag name is, it is not reported at all: let two full
  // rescans go by (they read every entry again) before looking.
  await rescansPassed(fm, 2);

  // The valid flag still steers traffic with all of them present.
  let mark = fm.events.length;
  await sh('echo 1 > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 1, { from: mark });
  t.is(classify(await request(fm.port)), 'maintenance');
  mark = fm.events.length;
  await sh('echo 0 > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 0, { from: mark });
  t.is(classify(await request(fm.port)), 'app');

  // Enough samples that the p99 is not just the single slowest request (a hiccup of a loaded
  // host): at least DURING_REQUESTS, bounded to 15 s. Waiting for a count has no event: sample.
  for (const deadline = Date.now() + 15_000; load.result.count < DURING_REQUESTS && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const during = await load.stop();
  const after = await measure(fm.port, AFTER_REQUESTS);
  t.deepEqual([...checkLatency(t, during, 'during', ['app', 'maintenance']), ...checkLatency(t, after, 'after')], [], 'nothing blocks');

  const statusBody = (await request(fm.adminPort, { path: '/status' })).body;
  const s = JSON.parse(statusBody);
  for (const h of HOSTILE) {
    const problems = fm.events.slice(from).filter((e) => e.event === 'flag.problem' && e.flag === h.name);
    if (h.problem) {
      t.is(problems.length, 1, `${h.name}: reported once, not at every rescan`);
      t.like(s.flags[h.name], { value: null, note: null }, `${h.name}: never applied`);
      t.regex(s.flags[h.name]?.problem ?? '', h.problem, `${h.name}: problem in /status`);
    } else {
      t.deepEqual(problems, [], `${JSON.stringify(h.name)}: not a flag name, ignored without noise`);
      t.false(h.name in s.flags, `${JSON.stringify(h.name)}: not in /status`);
    }
  }
  t.false(
    fm.events.slice(from).some((e) => JSON.stringify(e).includes('A B') || JSON.stringify(e).includes('A\\nB')),
    'bad names never mentioned',
  );
  t.is(s.watcher.problem, null);
  t.deepEqual(Object.keys(s.flags).sort(), ['BIG', 'BIN', 'LINKFIFO', 'LOOP', 'MAINT', 'OUT', 'PIPE', 'SOCK', 'UTF', 'ZERO']);

  const listStarted = Date.now();
  const list = await flagmanCli(['list', '-d', fm.flagsDir]);
  const listMs = Date.now() - listStarted;
  t.is(list.exitCode, 0, list.stderr);
  t.true(listMs < 5000, `flagman list did not block (${listMs} ms)`);
  for (const h of HOSTILE.filter((x) => x.problem))
    t.regex(list.stdout, new RegExp(`^${h.name}\\s+unset\\s+.*${h.problem.source}`, 'm'), `list: ${h.name}`);

  t.false(JSON.stringify(fm.events).includes(MARK), 'no rejected content in the event log');
  t.false(statusBody.includes(MARK), 'no rejected content in /status');
  t.false(list.stdout.includes(MARK) || list.stderr.includes(MARK), 'no rejected content in flagman list');

  t.is(writer.exitCode, null, 'the FIFO was never opened: its writer is still blocked');
  t.is(fm.proc.exitCode, null, 'flagman is still running');
  t.deepEqual(
    fm.events.filter((e) => e.level >= 50),
    [],
    'no error logged',
  );
  t.log(`flagman list took ${listMs} ms`);
});

// docs/flags.md: at most 10,000 flags are tracked. F00000 … F10000 is one file too many beside MAINT.
const MANY = Array.from({ length: 10_001 }, (_, i) => `F${String(i).padStart(5, '0')}`);
const isManyChange = (e) => e.event === 'flag.change' && /^F\d{5}$/.test(e.flag);
// A settled write applies within 50 ms at p99 (docs/design/watching.md), with up to 10,000 flags; five
// times that for a loaded 2-core machine.
const MAINT_BOUND_MS = 250;
const MAINT_TOGGLES = 8;
// Writes are spread over more than one rescan period (1 s here): a write may land while a full
// pass over 10,000 files runs, or between passes, and both must be fast. This pause is part of the
// measurement (sampling the rescan cycle), not a wait for something that has an event.
const TOGGLE_SPACING_MS = 170;

/**
 * Resolves with the n-th event (after `from`) matching `match`; the counter lives in the predicate.
 * On a timeout the error says how far it got (the helper's own error would list 10,000 events).
 */
async function waitCount(fm, match, n, { from, timeout }, what) {
  let seen = 0;
  try {
    return await fm.waitEvent((e) => match(e) && ++seen >= n, { from, timeout });
  } catch {
    throw new Error(`${what}: ${fm.events.slice(from).filter(match).length} of ${n} within ${timeout} ms`);
  }
}

// The two 10,000-flag tests run one after the other: each keeps a flagman reading 10,000 files a
// second, and together they would starve each other on two cores.
// Known bug, open in issue 3: while 10,000 new flag files arrive at once, request p99 can exceed 200 ms (seen in parallel runs).
test('10,001 flag files written while serving: 10,000 tracked, the excess reported, requests never stall, MAINT still applies promptly', async (t) => {
  t.timeout(scaled(75_000));
  const fm = await setup(t, { rescan: '1s' });
  const from = fm.events.length;
  const load = keepAliveLoad(fm.port, { classify });
  t.teardown(() => load.stop());

  // Written by a child process, so the test's own event loop stays free to measure the proxy.
  const created = Date.now();
  const maker = await execa(
    process.execPath,
    ['-e', `const fs = require('fs'); for (const n of ${JSON.stringify(MANY)}) fs.writeFileSync('flags/' + n, '1\\n');`],
    { cwd: fm.dir, reject: false },
  );
  t.is(maker.exitCode, 0, maker.stderr);
  const createMs = Date.now() - created;
  const warned = await waitCount(
    fm,
    (e) => e.event === 'flags.dir' && /more than 10000 flags/.test(e.problem ?? ''),
    1,
    { from, timeout: 20_000 },
    'the excess reported',
  );
  const reportedMs = Date.now() - created;
  // MAINT was tracked first, so 9,999 of the F-files fit. Settled writes, each to apply within
  // 50 ms (docs/design/watching.md); 25 s is very generous.
  await waitCount(fm, isManyChange, 9_999, { from, timeout: 25_000 }, 'new flag files applied');
  const trackedMs = Date.now() - created;
  const s = await adminStatus(fm);
  const during = await load.stop();

  // MAINT still steers traffic, and how fast. fs.writeFileSync makes the same open(O_TRUNC) +
  // write as `echo N >`, without a shell's start-up in the timing.
  const maintMs = [];
  const routed = [];
  for (let i = 0; i < MAINT_TOGGLES; i++) {
    const value = i % 2 === 0 ? 1 : 0;
    const mark = fm.events.length;
    const t0 = Date.now();
    fs.writeFileSync(path.join(fm.flagsDir, 'MAINT'), `${value}\n`);
    await waitCount(
      fm,
      (e) => e.event === 'flag.change' && e.flag === 'MAINT' && e.value === value,
      1,
      { from: mark, timeout: 10_000 },
      `MAINT ${value} applied`,
    );
    maintMs.push(Date.now() - t0);
    routed.push(`${value}:${classify(await request(fm.port))}`);
    await new Promise((resolve) => setTimeout(resolve, TOGGLE_SPACING_MS));
  }
  const after = await measure(fm.port, AFTER_REQUESTS);
  const get = await flagmanCli(['get', 'MAINT', '-d', fm.flagsDir]);
  const untracked = MANY.filter((n) => !(n in s.flags));
  t.log(
    `10,001 files created in ${createMs} ms; excess reported after ${reportedMs} ms (${JSON.stringify(warned.problem)}); all 9,999 that fit applied after ${trackedMs} ms`,
  );
  t.log(
    `untracked: ${untracked.join(', ')}; /status watcher.problem: ${JSON.stringify(s.watcher.problem)}; rescans so far: ${s.watcher.rescans}`,
  );
  const dirEvents = fm.events
    .slice(from)
    .filter((e) => e.event === 'flags.dir')
    .map((e) => e.problem);
  t.log(`flags.dir events: ${dirEvents.length}: ${[...new Set(dirEvents)].map((p) => JSON.stringify(p)).join(' | ')}`);
  t.log(`MAINT write -> applied, with 10,000 flags tracked: ${maintMs.join(', ')} ms; flagman get MAINT: ${get.stdout.trim()}`);

  t.is(Object.keys(s.flags).length, 10_000, 'exactly 10,000 flags tracked');
  t.regex(s.watcher.problem ?? '', /more than 10000 flags/, 'the excess is in /status');
  t.is(s.flags.MAINT?.value, 0, 'a flag tracked before the flood keeps its place');
  t.is(untracked.length, 2);
  t.is(fm.events.slice(from).filter(isManyChange).length, 9_999, 'no untracked file was ever applied');
  t.deepEqual(
    routed,
    routed.map((r) => (r.startsWith('1:') ? '1:maintenance' : '0:app')),
    'MAINT steers traffic',
  );
  t.is(fm.proc.exitCode, null, 'flagman is still running');
  const violations = [...checkLatency(t, during, 'during the flood'), ...checkLatency(t, after, 'after')];
  const slow = maintMs.filter((ms) => ms > MAINT_BOUND_MS);
  if (slow.length > 0)
    violations.push(
      `MAINT writes applied after ${maintMs.join(', ')} ms: ${slow.length} of ${MAINT_TOGGLES} over ${MAINT_BOUND_MS} ms (docs/design/watching.md: 50 ms p99)`,
    );
  // docs/flags.md: get reads the directory "exactly as the proxy does"; the proxy routes by MAINT=0.
  if (get.stdout.trim() !== '0')
    violations.push(`flagman get MAINT says ${JSON.stringify(get.stdout.trim())} while the proxy routes by MAINT=0`);
  t.deepEqual(violations, [], 'with 10,000 flags, nothing stalls, a write still applies promptly, and the CLI agrees');
});

test.serial('started with 10,001 other flag files, MAINT=1 is still honoured, and the CLI agrees with the proxy', async (t) => {
  t.timeout(scaled(60_000));
  const flags = { MAINT: '1\n' };
  for (const n of MANY) flags[n] = '1\n';
  const fm = await setup(t, { rescan: '1s', flags });
  const s = await adminStatus(fm);
  const get = await flagmanCli(['get', 'MAINT', '-d', fm.flagsDir]);
  const list = await flagmanCli(['list', '-d', fm.flagsDir]);
  const listedMaint = /^MAINT\s+(\S+)/m.exec(list.stdout)?.[1] ?? 'absent';
  const routed = classify(await request(fm.port));
  const proxyMaint = s.flags.MAINT?.value ?? 'untracked';
  t.log(
    `proxy: MAINT ${proxyMaint}, routed to ${routed}; flagman get MAINT: ${get.stdout.trim()}; flagman list: MAINT ${listedMaint}, ${list.stdout.trim().split('\n').length - 1} rows`,
  );
  t.log(
    `untracked by the proxy: ${[...MANY, 'MAINT'].filter((n) => !(n in s.flags)).join(', ')}; watcher.problem: ${JSON.stringify(s.watcher.problem)}`,
  );

  t.is(Object.keys(s.flags).length, 10_000, 'exactly 10,000 flags tracked once started');
  t.regex(s.watcher.problem ?? '', /more than 10000 flags/, 'the excess is in /status');
  t.true(
    fm.events.some((e) => e.event === 'flags.dir' && /more than 10000 flags/.test(e.problem ?? '')),
    'the excess is logged',
  );
  t.is(get.exitCode, 0);
  t.is(list.exitCode, 0);
  const wrong = [];
  // Which 10,000 are tracked must not depend on a restart: the flag the rules use is honoured.
  if (proxyMaint !== 1) wrong.push(`the proxy does not track MAINT=1 at start (it has ${proxyMaint}) and routes to ${routed}`);
  // docs/flags.md: get and list read the directory "exactly as the proxy does", problems included.
  if (get.stdout.trim() !== String(s.flags.MAINT?.value ?? 'unset'))
    wrong.push(`flagman get MAINT says ${get.stdout.trim()}, the proxy has ${proxyMaint}`);
  if (!/more than 10000 flags|not tracked/.test(`${list.stdout}\n${list.stderr}`)) wrong.push('flagman list does not report the excess');
  t.deepEqual(wrong, [], 'a restart or the CLI sees the same flags as the running proxy');
});
