// The admin endpoint's /status (docs/admin.md): read-only JSON with flags (value, note, changedAt,
// problem), frontends, backends and servers with their counters, and the watcher.
import test from 'ava';
import { request, sh, startFlagman, upstream } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';

const CONFIG = maintenanceConfig({
  rescan: '500ms',
  servers: { app1: '{ address: "127.0.0.1:{{app}}" }', app2: `{ address: "127.0.0.1:{{app}}", weight: 'flag("app2.weight", 1)' }` },
});

async function status(fm) {
  const r = await request(fm.adminPort, { path: '/status' });
  return JSON.parse(r.body);
}

test('/status shows flags, counters, server states and the watcher', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port }, flags: { MAINT: '0 # all good\n' } });
  for (let i = 0; i < 4; i++) await request(fm.port);
  let from = fm.events.length;
  await sh('echo 0 > flags/app2.weight && echo "1 # db migration" > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 1, { from });
  await fm.waitFlag('app2.weight', 0, { from });
  await request(fm.port);
  from = fm.events.length;
  await sh('echo banana > flags/BROKEN', fm.dir);
  await fm.waitEvent((e) => e.event === 'flag.problem' && e.flag === 'BROKEN', { from });

  const s = await status(fm);
  t.is(s.pid, fm.proc.pid);
  t.is(typeof s.version, 'string');
  t.truthy(Date.parse(s.startedAt));
  t.is(s.config.file, fm.configFile);
  t.is(s.config.generation, 1);
  t.deepEqual(s.config.lastReload.ok, true);
  t.is(s.config.lastReload.error, null);

  t.is(s.flags.MAINT.value, 1);
  t.is(s.flags.MAINT.note, 'db migration');
  t.truthy(Date.parse(s.flags.MAINT.changedAt));
  t.is(s.flags.MAINT.problem, null);
  t.is(s.flags['app2.weight'].value, 0);
  t.is(s.flags.BROKEN.value, null);
  t.is(typeof s.flags.BROKEN.problem, 'string');
  t.false(JSON.stringify(s).includes('banana'), 'no content of a rejected file in status');

  t.is(s.frontends.web.requests, 5);
  t.is(s.frontends.web.active, 0);
  t.is(s.frontends.web.responses['2xx'], 4);
  t.is(s.frontends.web.responses['5xx'], 1);
  t.like(s.frontends.web, { mode: 'http', bytesIn: null, bytesOut: null }, 'bytes are counted for tcp frontends only');
  t.is(s.backends.app.requests, 4);
  t.is(s.backends.maintenance.requests, 1);
  for (const name of ['app1', 'app2']) {
    const { connectMs, ttfbMs, ...counters } = s.backends.app.servers[name];
    t.deepEqual(counters, {
      state: name === 'app1' ? 'up' : 'drain',
      weight: name === 'app1' ? 1 : 0,
      maxconn: 0,
      active: 0,
      requests: 2,
      failures: 0,
      bytesIn: null,
      bytesOut: null,
    });
    // Latency (docs/admin.md): both requests' time to first byte, and the connects of those that opened a connection.
    t.is(ttfbMs.count, 2, `${name} ttfbMs`);
    t.is(ttfbMs.buckets['+Inf'], 2);
    t.true(connectMs.count >= 1 && connectMs.count <= 2, `${name} connectMs: ${connectMs.count}`);
  }
  t.like(s.frontends.web.durationMs, { count: 5, buckets: { '+Inf': 5 } }, 'every request is timed, the 503 too');
  t.like(s.backends.app.durationMs, { count: 4 });
  t.like(s.backends.maintenance.durationMs, { count: 1 });
  // No maxconn, so nothing ever waited; a backend without servers has no queue.
  t.like(s.backends.app.queue, { length: 0, max: null, timeoutMs: 5000, queued: 0, timeouts: 0, full: 0, waitMs: { count: 0, sum: 0 } });
  t.is(s.backends.maintenance.queue, null);

  t.is(s.watcher.mode, 'events');
  t.is(s.watcher.problem, null);
  t.true(s.watcher.rescans >= 0);

  // The descriptor limit (read from /proc/self/limits on Linux) and the client connections it caps.
  const p = s.process;
  t.true(Number.isInteger(p.fdLimit) && p.fdLimit > 0, `fdLimit ${p.fdLimit}`);
  t.is(p.fdReserve, Math.max(16, Math.ceil(p.fdLimit / 32)));
  t.true(
    Number.isInteger(p.maxConnections) && p.maxConnections >= 1 && p.maxConnections <= (p.fdLimit - p.fdReserve) / 2,
    `maxConnections ${p.maxConnections}`,
  );
  t.true(p.connections >= 0 && p.connections <= 1, "the last request's connection at most");
  t.is(p.refusedConnections, 0);
});

test('the admin endpoint refuses anything but GET and HEAD', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port } });
  const r = await request(fm.adminPort, { method: 'POST', path: '/status', body: '{}' });
  t.is(r.status, 405);
  t.is(r.headers.allow, 'GET, HEAD');
  t.is((await request(fm.adminPort, { path: '/nope' })).status, 404);
});

test('/ serves the dashboard: one self-contained page under a strict Content-Security-Policy', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port } });
  const r = await request(fm.adminPort, { path: '/' });
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'text/html; charset=utf-8');
  t.is(r.headers['cache-control'], 'no-store');
  const csp = r.headers['content-security-policy'];
  t.regex(csp, /default-src 'none'/);
  t.regex(csp, /script-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)/);
  t.regex(csp, /style-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)/);
  t.regex(csp, /connect-src 'self'/);
  t.notRegex(csp, /unsafe/);
  t.regex(r.body, /^<!doctype html>/);
  t.notRegex(r.body, /\s(src|href)="(?!data:)/, 'no external resource');
  const head = await request(fm.adminPort, { method: 'HEAD', path: '/' });
  t.is(head.status, 200);
  t.is(head.body, '');
  t.is((await request(fm.adminPort, { method: 'POST', path: '/' })).status, 405);
});
