// `workers: N`: what a worker's end leaves behind. A worker killed under load loses at most its last
// counter report (sent every 100 ms) and its last access-log batch; at shutdown each worker reaches
// the deadline, cuts what is still in flight, and logs it as the single process does.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import test from 'ava';
import { adminStatus, keepAliveLoad, startFlagman, tempDir, upstream, waitFor } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';

// The window docs/workers.md states for a killed worker's counters.
const STATS_WINDOW_MS = 100;
// An access batch is at most PIPE_BUF bytes of whole lines (log.ts).
const ACCESS_BATCH_BYTES = 4096;

const HELLO = `workers: 2
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules: [{ use: hello }]
backends:
  hello:
    respond: { status: 200, body: "hi" }
`;

const received = (r) => Object.values(r.labels).reduce((a, b) => a + b, 0);

test('a worker killed under load: its counters are lost for at most the report window, its access lines for one batch', async (t) => {
  // The access log to a file: a batch is written at once (no pipe reader to wait for), so a
  // SIGKILL loses exactly the batch not written yet.
  const log = path.join(tempDir(t), 'access.log');
  const fm = await startFlagman(t, HELLO, { stdoutFile: log });
  const [victim] = (await adminStatus(fm)).workers;
  // Keep-alive clients: each connection stays with the worker that accepted it, so both serve.
  const loads = Array.from({ length: 4 }, () => keepAliveLoad(fm.port));
  const started = performance.now();
  await waitFor(() => loads.every((l) => l.result.count >= 50), { timeout: 30_000, what: 'traffic on every client' });
  const s0 = (await adminStatus(fm)).frontends.web.requests;
  const asked = performance.now();
  const answered = () => loads.reduce((n, l) => n + received(l.result), 0);
  const before = answered();
  // A second of traffic nobody asks the counters of: without reports, what the victim serves in it
  // is known to it alone.
  await waitFor(() => performance.now() - asked > 1000 && loads.every((l) => l.result.count >= 300), {
    timeout: 30_000,
    what: 'a second of traffic',
  });
  // The rate when the worker dies: a loaded machine can make it much higher than the average.
  const rate = (answered() - before) / (performance.now() - asked);
  const from = fm.events.length;
  process.kill(victim, 'SIGKILL');
  const exit = await fm.waitEvent((e) => e.event === 'worker.exit', { from, timeout: 10_000 });
  t.is(exit.pid, victim);
  t.is(exit.signal, 'SIGKILL');
  const s1 = (await adminStatus(fm)).frontends.web.requests;
  await fm.waitEvent((e) => e.event === 'worker.start', { from, timeout: 10_000 });
  const s2 = (await adminStatus(fm)).frontends.web.requests;
  const results = await Promise.all(loads.map((l) => l.stop()));
  const elapsed = performance.now() - started;
  const got = results.reduce((n, r) => n + received(r), 0);
  const sent = results.reduce((n, r) => n + r.count, 0);
  // The report window's worth of requests at the rate measured (both workers: twice the victim's),
  // doubled again: on a loaded machine the worker's 100 ms timer itself can run late. Before
  // incremental reports ~4.5 windows were lost (672 against 149), so this still tells them apart.
  const perWindow = Math.max(rate, got / elapsed) * STATS_WINDOW_MS;
  const allowed = Math.ceil(4 * perWindow);
  const final = (await adminStatus(fm)).frontends.web;
  t.log(
    `${got} responses in ${Math.round(elapsed)} ms (${Math.round(perWindow)} a window), ${sent - got} cut by the kill; /status: ${final.requests} requests, ${final.responses['2xx']} 2xx, ${got - final.requests} lost (${allowed} allowed)`,
  );
  t.true(s0 <= s1 && s1 <= s2 && s2 <= final.requests, `the counters never go backwards: ${s0}, ${s1}, ${s2}, ${final.requests}`);
  t.true(
    final.requests >= got - allowed,
    `requests counted: ${final.requests}, answered: ${got}: ${got - final.requests} lost, ${allowed} allowed`,
  );
  t.true(final.requests <= sent, `no request counted twice: ${final.requests} counted, ${sent} sent`);
  t.true(
    final.responses['2xx'] >= got - allowed && final.responses['2xx'] <= got,
    `2xx counted: ${final.responses['2xx']}, answered: ${got}`,
  );
  t.is(final.active, 0);

  // The victim's last batch, unwritten when it was killed, is lost; every other line is written.
  fm.proc.kill('SIGTERM');
  t.is((await fm.exited).exitCode, 0);
  const lines = fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  const batchLines = Math.floor(ACCESS_BATCH_BYTES / Math.min(...lines.map((l) => l.length + 1)));
  t.log(`${lines.length} access lines, ${got - lines.length} missing (one batch: ${batchLines} lines at most)`);
  t.true(lines.length >= got - batchLines, `${got - lines.length} access lines missing, one batch is ${batchLines} at most`);
  t.true(lines.length <= sent);
});

test('shutdown with workers: requests cut at the deadline are logged with "reason":"shutdown"', async (t) => {
  const held = new Set();
  // Holds every request 5 s: longer than timeouts.shutdown.
  const app = await upstream(t, 'app', (_req, res) => {
    const timer = setTimeout(() => res.end('late'), 5000);
    held.add(timer);
  });
  t.teardown(() => held.forEach(clearTimeout));
  const fm = await startFlagman(t, maintenanceConfig({ top: 'workers: 2\ntimeouts: { shutdown: 1s }' }), {
    vars: { app: app.port },
    flags: { MAINT: '0\n' },
    captureAccess: true,
  });
  const N = 6;
  // One connection each: the primary deals them out to both workers.
  const clients = Array.from(
    { length: N },
    (_, i) =>
      new Promise((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: fm.port, path: `/held/${i}`, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(`status ${res.statusCode}`));
          res.on('error', (err) => resolve(err.message));
        });
        req.on('error', (err) => resolve(err.message));
      }),
  );
  await waitFor(() => app.seen.length === N, { timeout: 10_000, what: `${N} requests held by the app` });
  fm.proc.kill('SIGTERM');
  const r = await fm.exited;
  t.is(r.exitCode, 0);
  t.log(await Promise.all(clients));
  const lines = fm.access.filter((l) => l.path.startsWith('/held/'));
  t.is(lines.length, N, JSON.stringify(fm.access));
  for (const l of lines) t.like(l, { reason: 'shutdown', status: 0 }, JSON.stringify(l));
  t.deepEqual([...new Set(lines.map((l) => l.worker))].sort(), [1, 2], 'both workers cut theirs');
});
