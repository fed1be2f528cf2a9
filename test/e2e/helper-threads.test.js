// The serving thread first (src/helper-threads.ts, docs/proxying.md "Threads"): every thread of a
// flagman process but the one that serves runs 10 nice levels below it, from the start, after a
// reload, and in each worker process; FLAGMAN_HELPER_NICE=off leaves them as they are, and any
// other value is refused before anything starts.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { maintenanceConfig } from '../helpers/configs.js';
import { launcherPath, request, startFlagman, upstream } from '../helpers/e2e.js';

// No admin endpoint; `{{workers}}` is `workers: 2` or nothing.
const CONFIG = maintenanceConfig({ admin: false, top: '{{workers}}' });

/** Each thread of `pid` with its nice value (field 19 of /proc/PID/task/TID/stat). */
function niceByThread(pid) {
  const out = new Map();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    // The command name may hold spaces and parentheses: the fields start after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), Number(fields[16]));
  }
  return out;
}

/** The serving thread's nice, and every other thread's. */
function split(pid) {
  const all = niceByThread(pid);
  const main = all.get(pid);
  all.delete(pid);
  return { main, others: [...all.values()] };
}

const linux = process.platform === 'linux' ? test : test.skip;

linux('every thread but the serving one runs 10 nice levels below it, from the start and after a reload', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, workers: '' }, launcher: true });
  const { pid } = await fm.waitEvent((e) => e.event === 'start');
  const started = split(pid);
  // V8's helper threads at least (4 by default) and libuv's pool (4, started by the start's reads).
  t.true(started.others.length >= 4, `${started.others.length} other threads`);
  t.deepEqual(
    started.others.filter((n) => n !== Math.min(19, started.main + 10)),
    [],
    `serving thread at ${started.main}, others at ${started.others}`,
  );
  t.is((await request(fm.port)).status, 200);
  const from = fm.events.length;
  fm.proc.kill('SIGHUP');
  t.is((await fm.waitEvent((e) => e.event === 'reload' || e.event === 'reload.failed', { from })).event, 'reload');
  const reloaded = split(pid);
  t.is(reloaded.main, started.main, 'the serving thread keeps its priority');
  t.deepEqual(
    reloaded.others.filter((n) => n !== Math.min(19, reloaded.main + 10)),
    [],
  );
  t.is((await request(fm.port)).status, 200);
});

linux('with workers, each worker process lowers its own helper threads', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, workers: 'workers: 2' }, launcher: true });
  const start = await fm.waitEvent((e) => e.event === 'start');
  t.is(start.workers.length, 2);
  // A worker lowers its threads before it tells the primary it is ready, and the primary's start
  // event waits for every worker's ready.
  for (const pid of [start.pid, ...start.workers]) {
    const s = split(pid);
    t.deepEqual(
      s.others.filter((n) => n !== Math.min(19, s.main + 10)),
      [],
      `process ${pid}: serving thread at ${s.main}, others at ${s.others}`,
    );
  }
  t.is((await request(fm.port)).status, 200);
});

linux('FLAGMAN_HELPER_NICE=off leaves every thread at the serving one’s priority; another value is refused, naming it', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, workers: '' }, launcher: true, env: { FLAGMAN_HELPER_NICE: 'off' } });
  const { pid } = await fm.waitEvent((e) => e.event === 'start');
  const s = split(pid);
  t.deepEqual(
    s.others.filter((n) => n !== s.main),
    [],
  );
  const bad = await execa(launcherPath, ['run', '-c', path.join(fm.dir, 'flagman.yaml')], {
    reject: false,
    timeout: 20_000,
    env: { FLAGMAN_HELPER_NICE: 'yes' },
  });
  t.is(bad.exitCode, 2);
  t.regex(bad.stderr, /FLAGMAN_HELPER_NICE must be on or off, not "yes"/);
});
