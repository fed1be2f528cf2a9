// Logs (docs/logs.md): the access log is one JSON line per request on stdout; `log.access: off` turns it
// off; events (flag changes, reloads) are JSON lines on stderr.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import http from 'node:http';
import { freePort, request, sh, startFlagman, tempDir, upstream, waitFor } from '../helpers/e2e.js';
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
    for (const k of ['time', 'frontend', 'backend', 'server', 'method', 'path', 'status', 'bytes', 'ms', 'ip'])
      t.true(k in line, `${k} in ${JSON.stringify(line)}`);
    t.is(line.frontend, 'web');
    t.is(line.ip, '127.0.0.1');
    t.is(typeof line.ms, 'number');
  }
  t.like(a, { backend: 'app', server: 'app1', method: 'GET', path: '/a?x=1', status: 200, bytes: 3 });
  t.like(b, { backend: 'app', server: 'app1', method: 'POST', path: '/b', status: 200 });
  t.like(c, { backend: 'maintenance', server: null, path: '/c', status: 503, bytes: 12 });
  t.truthy(
    fm.events.find((e) => e.event === 'flag.change' && e.flag === 'MAINT' && e.value === 1),
    'the flag change is an event line on stderr',
  );
  t.falsy(
    fm.events.find((e) => e.path === '/a?x=1'),
    'no access line on stderr',
  );
});

test('access log to a file (`flagman run > access.log`): every line, in order, written as requests end', async (t) => {
  const app = await upstream(t, 'app');
  const file = path.join(tempDir(t), 'access.log');
  const fm = await startFlagman(t, config('on'), { vars: { app: app.port }, flags: { MAINT: '0\n' }, stdoutFile: file });
  for (let i = 0; i < 20; i++) t.is((await request(fm.port, { path: `/f${i}` })).status, 200);
  const lines = () => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  // Batches go out within a few milliseconds of their first line, without waiting for the exit.
  await waitFor(() => lines().length >= 20, { what: 'twenty lines in the file' });
  t.deepEqual(
    lines().map((l) => JSON.parse(l).path),
    Array.from({ length: 20 }, (_, i) => `/f${i}`),
  );
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

test('the timers, the protocol, the tries and the body bytes: a new connection to the server, then a reused one, then a dead server passed over', async (t) => {
  const app = await upstream(t, 'app');
  const dead = await freePort();
  const servers = { dead: `{ address: "127.0.0.1:${dead}" }`, app1: '{ address: "127.0.0.1:{{app}}" }' };
  const fm = await startFlagman(t, maintenanceConfig({ admin: false, servers }), {
    vars: { app: app.port },
    flags: { MAINT: '0\n' },
    captureAccess: true,
  });
  // One kept-alive client connection for the three requests.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const send = (p, body) =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: fm.port, path: p, method: body ? 'POST' : 'GET', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end(body);
    });
  // roundrobin picks `dead` first: refused, then app1.
  t.is(await send('/first', 'hello world'), 200);
  t.is(await send('/second'), 200);
  const [first, second] = await waitFor(() => (fm.access.length >= 2 ? fm.access : null), { what: 'two access lines' });
  t.like(first, { path: '/first', server: 'app1', proto: 'HTTP/1.1', tries: 2, bytesIn: 11, bytes: 3 });
  t.like(second, { path: '/second', server: 'app1', tries: 1, bytesIn: 0, connectMs: 0 });
  t.true(first.connectMs > 0 && first.connectMs < first.ms, `a new connection took ${first.connectMs} ms to connect`);
  for (const line of [first, second]) {
    t.true(line.ttfbMs >= 0 && line.ttfbMs <= line.ms, `ttfbMs ${line.ttfbMs} within ms ${line.ms}`);
    t.true(line.headMs >= 0, `headMs ${line.headMs}`);
    t.false('tls' in line, 'a plain connection has no TLS version');
  }
});

test('log.access.fields: JSON lines with just those fields, in that order', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, maintenanceConfig({ admin: false, top: 'log: { access: { fields: [status, path, ttfbMs, ms] } }' }), {
    vars: { app: app.port },
    flags: { MAINT: '0\n' },
    captureAccess: true,
  });
  t.is((await request(fm.port, { path: '/picked' })).status, 200);
  const line = await waitFor(() => fm.access[0], { what: 'the access line' });
  t.deepEqual(Object.keys(line), ['level', 'time', 'status', 'path', 'ttfbMs', 'ms']);
  t.like(line, { status: 200, path: '/picked' });
});

test('log.access.format: clf writes the combined log format, hostile bytes escaped', async (t) => {
  const app = await upstream(t, 'app');
  const file = path.join(tempDir(t), 'access.log');
  const fm = await startFlagman(t, maintenanceConfig({ admin: false, top: 'log: { access: { format: clf } }' }), {
    vars: { app: app.port },
    flags: { MAINT: '0\n' },
    stdoutFile: file,
  });
  t.is(
    (await request(fm.port, { path: '/clf?a=1', headers: { 'user-agent': 'agent "quoted" \\ x', referer: 'https://shop.example/' } }))
      .status,
    200,
  );
  const lines = () => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  await waitFor(() => lines().length >= 1, { what: 'the line in the file' });
  t.regex(
    lines()[0],
    /^127\.0\.0\.1 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/clf\?a=1 HTTP\/1\.1" 200 3 "https:\/\/shop\.example\/" "agent \\x22quoted\\x22 \\x5c x"$/,
  );
});
