// Near the descriptor limit (docs/limits.md): flagman holds no more client
// connections than its limit leaves room for, each with its server connection, refuses the rest
// at accept, and keeps descriptors for its checks and flag reads; running out (EMFILE) is never a
// server's fault.
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import { adminStatus, request, root, startFlagman, timedFlagWrite, upstream, waitFor, watchProbe } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';
import { lineClient } from '../helpers/tcp.js';
import { scaled } from '../helpers/slow.js';

/**
 * `clients` clients sending GETs on fresh connections, each one after the other, until `ms` have
 * passed or `max` were sent; resolves with how each ended: `{200: n, 503: n, ECONNRESET: n, …}`.
 */
async function storm(port, { clients, ms, max }) {
  const tally = {};
  const count = (label) => (tally[label] = (tally[label] ?? 0) + 1);
  let sent = 0;
  const deadline = Date.now() + ms;
  const one = () =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(count(res.statusCode)));
        res.on('error', (err) => resolve(count(err.code ?? err.message)));
      });
      req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
      req.on('error', (err) => resolve(count(err.code ?? err.message)));
    });
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < deadline && sent < max) {
        sent++;
        await one();
      }
    }),
  );
  return tally;
}

/** `tries` flag writes (MAINT 1, 0, 1, …): ms from write to applied. */
async function flagLatencies(fm, tries = 3) {
  const ms = [];
  for (let i = 0; i < tries; i++) ms.push(await timedFlagWrite(fm, 'MAINT', i % 2 === 0 ? 1 : 0));
  return { all: ms };
}

test('under ulimit -n 64 a storm of 100 clients is refused at accept beyond the cap; no server is blamed, and flags still apply by events', async (t) => {
  t.timeout(scaled(60_000));
  const app = await upstream(t, 'app');
  // rescan 30 s: within the test only file-system events (or polling) can apply a flag write.
  const config = maintenanceConfig({
    rescan: '30s',
    top: 'log: { access: off }',
    app: '    health: { type: tcp, interval: 500ms, timeout: 2s }\n',
  });
  const probe = watchProbe(t);
  const fm = await startFlagman(t, config, { vars: { app: app.port }, flags: { MAINT: '0\n' }, nofile: 64, env: probe.env });

  const tally = await storm(fm.port, { clients: 100, ms: 2000, max: 20_000 });
  t.log('during the storm:', tally);
  t.true((tally[200] ?? 0) > 0, 'some requests were served during the storm');

  // Afterwards every request is served: nothing was left broken. (Once the storm's connections
  // are closed on flagman's side too: a loaded machine may take a moment to get there.)
  await waitFor(async () => ((await adminStatus(fm)).process?.connections ?? 0) === 0, {
    timeout: 10_000,
    what: "the storm's connections closed",
  });
  const after = {};
  for (let i = 0; i < 200; i++) {
    const { status } = await request(fm.port);
    after[status] = (after[status] ?? 0) + 1;
  }
  t.deepEqual(after, { 200: 200 });
  // Running short was flagman's, not the server's: never marked down, no failure counted.
  t.deepEqual(
    fm.events.filter((e) => e.event === 'server.state'),
    [],
  );
  const status = await adminStatus(fm);
  t.like(status.backends.app.servers.app1, { state: 'up', failures: 0 });
  // The cap is what refused: it comes from the limit, and it did refuse.
  t.is(status.process.fdLimit, 64);
  t.is(status.process.fdReserve, 16);
  t.true(status.process.maxConnections >= 1 && status.process.maxConnections < 24, `maxConnections ${status.process.maxConnections}`);
  t.true(status.process.refusedConnections > 0);
  t.truthy(fm.events.find((e) => e.event === 'connections.full'));

  // The flags watcher is on events (back on them, if it ever had to poll): nothing is polled, so
  // with rescan at 30 s only events can apply these writes within waitFlag's 5 s. (How fast they
  // apply is a figure for bench/chaos.js, not a timed test.)
  await waitFor(async () => (await adminStatus(fm)).watcher.mode === 'events', { timeout: 15_000, what: 'the watcher back on events' });
  await waitFor(() => probe.polled().length === 0, { timeout: 10_000, what: 'polling stopped' });
  const { all } = await flagLatencies(fm);
  t.log('write → applied, ms:', all);
  t.is((await adminStatus(fm)).watcher.mode, 'events');
});

const EMFILE_CONFIG = `
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - use: app
  db:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules:
      - use: db
backends:
  app:
    health: { type: tcp, interval: 200ms, timeout: 1s, fall: 1 }
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
  db:
    mode: tcp
    health: { interval: 200ms, timeout: 1s, fall: 1 }
    servers:
      db1: { address: "127.0.0.1:{{app}}" }
`;

/** An upgrade request on a raw socket; resolves with the response's status line once the socket closes. */
function upgradeStatus(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () =>
      s.write('GET /chat HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n'),
    );
    let buf = '';
    s.on('data', (d) => (buf += d));
    s.on('close', () => resolve(buf.split('\r\n', 1)[0]));
    s.on('error', reject);
  });
}

test('a connect that fails with EMFILE is answered 503 "EMFILE" on every path, and neither it nor a health probe that fails so marks the server down', async (t) => {
  const app = await upstream(t, 'app');
  const preload = path.join(root, 'test/fixtures/connect-emfile.mjs');
  const fm = await startFlagman(t, EMFILE_CONFIG, {
    vars: { app: app.port },
    captureAccess: true,
    env: { NODE_OPTIONS: `--import=${preload}`, FLAGMAN_TEST_EMFILE_PORT: String(app.port) },
  });
  const reasons = () => fm.access.map((a) => a.reason);

  // HTTP: 503 at once, with the code as the reason; no other server tried, none blamed.
  const res = await request(fm.portOf('web'));
  t.is(res.status, 503);
  await waitFor(() => fm.access.length >= 1, { what: 'the access line' });
  t.like(fm.access[0], { status: 503, server: 'app1', reason: 'EMFILE' });
  // An upgrade: the same.
  t.regex(await upgradeStatus(fm.portOf('web')), /^HTTP\/1\.1 503 /);
  await waitFor(() => fm.access.length >= 2, { what: 'the upgrade access line' });
  t.like(fm.access[1], { status: 503, reason: 'EMFILE' });
  // A tcp connection: closed, the code as the reason.
  const client = lineClient(t, fm.portOf('db'));
  await client.closed;
  await waitFor(() => fm.access.length >= 3, { what: 'the tcp access line' });
  t.like(fm.access[2], { mode: 'tcp', backend: 'db', reason: 'EMFILE' });
  t.deepEqual(reasons(), ['EMFILE', 'EMFILE', 'EMFILE']);

  // Health probes of both backends fail the same way (fall: 1 would take a server down at once):
  // wait for at least three of each backend's, beyond the three connects above.
  const emfiles = () => fm.events.filter((e) => e.event === 'test.emfile').length;
  await waitFor(() => emfiles() >= 3 + 6, { timeout: 15_000, what: 'health probes failing with EMFILE' });
  t.deepEqual(
    fm.events.filter((e) => e.event === 'server.state'),
    [],
  );
  const status = await adminStatus(fm);
  t.like(status.backends.app.servers.app1, { state: 'up', failures: 0 });
  t.like(status.backends.db.servers.db1, { state: 'up', failures: 0 });
});
