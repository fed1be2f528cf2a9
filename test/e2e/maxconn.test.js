// Per-server maxconn and the backend queue (docs/proxying.md, "Limits and the queue") over real
// sockets: test servers count their own concurrency, so every assertion on a limit is what a server
// saw, never a figure flagman reports about itself. Each waits for the event it needs (a flag
// applied, a request arrived, a queue length), with generous timeouts; the one duration bound (how
// soon a lowered maxconn holds) is loose, and the figure logged.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import {
  adminStatus,
  flagmanCli,
  keepAliveLoad,
  request,
  saveConfig,
  sh,
  startFlagman,
  tempDir,
  upstream,
  waitFor,
} from '../helpers/e2e.js';
import { echoServer, lineClient } from '../helpers/tcp.js';

/**
 * An HTTP server that counts the requests it holds at once: `cur` now, `max` since start, `window`
 * since the last resetWindow(). Each request is answered after `delay` ms; `hold` (a function of
 * the request) keeps one until release() instead.
 */
async function countingServer(t, name, { delay = 20, hold = () => false } = {}) {
  const stats = { cur: 0, max: 0, window: 0, done: 0, held: [], lastOver: { limit: Infinity, at: 0 } };
  const up = await upstream(t, name, (req, res) => {
    stats.cur++;
    if (stats.cur > stats.lastOver.limit) stats.lastOver.at = performance.now();
    stats.max = Math.max(stats.max, stats.cur);
    stats.window = Math.max(stats.window, stats.cur);
    let open = true;
    const end = () => {
      if (!open) return;
      open = false;
      stats.cur--;
      stats.done++;
    };
    res.once('close', end);
    req.resume();
    const answer = () => {
      if (!res.destroyed) res.end(name);
    };
    if (hold(req)) stats.held.push(answer);
    else setTimeout(answer, delay);
  });
  return Object.assign(stats, {
    port: up.port,
    seen: up.seen,
    resetWindow() {
      stats.window = stats.cur;
    },
    /** From now, notes when a request arrives to find more than `limit` held (lastOver.at). */
    watchOver(limit) {
      stats.lastOver = { limit, at: 0 };
    },
    /** Answers the oldest held request. */
    release() {
      stats.held.shift()?.();
    },
  });
}

const HTTP = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
timeouts: { queue: {{queueTimeout}} }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - use: app
backends:
  app:
{{backend}}    servers:
      app1: { address: "127.0.0.1:{{app1}}", maxconn: {{maxconn}} }
`;

function httpConfig({ maxconn, queueTimeout = '30s', backend = '' }) {
  return HTTP.replace('{{maxconn}}', maxconn).replace('{{queueTimeout}}', queueTimeout).replace('{{backend}}', backend);
}

/** metric name → array of {labels, value}, parsed by a Prometheus text-format parser. */
function metrics(text) {
  const out = {};
  for (const family of parsePrometheusTextFormat(text))
    out[family.name] = family.metrics.map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) }));
  return out;
}

/** One sample's value, read from the text as written (the parser merges a histogram's labelled series). */
function sample(text, name, labels) {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** A GET on a fresh connection, remembering whether it has settled; `socket` is its client socket. */
function pending(port, p = '/') {
  const r = { settled: false, socket: null };
  r.done = new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        r.settled = true;
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() });
      });
    });
    req.on('socket', (s) => (r.socket = s));
    req.on('error', (err) => {
      r.settled = true;
      reject(err);
    });
    req.end();
  });
  r.done.catch(() => {});
  return r;
}

const queueOf = async (fm) => (await adminStatus(fm)).backends.app.queue;

test('maxconn 5 behind 50 concurrent clients: the server never holds more than 5, and every request is answered', async (t) => {
  const app1 = await countingServer(t, 'app1', { delay: 15 });
  const fm = await startFlagman(t, httpConfig({ maxconn: 5 }), { vars: { app1: app1.port }, captureAccess: true });
  const clients = Array.from({ length: 50 }, () =>
    keepAliveLoad(fm.port, { limit: 4, classify: (r) => `${r.status}${r.headers['retry-after'] ? ' retry-after' : ''}` }),
  );
  const results = await Promise.all(clients.map((c) => c.done));
  const errors = results.flatMap((r) => r.errors);
  t.deepEqual(errors, [], 'no request reset or lost');
  const labels = {};
  for (const r of results) for (const [k, n] of Object.entries(r.labels)) labels[k] = (labels[k] ?? 0) + n;
  t.is(
    Object.values(labels).reduce((a, b) => a + b, 0),
    200,
  );
  for (const label of Object.keys(labels))
    t.true(label === '200' || label === '503 retry-after', `only 200, or 503 with Retry-After after the queue timeout: ${label}`);
  t.true(app1.max <= 5, `the server held ${app1.max} requests at once`);
  t.true(app1.max >= 2, `the load did reach the limit's neighbourhood (${app1.max} at once)`);

  // Every 503 is a queue timeout in the access log; requests that waited carry queueMs.
  await waitFor(() => fm.access.length >= 200, { timeout: 20_000, what: '200 access lines' });
  const lines = fm.access.filter((l) => l.frontend === 'web');
  t.is(lines.filter((l) => l.status === 503).length, labels['503 retry-after'] ?? 0);
  t.true(lines.filter((l) => l.status === 503).every((l) => l.reason === 'queue timeout'));
  const waited = lines.filter((l) => typeof l.queueMs === 'number');
  t.true(waited.length > 0, 'some requests waited in the queue');
  t.true(waited.every((l) => l.queueMs >= 0 && l.queueMs <= l.ms));

  const s = await adminStatus(fm);
  const q = s.backends.app.queue;
  t.like(q, { length: 0, max: null, timeoutMs: 30_000, full: 0 });
  t.is(q.queued, waited.length);
  t.is(q.waitMs.count, q.queued);
  t.is(s.backends.app.servers.app1.maxconn, 5);
  t.is(s.backends.app.servers.app1.active, 0);

  const text = (await request(fm.adminPort, { path: '/metrics' })).body;
  const m = metrics(text);
  t.is(m.flagman_server_maxconn.find((x) => x.labels.server === 'app1').value, 5);
  t.is(m.flagman_backend_queue_length.find((x) => x.labels.backend === 'app').value, 0);
  t.is(m.flagman_backend_queued_total.find((x) => x.labels.backend === 'app').value, q.queued);
  t.is(m.flagman_backend_queue_refused_total.find((x) => x.labels.backend === 'app' && x.labels.reason === 'timeout').value, q.timeouts);
  t.is(sample(text, 'flagman_backend_queue_wait_seconds_count', 'backend="app"'), q.queued);
  t.is(sample(text, 'flagman_backend_queue_wait_seconds_bucket', 'backend="app",le="+Inf"'), q.queued);
  t.is(sample(text, 'flagman_backend_queue_wait_seconds_bucket', 'backend="app",le="30"'), q.waitMs.buckets['30000']);
  t.is(sample(text, 'flagman_backend_queue_wait_seconds_bucket', 'backend="app",le="0.001"'), q.waitMs.buckets['1']);
});

test('echo 2 > flags/app1.maxconn under load: once the requests in flight then have finished, the server holds at most 2; rm lifts it', async (t) => {
  const app1 = await countingServer(t, 'app1', { delay: 20 });
  const fm = await startFlagman(t, httpConfig({ maxconn: `'flag("app1.maxconn", 0)'` }), { vars: { app1: app1.port } });
  const loads = Array.from({ length: 12 }, () => keepAliveLoad(fm.port));
  t.teardown(() => Promise.all(loads.map((l) => l.stop())));
  await waitFor(() => app1.max >= 4, { timeout: 20_000, what: 'the unlimited server to hold 4 requests at once' });

  let from = fm.events.length;
  app1.watchOver(2);
  await sh('echo 2 > flags/app1.maxconn', fm.dir);
  await fm.waitFlag('app1.maxconn', 2, { from, timeout: 10_000 });
  const applied = performance.now();
  // What was in flight at the change finishes as it would; then at most 2. A few more requests are
  // let through before measuring, so that none sent before the change can still be arriving.
  await waitFor(() => app1.cur <= 2, { timeout: 20_000, what: 'the requests in flight at the change to finish' });
  const settled = app1.done + 20;
  await waitFor(() => app1.done >= settled, { timeout: 20_000, what: '20 more requests' });
  app1.resetWindow();
  const measured = app1.done + 100;
  await waitFor(() => app1.done >= measured, { timeout: 30_000, what: '100 requests under maxconn 2' });
  t.true(app1.window <= 2, `the server held ${app1.window} requests at once under maxconn 2`);
  // How soon: the last request that found the server over 2 arrived this long after the change was
  // applied (what was in flight then, sent before it; a request lasts 20 ms here). Logged, and bound
  // only loosely — a limit that waited for a reload or a poll would take seconds.
  const settledMs = app1.lastOver.at === 0 ? 0 : Math.max(0, app1.lastOver.at - applied);
  t.log(`over 2 at the server until ${Math.round(settledMs)} ms after the flag applied (requests take 20 ms)`);
  t.true(settledMs < 1000, `the server held over 2 requests until ${Math.round(settledMs)} ms after the change`);
  const s = await adminStatus(fm);
  t.is(s.backends.app.servers.app1.maxconn, 2);
  t.true(s.backends.app.queue.queued > 0, 'the other clients waited their turn');

  from = fm.events.length;
  await sh('rm flags/app1.maxconn', fm.dir);
  await fm.waitFlag('app1.maxconn', null, { from, timeout: 10_000 });
  app1.resetWindow();
  await waitFor(() => app1.window >= 4, { timeout: 20_000, what: 'the server to hold more than 2 again' });

  const results = await Promise.all(loads.map((l) => l.stop()));
  t.deepEqual(
    results.flatMap((r) => r.errors),
    [],
  );
  for (const r of results) t.deepEqual(Object.keys(r.labels), ['200']);
});

test('a hanging server with maxconn 1: waiters get 503 with Retry-After after timeouts.queue; beyond `queue: 2`, 503 at once', async (t) => {
  const hang = await countingServer(t, 'hang', { hold: () => true });
  const fm = await startFlagman(t, httpConfig({ maxconn: 1, queueTimeout: '1s', backend: '    queue: 2\n' }), {
    vars: { app1: hang.port },
    captureAccess: true,
  });
  const first = pending(fm.port, '/first');
  await waitFor(() => hang.cur === 1, { timeout: 10_000, what: 'the first request at the server' });
  const waiting = [pending(fm.port, '/w1'), pending(fm.port, '/w2')];
  await waitFor(async () => (await queueOf(fm)).length === 2, { timeout: 10_000, what: 'two requests in the queue' });
  const full = await pending(fm.port, '/full').done;
  t.is(full.status, 503);
  t.is(full.headers['retry-after'], '1');
  t.false(
    waiting.some((w) => w.settled),
    'refused while the two before it still wait',
  );
  for (const w of waiting) {
    const r = await w.done;
    t.is(r.status, 503);
    t.is(r.headers['retry-after'], '1');
    t.is(r.body, '503 Service Unavailable\n');
  }
  t.false(first.settled, 'the request at the server is untouched');
  t.is(hang.max, 1, 'the server never got a second request');

  await waitFor(() => fm.access.length >= 3, { timeout: 10_000, what: 'three access lines' });
  const byPath = Object.fromEntries(fm.access.map((l) => [l.path, l]));
  t.like(byPath['/full'], { status: 503, backend: 'app', server: null, reason: 'queue full' });
  t.is(byPath['/full'].queueMs, undefined, 'it never waited');
  for (const p of ['/w1', '/w2']) {
    t.like(byPath[p], { status: 503, backend: 'app', server: null, reason: 'queue timeout' });
    t.true(byPath[p].queueMs >= 900, `${p} waited ${byPath[p].queueMs} ms`);
  }
  t.like(await queueOf(fm), { length: 0, max: 2, timeoutMs: 1000, queued: 2, timeouts: 2, full: 1 });
  const m = metrics((await request(fm.adminPort, { path: '/metrics' })).body);
  const refused = (reason) =>
    m.flagman_backend_queue_refused_total.find((x) => x.labels.backend === 'app' && x.labels.reason === reason).value;
  t.is(refused('timeout'), 2);
  t.is(refused('full'), 1);
});

test('a client that goes away while it waits leaves the queue; the next in line gets the freed slot', async (t) => {
  const app1 = await countingServer(t, 'app1', { hold: () => true });
  const fm = await startFlagman(t, httpConfig({ maxconn: 1 }), { vars: { app1: app1.port }, captureAccess: true });
  const first = pending(fm.port, '/first');
  await waitFor(() => app1.cur === 1, { timeout: 10_000, what: 'the first request at the server' });
  const gone = pending(fm.port, '/gone');
  await waitFor(async () => (await queueOf(fm)).length === 1, { timeout: 10_000, what: 'one request waiting' });
  const next = pending(fm.port, '/next');
  await waitFor(async () => (await queueOf(fm)).length === 2, { timeout: 10_000, what: 'two requests waiting' });
  gone.socket.destroy();
  await waitFor(async () => (await queueOf(fm)).length === 1, { timeout: 10_000, what: 'the gone client to leave the queue' });
  app1.release();
  t.is((await first.done).status, 200);
  await waitFor(() => app1.seen.length === 2, { timeout: 10_000, what: 'the next request at the server' });
  t.is(app1.seen[1].url, '/next');
  app1.release();
  t.is((await next.done).status, 200);
  await waitFor(() => fm.access.some((l) => l.path === '/gone'), { timeout: 10_000, what: "the gone client's line" });
  t.like(
    fm.access.find((l) => l.path === '/gone'),
    { status: 0, reason: 'client closed', server: null },
  );
  t.like(await queueOf(fm), { length: 0, queued: 2 });
});

test('a request body still coming in while its request waits is not cut for stalling: nothing reads it until a server takes it', async (t) => {
  const held = [];
  const app = await upstream(t, 'app', (req, res) => {
    if (req.url === '/first') return held.push(() => res.end('first'));
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => res.end(`stored ${Buffer.concat(chunks)}`));
  });
  // timeouts.client 1s: a request body that stalls that long is cut off, but not while it waits.
  const config = httpConfig({ maxconn: 1 }).replace('timeouts: { queue', 'timeouts: { client: 1s, queue');
  const fm = await startFlagman(t, config, { vars: { app1: app.port }, captureAccess: true });
  const first = pending(fm.port, '/first');
  await waitFor(() => held.length === 1, { timeout: 10_000, what: 'the first request at the server' });
  let upload;
  const answered = new Promise((resolve, reject) => {
    upload = http.request(
      { host: '127.0.0.1', port: fm.port, method: 'POST', path: '/upload', agent: false, headers: { 'content-length': '11' } },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      },
    );
    upload.on('error', reject);
  });
  answered.catch(() => {});
  upload.write('hello ');
  await waitFor(async () => (await queueOf(fm)).length === 1, { timeout: 10_000, what: 'the upload to wait' });
  // Well past timeouts.client with the body half sent: a stall, had anything been reading it.
  await new Promise((resolve) => setTimeout(resolve, 2500));
  upload.end('world');
  t.is((await queueOf(fm)).length, 1, 'still waiting, not cut off');
  held.shift()();
  t.is((await first.done).status, 200);
  t.deepEqual(await answered, { status: 200, body: 'stored hello world' });
  await waitFor(() => fm.access.some((l) => l.path === '/upload'), { timeout: 10_000, what: "the upload's line" });
  const line = fm.access.find((l) => l.path === '/upload');
  t.like(line, { status: 200, server: 'app1' });
  t.is(line.reason, undefined);
  t.true(line.queueMs >= 2000);
});

test('an open upgrade holds its slot: a request waits until the tunnel closes', async (t) => {
  const server = http.createServer((_req, res) => res.end('plain'));
  server.on('upgrade', (_req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    socket.on('data', (d) => socket.write(d));
    socket.on('end', () => socket.end());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const fm = await startFlagman(t, httpConfig({ maxconn: 1 }), { vars: { app1: server.address().port } });
  const tunnel = net.connect(fm.port, '127.0.0.1', () =>
    tunnel.write('GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n'),
  );
  t.teardown(() => tunnel.destroy());
  await new Promise((resolve) => tunnel.once('data', resolve));
  const plain = pending(fm.port);
  await waitFor(async () => (await queueOf(fm)).length === 1, { timeout: 10_000, what: 'the request to wait' });
  t.false(plain.settled);
  tunnel.end();
  const r = await plain.done;
  t.is(r.status, 200);
  t.is(r.body, 'plain');
});

test("a reload keeps waiters waiting: the new runtime's server of the same backend serves them", async (t) => {
  const app1 = await countingServer(t, 'app1', { hold: () => true });
  const fm = await startFlagman(t, httpConfig({ maxconn: 1 }), { vars: { app1: app1.port } });
  const first = pending(fm.port, '/first');
  await waitFor(() => app1.cur === 1, { timeout: 10_000, what: 'the first request at the server' });
  const waiters = [pending(fm.port, '/a'), pending(fm.port, '/b')];
  await waitFor(async () => (await queueOf(fm)).length === 2, { timeout: 10_000, what: 'two waiters' });

  // The same config with a changed queue timeout: a real reload, a new runtime.
  let from = fm.events.length;
  saveConfig(fm, fs.readFileSync(fm.configFile, 'utf8').replace('queue: 30s', 'queue: 40s'));
  fm.proc.kill('SIGHUP');
  await fm.waitEvent((e) => e.event === 'reload', { from, timeout: 10_000 });
  const after = await queueOf(fm);
  t.like(after, { length: 2, timeoutMs: 40_000 });
  t.false(waiters.some((w) => w.settled));

  app1.release();
  await waitFor(() => app1.seen.length === 2, { timeout: 10_000, what: 'the first waiter at the server' });
  t.is(app1.seen[1].url, '/a');

  // A reload that raises maxconn frees a slot without any request ending.
  from = fm.events.length;
  saveConfig(fm, fs.readFileSync(fm.configFile, 'utf8').replace('maxconn: 1', 'maxconn: 3'));
  fm.proc.kill('SIGHUP');
  await fm.waitEvent((e) => e.event === 'reload', { from, timeout: 10_000 });
  await waitFor(() => app1.seen.length === 3, { timeout: 10_000, what: 'the second waiter at the server' });
  t.is(app1.seen[2].url, '/b');
  for (let i = 0; i < 3; i++) app1.release();
  for (const r of [first, ...waiters]) t.is((await r.done).status, 200);
  t.is(app1.max, 2);
});

test('a drained server takes nothing from the queue: its share goes to the others', async (t) => {
  const app1 = await countingServer(t, 'app1', { hold: () => true });
  const app2 = await countingServer(t, 'app2', { hold: () => true });
  const config = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules: [{ use: app }]
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app1}}", maxconn: 1, weight: 'flag("app1.weight", 1)' }
      app2: { address: "127.0.0.1:{{app2}}", maxconn: 1 }
`;
  const fm = await startFlagman(t, config, { vars: { app1: app1.port, app2: app2.port } });
  const r1 = pending(fm.port, '/1');
  const r2 = pending(fm.port, '/2');
  await waitFor(() => app1.cur === 1 && app2.cur === 1, { timeout: 10_000, what: 'one request at each server' });
  const r3 = pending(fm.port, '/3');
  await waitFor(async () => (await queueOf(fm)).length === 1, { timeout: 10_000, what: 'the third to wait' });
  const from = fm.events.length;
  await sh('echo 0 > flags/app1.weight', fm.dir);
  await fm.waitFlag('app1.weight', 0, { from, timeout: 10_000 });
  app1.release();
  t.is((await r1.done).status, 200);
  // app1's slot is free, but app1 is drained: the waiter stays until app2 frees one.
  await waitFor(async () => (await adminStatus(fm)).backends.app.servers.app1.active === 0, { timeout: 10_000, what: 'app1 idle' });
  t.like(await queueOf(fm), { length: 1 });
  t.is(app1.seen.length, 1);
  app2.release();
  t.is((await r2.done).status, 200);
  await waitFor(() => app2.seen.length === 2, { timeout: 10_000, what: 'the waiter at app2' });
  app2.release();
  t.is((await r3.done).body, 'app2');
});

const TCP = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  db:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules: [{ use: app }]
backends:
  app:
    mode: tcp
    timeouts: { queue: {{queueTimeout}} }
    servers:
      db1: { address: "127.0.0.1:{{db1}}", maxconn: 1 }
`;

test('tcp, maxconn 1: a second connection waits, and its bytes flow once the first closes', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const fm = await startFlagman(t, TCP.replace('{{queueTimeout}}', '30s'), { vars: { db1: db1.port }, captureAccess: true });
  const c1 = lineClient(t, fm.port);
  t.is(await c1.say('one'), 'db1:one');
  const c2 = lineClient(t, fm.port);
  await c2.connected;
  const reply = c2.say('two'); // held by flagman while the connection waits
  await waitFor(async () => (await queueOf(fm)).length === 1, { timeout: 10_000, what: 'the second connection to wait' });
  t.is(db1.open, 1, 'the server has one connection');
  c1.socket.end();
  t.is(await reply, 'db1:two');
  t.is(await c2.say('three'), 'db1:three');
  c2.socket.end();
  await c2.closed;
  await waitFor(() => fm.access.length >= 2, { timeout: 10_000, what: 'two access lines' });
  const second = fm.access[1];
  t.like(second, { mode: 'tcp', server: 'db1', bytesIn: 10, reason: 'client closed' });
  t.true(second.queueMs >= 0);
  t.is(fm.access[0].queueMs, undefined);
});

test('tcp, maxconn 1: a waiting connection is closed after the queue timeout; one whose client leaves goes at once', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const fm = await startFlagman(t, TCP.replace('{{queueTimeout}}', '1s'), { vars: { db1: db1.port }, captureAccess: true });
  const c1 = lineClient(t, fm.port);
  t.is(await c1.say('one'), 'db1:one');
  const gone = lineClient(t, fm.port);
  await gone.connected;
  await waitFor(async () => (await queueOf(fm)).length === 1, { timeout: 10_000, what: 'a connection waiting' });
  gone.socket.destroy();
  await waitFor(async () => (await queueOf(fm)).length === 0, { timeout: 10_000, what: 'the gone client to leave the queue' });

  const c2 = lineClient(t, fm.port);
  await c2.connected;
  c2.socket.write('hello\n');
  const { received } = await c2.closed;
  t.is(received, '', 'closed without a byte');
  t.is(await c1.say('still'), 'db1:still', 'the connection at the server is untouched');
  await waitFor(() => fm.access.length >= 2, { timeout: 10_000, what: 'two access lines' });
  const timedOut = fm.access.find((l) => l.reason === 'queue timeout');
  t.like(timedOut, { mode: 'tcp', server: null, bytesIn: 0 });
  t.true(timedOut.queueMs >= 900);
  t.like(await queueOf(fm), { length: 0, queued: 2, timeouts: 1 });
  t.is(db1.connections, 1);
});

test('tcp, maxconn 1 and queue: 0: a connection that finds the server at its limit is closed at once, "queue full"', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const config = TCP.replace('    timeouts: { queue: {{queueTimeout}} }\n', '    queue: 0\n    timeouts: { queue: 30s }\n');
  const fm = await startFlagman(t, config, { vars: { db1: db1.port }, captureAccess: true });
  const c1 = lineClient(t, fm.port);
  t.is(await c1.say('one'), 'db1:one');
  const c2 = lineClient(t, fm.port);
  await c2.connected;
  const { received } = await c2.closed;
  t.is(received, '', 'closed without a byte');
  t.is(await c1.say('still'), 'db1:still', 'the connection at the server is untouched');
  const full = await waitFor(() => fm.access.find((l) => l.reason === 'queue full'), {
    timeout: 10_000,
    what: 'the access line of the refused connection',
  });
  t.like(full, { mode: 'tcp', backend: 'app', server: null, bytesIn: 0, bytesOut: 0, tries: 0, reason: 'queue full' });
  t.is(full.queueMs, undefined, 'it never waited');
  t.like(await queueOf(fm), { length: 0, max: 0, full: 1 });
  t.is(db1.connections, 1);
});

test('flagman check: a negative or fractional maxconn, or an expression that is no number, is an error at file:line:col', async (t) => {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'flags'));
  const file = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(
    file,
    [
      'frontends:',
      '  web: { listen: "127.0.0.1:0", rules: [{ use: app }] }',
      'backends:',
      '  app:',
      '    queue: -2',
      '    servers:',
      '      a: { address: "127.0.0.1:1", maxconn: -1 }',
      '      b: { address: "127.0.0.1:2", maxconn: 1.5 }',
      `      c: { address: "127.0.0.1:3", maxconn: 'flag("c.maxconn") > 0' }`,
      '',
    ].join('\n'),
  );
  const r = await flagmanCli(['check', '-c', file]);
  t.is(r.exitCode, 1);
  const out = r.stderr;
  t.regex(out, new RegExp(`CONFIG_SCHEMA: backends\\.app\\.queue: must be from 0 to 1000000, not -2 \\(${file}:5:12\\)`));
  t.regex(out, new RegExp(`CONFIG_SCHEMA: backends\\.app\\.servers\\.a\\.maxconn: must be from 0 to 1000000, not -1 \\(${file}:7:45\\)`));
  t.regex(out, new RegExp(`CONFIG_SCHEMA: backends\\.app\\.servers\\.b\\.maxconn: expected a whole number.* \\(${file}:8:45\\)`));
  fs.writeFileSync(
    file,
    fs.readFileSync(file, 'utf8').replace('    queue: -2\n', '').replace('maxconn: -1', 'maxconn: 5').replace('maxconn: 1.5', 'maxconn: 0'),
  );
  const expr = await flagmanCli(['check', '-c', file]);
  t.is(expr.exitCode, 1);
  t.regex(expr.stderr, new RegExp(`CONFIG_EXPR: a maxconn must be an int, but this expression is bool \\(${file}:8:46\\)`));
});
