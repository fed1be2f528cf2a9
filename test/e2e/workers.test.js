// `workers: N` (issue 4): N processes serve the frontends, fed by one flag store in the primary.
// Every worker follows a flag change, a health change and a reload; the counters in /status and
// /metrics add up across them; a worker that dies is replaced; SIGTERM stops them all gracefully.
import fs from 'node:fs';
import net from 'node:net';
import test from 'ava';
import { adminStatus, request, saveConfig, sh, startFlagman, upstream } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';
import { scaled } from '../helpers/slow.js';

const CONFIG = maintenanceConfig({
  top: 'workers: 2',
  rescan: '10s',
  app: '    health: { type: tcp, interval: 100ms, timeout: 500ms, rise: 1, fall: 1 }\n    fallback: maintenance\n',
});

const label = (r) => (r.status === 200 ? r.body : r.status === 503 ? 'maintenance' : `other ${r.status}`);

/** `n` requests, each on a new connection (the primary deals connections out to the workers in turn). */
async function burst(fm, n) {
  const from = fm.access.length;
  const out = [];
  for (let i = 0; i < n; i++) out.push(label(await request(fm.port)));
  // Access lines are written asynchronously: wait for all n (each names its worker).
  const deadline = Date.now() + 5000;
  while (fm.access.length < from + n && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
  return { labels: out, lines: fm.access.slice(from, from + n) };
}

const byWorker = (lines) => lines.reduce((m, l) => ({ ...m, [l.worker]: [...(m[l.worker] ?? []), l.status] }), {});

test('two workers: both serve, counters add up in /status, and a flag change reaches every worker', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port }, flags: { MAINT: '0\n' }, captureAccess: true });
  let s = await adminStatus(fm);
  t.is(s.workers.length, 2);
  t.true(
    s.workers.every((pid) => Number.isInteger(pid) && pid !== fm.proc.pid),
    'two worker processes besides the primary',
  );

  const first = await burst(fm, 20);
  t.deepEqual([...new Set(first.labels)], ['app']);
  t.deepEqual(Object.keys(byWorker(first.lines)).sort(), ['1', '2'], 'both workers served');
  s = await adminStatus(fm);
  t.is(s.frontends.web.requests, 20, 'the frontend count adds up across workers');
  t.is(s.frontends.web.responses['2xx'], 20);
  t.is(s.backends.app.requests, 20);
  t.is(s.backends.app.servers.app1.requests, 20);
  t.is(s.backends.app.servers.app1.active, 0);
  // Each worker caps its own client connections by the descriptor limit: the caps add up.
  t.true(s.process.maxConnections > (s.process.fdLimit - s.process.fdReserve) / 2, `the workers' caps: ${s.process.maxConnections}`);
  t.is(s.process.refusedConnections, 0);

  // The flag store is the primary's; each worker applies the change it is sent.
  const from = fm.events.length;
  const written = Date.now();
  await sh('echo 1 > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 1, { from });
  let applied = null;
  for (let i = 0; i < 200 && applied === null; i++) {
    const b = await burst(fm, 4);
    if (b.labels.every((l) => l === 'maintenance')) applied = Date.now() - written;
  }
  t.not(applied, null, 'every worker switched');
  const after = await burst(fm, 10);
  t.deepEqual([...new Set(after.labels)], ['maintenance']);
  t.deepEqual(byWorker(after.lines), { 1: [503, 503, 503, 503, 503], 2: [503, 503, 503, 503, 503] }, 'both workers apply MAINT=1');
  t.log(`write → both workers routing by MAINT=1: ${applied} ms (the requests themselves included)`);
  t.falsy(
    fm.events.find((e) => e.event === 'flag.change' && e.worker !== undefined),
    'flag changes are logged once, by the primary',
  );

  const m = await request(fm.adminPort, { path: '/metrics' });
  s = await adminStatus(fm);
  t.regex(m.body, new RegExp(`flagman_frontend_requests_total\\{frontend="web"\\} ${s.frontends.web.requests}\\n`), '/metrics adds up too');
});

test('two workers: health decided once by the primary and followed by both; a reload reaches both', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port }, flags: { MAINT: '0\n' }, captureAccess: true });
  t.deepEqual([...new Set((await burst(fm, 6)).labels)], ['app']);
  // The server goes away: the primary's checks take it down, the workers fall back.
  const port = app.port;
  app.server.closeAllConnections();
  await new Promise((resolve) => app.server.close(resolve));
  await fm.waitEvent((e) => e.event === 'server.state' && e.server === 'app1' && e.to === 'down', { timeout: 10_000 });
  const down = await burst(fm, 10);
  t.deepEqual([...new Set(down.labels)], ['maintenance'], 'both workers stop sending to a down server');
  t.deepEqual(Object.keys(byWorker(down.lines)).sort(), ['1', '2']);
  t.is(fm.events.filter((e) => e.event === 'server.state' && e.to === 'down').length, 1, 'one state change, logged once');
  await new Promise((resolve) => app.server.listen(port, '127.0.0.1', resolve));
  await fm.waitEvent((e) => e.event === 'server.state' && e.server === 'app1' && e.to === 'up', { timeout: 10_000 });
  t.deepEqual([...new Set((await burst(fm, 6)).labels)], ['app']);

  // A reload that adds a rule: every worker follows, and /status says generation 2.
  const from = fm.events.length;
  fs.writeFileSync(
    fm.configFile,
    fs
      .readFileSync(fm.configFile, 'utf8')
      .replace('      - use: app\n', '      - when: request.path == "/gone"\n        use: maintenance\n      - use: app\n'),
  );
  fm.proc.kill('SIGHUP');
  const e = await fm.waitEvent((x) => x.event === 'reload' || x.event === 'reload.failed', { from, timeout: 10_000 });
  t.is(e.event, 'reload', JSON.stringify(e));
  const gone = [];
  const from2 = fm.access.length;
  for (let i = 0; i < 6; i++) gone.push(label(await request(fm.port, { path: '/gone' })));
  t.deepEqual([...new Set(gone)], ['maintenance']);
  const deadline = Date.now() + 5000;
  while (fm.access.length < from2 + 6 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(Object.keys(byWorker(fm.access.slice(from2))).sort(), ['1', '2'], 'both workers reloaded');
  t.is((await adminStatus(fm)).config.generation, 2);
});

test('a worker that dies is replaced; its requests stay counted; SIGTERM stops every process, exit 0', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port }, flags: { MAINT: '0\n' }, captureAccess: true });
  await burst(fm, 10);
  const before = await adminStatus(fm);
  t.is(before.frontends.web.requests, 10);
  const victim = before.workers[0];
  process.kill(victim, 'SIGKILL');
  const exit = await fm.waitEvent((e) => e.event === 'worker.exit', { timeout: 10_000 });
  t.is(exit.signal, 'SIGKILL');
  const again = await fm.waitEvent((e) => e.event === 'worker.start', { timeout: 10_000 });
  t.is(again.worker, exit.worker);
  const now = await adminStatus(fm);
  t.true(now.workers.includes(again.pid), 'the new worker is listed');
  t.false(now.workers.includes(victim), 'a new worker took its place');
  t.is(now.workers.filter((p) => Number.isInteger(p)).length, 2);
  t.true(now.frontends.web.requests >= 10, "the dead worker's requests are still counted");
  t.deepEqual([...new Set((await burst(fm, 10)).labels)], ['app']);
  t.is((await adminStatus(fm)).frontends.web.requests, 20);

  const pids = (await adminStatus(fm)).workers;
  fm.proc.kill('SIGTERM');
  const r = await fm.exited;
  t.is(
    r.exitCode,
    0,
    `exit ${r.exitCode} ${r.signal}; ${fm.events
      .slice(-4)
      .map((e) => JSON.stringify(e))
      .join(' ')}`,
  );
  for (const pid of pids) t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} is gone`);
});

test('workers: auto and bad values', async (t) => {
  const { flagmanCli, tempDir } = await import('../helpers/e2e.js');
  const dir = tempDir(t);
  const file = `${dir}/flagman.yaml`;
  fs.mkdirSync(`${dir}/flags`, { mode: 0o755 });
  fs.writeFileSync(file, CONFIG.replace('workers: 2', 'workers: auto').replace('{{app}}', '1'));
  t.is((await flagmanCli(['check', '-c', file])).exitCode, 0);
  fs.writeFileSync(file, CONFIG.replace('workers: 2', 'workers: many').replace('{{app}}', '1'));
  const bad = await flagmanCli(['check', '-c', file]);
  t.is(bad.exitCode, 1);
  t.regex(bad.stderr, /CONFIG_SCHEMA: workers: expected a whole number from 1 to 64, or auto.* \(.*flagman\.yaml:1:\d+\)/);
  fs.writeFileSync(file, CONFIG.replace('workers: 2', 'workers: 0').replace('{{app}}', '1'));
  t.regex(
    (await flagmanCli(['check', '-c', file])).stderr,
    /CONFIG_SCHEMA: workers: must be from 1 to 64, not 0 \(.*flagman\.yaml:1:\d+\)/,
  );
});

test('two workers behind systemd socket activation: the primary holds the inherited socket, both workers serve', async (t) => {
  const { execa } = await import('execa');
  const { flagmanCommand, tempDir } = await import('../helpers/e2e.js');
  const net = await import('node:net');
  const dir = tempDir(t);
  fs.mkdirSync(`${dir}/flags`, { mode: 0o755 });
  fs.writeFileSync(
    `${dir}/flagman.yaml`,
    'workers: 2\nflags: { dir: ./flags }\nfrontends:\n  web:\n    listen: ["systemd:web"]\n    rules: [{ use: hello }]\nbackends:\n  hello:\n    respond: { status: 200, body: "hi" }\n',
  );
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const proc = execa(
    'systemd-socket-activate',
    ['-l', `127.0.0.1:${port}`, '--fdname=web', ...flagmanCommand, 'run', '-c', `${dir}/flagman.yaml`],
    { reject: false, buffer: false, cleanup: true },
  );
  t.teardown(() => proc.kill('SIGTERM'));
  const { eachLine } = await import('../helpers/e2e.js');
  const access = [];
  eachLine(proc.stdout, (l) => {
    try {
      access.push(JSON.parse(l));
    } catch {
      access.push({ unparsed: l }); // a throw here would be an uncaught exception
    }
  });
  // systemd-socket-activate's stderr, then flagman's: each wait ends with its line, or fails with
  // the lines so far when the process exits or the time startFlagman gives a start runs out.
  const stderr = [];
  const waiting = new Set();
  eachLine(proc.stderr, (l) => {
    stderr.push(l);
    for (const w of waiting) w(l);
  });
  const stderrLine = (re) =>
    new Promise((resolve, reject) => {
      if (stderr.some((l) => re.test(l))) return resolve();
      waiting.add((l) => re.test(l) && resolve());
      void proc.then((r) => reject(new Error(`exited (${r.exitCode}) before /${re.source}/:\n${stderr.join('\n')}`)));
      setTimeout(() => reject(new Error(`no /${re.source}/ within ${scaled(30_000)} ms:\n${stderr.join('\n')}`)), scaled(30_000)).unref();
    });
  const started = stderrLine(/"event":"start"/);
  started.catch(() => {}); // awaited below, after the first request
  // It starts flagman at the first connection, which it can take once it listens; that connection
  // waits in the socket's backlog until flagman is up. (A connection made before it listens is
  // refused, and flagman never starts.)
  await stderrLine(/^Listening on /);
  const first = request(port);
  first.catch(() => {}); // awaited once flagman is up; if it never is, that is the failure to report
  await started;
  t.is((await first).body, 'hi');
  for (let i = 0; i < 9; i++) t.is((await request(port)).body, 'hi');
  const deadline = Date.now() + 5000;
  while (access.length < 10 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual([...new Set(access.map((a) => a.worker))].sort(), [1, 2], 'both workers accepted from the inherited socket');
  proc.kill('SIGTERM');
  t.is((await proc).exitCode, 0);
});

test("a reload the workers cannot apply: reload.failed names each worker's error and carries its codes; the old config serves", async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port }, flags: { MAINT: '0\n' } });
  // An address another process holds: the workers listen, not the primary, so only they fail.
  const busy = net.createServer();
  await new Promise((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => busy.close());
  const from = fm.events.length;
  const text = fs
    .readFileSync(fm.configFile, 'utf8')
    .replace('backends:\n', `  extra:\n    listen: ["127.0.0.1:${busy.address().port}"]\n    rules: [{ use: app }]\nbackends:\n`);
  saveConfig(fm, text); // by rename: flagman's watch of the file reloads once
  const e = await fm.waitEvent((x) => x.event === 'reload' || x.event === 'reload.failed', { from, timeout: 10_000 });
  t.is(e.event, 'reload.failed', JSON.stringify(e));
  t.deepEqual(e.codes, ['LISTEN']);
  t.regex(e.error, /^worker \d: .*address in use/);
  const s = await adminStatus(fm);
  t.is(s.config.lastReload.ok, false);
  t.is(s.config.generation, 2, "the primary's new generation (docs/workers.md)");
  t.is(label(await request(fm.port)), 'app', 'the workers serve on');
});
