// Logs (docs/logs.md): the access log is one JSON line per request on stdout; `log.access: off` turns it
// off; events (flag changes, reloads) are JSON lines on stderr.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { request, sh, startFlagman, tempDir, upstream, waitFor } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';

const config = (access) => maintenanceConfig({ admin: false, top: `log: { access: ${access} }` });

test('one JSON access line per request on stdout, with every field; events on stderr', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, config('on'), { vars: { app: app.port }, flags: { MAINT: '0\n' }, captureAccess: true });
  await request(fm.port, { path: '/a?x=1', headers: { 'user-agent': 'test' } });
  await request(fm.port, { method: 'POST', path: '/b', body: 'hello' });
  const from = fm.events.length;
  await sh('echo 1 > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 1, { from });
  await request(fm.port, { path: '/c' });
  await waitFor(() => fm.access.length >= 3, { what: 'three access lines' });
  t.is(fm.access.length, 3);
  const [a, b, c] = fm.access;
  for (const line of fm.access) {
    for (const k of ['time', 'frontend', 'backend', 'server', 'method', 'path', 'status', 'bytes', 'ms', 'ip']) t.true(k in line, `${k} in ${JSON.stringify(line)}`);
    t.is(line.frontend, 'web');
    t.is(line.ip, '127.0.0.1');
    t.is(typeof line.ms, 'number');
  }
  t.like(a, { backend: 'app', server: 'app1', method: 'GET', path: '/a?x=1', status: 200, bytes: 3 });
  t.like(b, { backend: 'app', server: 'app1', method: 'POST', path: '/b', status: 200 });
  t.like(c, { backend: 'maintenance', server: null, path: '/c', status: 503, bytes: 12 });
  t.truthy(fm.events.find((e) => e.event === 'flag.change' && e.flag === 'MAINT' && e.value === 1), 'the flag change is an event line on stderr');
  t.falsy(fm.events.find((e) => e.path === '/a?x=1'), 'no access line on stderr');
});

test('access log to a file (`flagman run > access.log`): every line, in order, written as requests end', async (t) => {
  const app = await upstream(t, 'app');
  const file = path.join(tempDir(t), 'access.log');
  const fm = await startFlagman(t, config('on'), { vars: { app: app.port }, flags: { MAINT: '0\n' }, stdoutFile: file });
  for (let i = 0; i < 20; i++) t.is((await request(fm.port, { path: `/f${i}` })).status, 200);
  const lines = () => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  // Batches go out within a few milliseconds of their first line, without waiting for the exit.
  await waitFor(() => lines().length >= 20, { what: 'twenty lines in the file' });
  t.deepEqual(lines().map((l) => JSON.parse(l).path), Array.from({ length: 20 }, (_, i) => `/f${i}`));
  fm.proc.kill('SIGTERM');
  t.is((await fm.exited).exitCode, 0);
  t.is(lines().length, 20);
});

test('log.access: off writes no access line', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, config('off'), { vars: { app: app.port }, flags: { MAINT: '0\n' }, captureAccess: true });
  for (let i = 0; i < 5; i++) t.is((await request(fm.port)).status, 200);
  // The access log is asynchronous: SIGTERM flushes it before exit, so after exit nothing is pending.
  fm.proc.kill('SIGTERM');
  const r = await fm.exited;
  t.is(r.exitCode, 0);
  t.deepEqual(fm.access, []);
});
