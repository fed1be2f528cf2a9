// Upgrades are tunnelled (docs/proxying.md): a WebSocket-style handshake reaches the server chosen by the
// rules, bytes then flow both ways untouched; a maintenance rule answers upgrades too. An upgrade
// answered without a tunnel is finished once answered, however its client behaves.
import http from 'node:http';
import net from 'node:net';
import test from 'ava';
import { adminStatus, request, sh, startFlagman, upstream, waitFor } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';
import { blackHole } from '../helpers/tcp.js';
import { rawAnswering } from '../helpers/raw-server.js';

const CONFIG = maintenanceConfig({ admin: false });

/** A server that accepts any upgrade and echoes bytes back upper-cased. */
async function echoUpgradeServer(t) {
  const server = http.createServer((_req, res) => res.end('plain'));
  const seen = [];
  server.on('upgrade', (req, socket, head) => {
    seen.push(req.headers);
    // An upgraded socket is the test's alone (the HTTP server stopped listening to it): a tunnel
    // flagman cuts may reset it, which unheard would be an uncaught exception.
    socket.on('error', () => {});
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    if (head.length) socket.write(head.toString().toUpperCase());
    socket.on('data', (d) => socket.write(d.toString().toUpperCase()));
    socket.on('end', () => socket.end()); // HTTP server sockets allow half-open: close our half too
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: server.address().port, seen };
}

/** Sends an upgrade request on a raw socket; resolves with the socket and the response head. */
function upgrade(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () =>
      s.write('GET /chat HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n'),
    );
    let buf = '';
    const onData = (d) => {
      buf += d;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      resolve({ socket: s, head: buf.slice(0, end), rest: buf.slice(end + 4) });
    };
    s.on('data', onData);
    s.on('error', reject);
  });
}

test('an upgrade is tunnelled to the server and bytes flow both ways', async (t) => {
  const app = await echoUpgradeServer(t);
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port } });
  const { socket, head } = await upgrade(fm.port);
  t.teardown(() => socket.destroy());
  t.regex(head, /^HTTP\/1\.1 101 /);
  t.is(app.seen[0].upgrade, 'echo');
  t.is(app.seen[0]['x-forwarded-for'], '127.0.0.1');
  const reply = new Promise((resolve) => socket.once('data', (d) => resolve(d.toString())));
  socket.write('hello');
  t.is(await reply, 'HELLO');
  // The client closing its side ends the tunnel on both sides.
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.end();
  await closed;
});

test('during maintenance an upgrade gets the maintenance response', async (t) => {
  const app = await echoUpgradeServer(t);
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port } });
  const from = fm.events.length;
  await sh('echo 1 > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 1, { from });
  const { socket, head, rest } = await upgrade(fm.port);
  t.teardown(() => socket.destroy());
  t.regex(head, /^HTTP\/1\.1 503 /);
  const body = rest.length > 0 ? rest : await new Promise((resolve) => socket.once('data', (d) => resolve(d.toString())));
  t.is(body, 'maintenance\n');
  t.is(app.seen.length, 0);
});

// Each path an upgrade can be answered by without a tunnel. A long shutdown timeout: a SIGTERM
// that waited for it would show.
const ANSWERED_CONFIG = `
timeouts: { shutdown: 20s }
flags: { dir: "./flags" }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: request.path == "/maint"
        use: maintenance
      - when: request.path == "/moved"
        use: secure
      - when: request.path == "/app"
        use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
  maintenance:
    respond: { status: 503, body: "maintenance\\n" }
  secure:
    redirect: { scheme: https, status: 301 }
`;

const DECLINED_BODY = 'no upgrade here, a plain answer\n';

/** A server that knows no upgrade: it answers the handshake with a plain 200 and a body. */
function decliningServer(t) {
  return upstream(t, 'app', (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(DECLINED_BODY);
  });
}

/**
 * A WebSocket client that gets no tunnel: it sends a first frame as soon as the answer's head is
 * in (bytes no server will take) and keeps its own half open after flagman's FIN (allowHalfOpen).
 * Resolves with the socket, the head and the body once flagman has ended its side.
 */
function upgradeAnsweredPlainly(port, path) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      s.write(
        `GET ${path} HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      );
    });
    let buf = '';
    let framed = false;
    s.on('data', (d) => {
      buf += d;
      if (framed || !buf.includes('\r\n\r\n')) return;
      framed = true;
      s.write(Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])); // a masked "Hello"
    });
    // Flagman ends its side (a FIN: 'end'), or cuts it (then a reset may come before).
    const done = () => {
      const end = buf.indexOf('\r\n\r\n');
      resolve({ socket: s, head: buf.slice(0, end), body: buf.slice(end + 4) });
    };
    s.on('end', done);
    s.on('close', done);
    s.on('error', (err) => (buf.includes('\r\n\r\n') ? undefined : reject(err)));
  });
}

for (const [name, path, expected] of [
  [
    'no rule matches (503)',
    '/none',
    { status: 503, backend: null, server: null, body: '503 Service Unavailable\n', reason: 'no rule matched' },
  ],
  ['a respond backend answers (maintenance page)', '/maint', { status: 503, backend: 'maintenance', server: null, body: 'maintenance\n' }],
  ['the server declines with a 200 and a body', '/app', { status: 200, backend: 'app', server: 'app1', body: DECLINED_BODY }],
  ['a redirect backend answers', '/moved', { status: 301, backend: 'secure', server: null, body: '' }],
]) {
  test(`an upgrade answered without a tunnel (${name}) is finished at once: counted, logged, closed; SIGTERM does not wait for it`, async (t) => {
    const app = await decliningServer(t);
    const fm = await startFlagman(t, ANSWERED_CONFIG, { vars: { app: app.port }, captureAccess: true });
    const { socket, head, body } = await upgradeAnsweredPlainly(fm.port, path);
    t.teardown(() => socket.destroy());
    t.regex(head, new RegExp(`^HTTP/1\\.1 ${expected.status} `));
    t.is(body, expected.body);

    // Logged while the client still holds its half open, with the body's bytes.
    const line = await waitFor(() => fm.access.find((l) => l.path === path), { what: `the access line of ${path}` });
    t.like(line, {
      status: expected.status,
      backend: expected.backend,
      server: expected.server,
      bytes: Buffer.byteLength(expected.body),
      upgrade: 'websocket',
    });
    t.is(line.reason, expected.reason, "a reason only for an answer of flagman's own");
    const web = (await adminStatus(fm)).frontends.web;
    t.is(web.active, 0);
    t.is(web.requests, 1);
    t.is(web.responses[`${String(expected.status)[0]}xx`], 1);

    const started = performance.now();
    process.kill(fm.proc.pid, 'SIGTERM'); // not execa's kill(), which sends SIGKILL itself after 5 s
    const r = await fm.exited;
    const took = performance.now() - started;
    t.log(`exit ${Math.round(took)} ms after SIGTERM; access line ms ${line.ms}`);
    t.is(r.exitCode, 0);
    t.true(took < 5000, `exited ${Math.round(took)} ms after SIGTERM, not at the 20 s shutdown timeout`);
  });
}

// A declined upgrade's body that stops short: the server cuts its connection, or goes silent past
// timeouts.server (the app backend's: 500ms).
for (const [name, after, reason] of [
  ['the server cuts short', (res) => res.socket.destroy(), 'server closed mid-body'],
  ['stalls past timeouts.server', () => {}, 'server timeout mid-body'],
]) {
  test(`a declined upgrade whose body ${name} is cut short to the client too: closed, counted, logged at once`, async (t) => {
    const app = await upstream(t, 'app', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
      res.write('only ten b', () => after(res));
    });
    const config = ANSWERED_CONFIG.replace('  app:\n', '  app:\n    timeouts: { server: 500ms }\n');
    const fm = await startFlagman(t, config, { vars: { app: app.port }, captureAccess: true });
    const answered = upgradeAnsweredPlainly(fm.port, '/app');
    const line = await waitFor(() => fm.access.find((l) => l.path === '/app'), { what: 'the access line' });
    t.like(line, { status: 200, backend: 'app', server: 'app1', bytes: 10, reason });
    const { socket, head, body } = await answered;
    t.teardown(() => socket.destroy());
    t.regex(head, /^HTTP\/1\.1 200 /);
    t.is(body, 'only ten b'); // and nothing after it: no status of flagman's own once a body has begun
    const status = await adminStatus(fm);
    t.is(status.frontends.web.active, 0);
    t.is(status.frontends.web.responses['2xx'], 1);
    t.is(status.backends.app.servers.app1.active, 0);
  });
}

// A declined upgrade is read by the parser requests' answers are (docs/proxying.md, bad responses):
// an answer a request would get a 502 for gets one here too, or is cut once its head went out.
for (const [name, answer, expected] of [
  [
    'Content-Length with Transfer-Encoding',
    'HTTP/1.1 200 OK\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n',
    { status: 502, reason: 'bad response: both Content-Length and Transfer-Encoding' },
  ],
  [
    'an obs-fold header line',
    'HTTP/1.1 403 Forbidden\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n',
    { status: 502, reason: 'bad response: folded header line' },
  ],
  [
    'a chunk size over 2^48',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n1000000000000\r\nab\r\n0\r\n\r\n',
    { status: 200, reason: 'bad response mid-body: chunk size too large', body: 'ok' },
  ],
]) {
  test(`a declined upgrade answered with ${name} is refused as a request's answer would be: ${expected.status === 502 ? '502' : 'cut'}, with the parser's reason`, async (t) => {
    const app = await rawAnswering(t, answer, { close: true });
    const fm = await startFlagman(t, ANSWERED_CONFIG, { vars: { app: app.port }, captureAccess: true });
    const { socket, head, body } = await upgradeAnsweredPlainly(fm.port, '/app');
    t.teardown(() => socket.destroy());
    t.regex(head, new RegExp(`^HTTP/1\\.1 ${expected.status} `));
    if (expected.status === 502) t.is(body, '502 Bad Gateway\n');
    else t.is(body, expected.body, 'the body up to where its framing broke, and nothing after it');
    const line = await waitFor(() => fm.access.find((l) => l.path === '/app'), { what: 'the access line' });
    t.like(line, { status: expected.status, backend: 'app', server: 'app1', upgrade: 'websocket', reason: expected.reason });
  });
}

test('a 101 and the first bytes of the new protocol in one write: the client gets both, in order, and the tunnel works', async (t) => {
  const server = net.createServer((s) => {
    let buf = '';
    s.on('error', () => {});
    const onHead = (d) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      s.off('data', onHead);
      s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\nX-Extra: kept\r\n\r\nHELLO FROM THE SERVER;');
      s.on('data', (more) => s.write(more.toString().toUpperCase()));
    };
    s.on('data', onHead);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const fm = await startFlagman(t, ANSWERED_CONFIG, { vars: { app: server.address().port } });
  const s = net.connect(fm.port, '127.0.0.1');
  t.teardown(() => s.destroy());
  let buf = '';
  s.on('data', (d) => (buf += d));
  s.write('GET /app HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
  await waitFor(() => buf.includes('SERVER;'), { what: 'the 101 and the bytes after it', timeout: 15_000 });
  t.is(buf, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\nX-Extra: kept\r\n\r\nHELLO FROM THE SERVER;');
  s.write('ping');
  await waitFor(() => buf.endsWith('PING'), { what: 'the echo through the tunnel', timeout: 15_000 });
  t.pass();
});

test('a connect timeout answers an upgrade 504 "connect timeout", as it answers a request', async (t) => {
  const hole = await blackHole(t);
  const config = ANSWERED_CONFIG.replace('  app:\n', '  app:\n    timeouts: { connect: 300ms }\n');
  const fm = await startFlagman(t, config, { vars: { app: hole.port }, captureAccess: true });

  const plain = await request(fm.port, { path: '/app' });
  t.is(plain.status, 504);
  const { socket, head, body } = await upgradeAnsweredPlainly(fm.port, '/app');
  t.teardown(() => socket.destroy());
  t.regex(head, /^HTTP\/1\.1 504 /);
  t.is(body, '504 Gateway Timeout\n');

  const lines = await waitFor(() => fm.access.length >= 2 && fm.access, { what: 'both access lines' });
  const [request_, upgrade_] = [lines.find((l) => l.upgrade === undefined), lines.find((l) => l.upgrade === 'websocket')];
  t.like(request_, { status: 504, backend: 'app', server: 'app1', reason: 'connect timeout' });
  t.like(upgrade_, { status: 504, backend: 'app', server: 'app1', reason: 'connect timeout' });
  const s = await adminStatus(fm);
  t.like(s.backends.app, { active: 0, requests: 2 });
  t.like(s.backends.app.servers.app1, { active: 0, requests: 2, failures: 2 });
});

test('an open tunnel is active on its backend and server in /status until it closes', async (t) => {
  const app = await echoUpgradeServer(t);
  const fm = await startFlagman(t, ANSWERED_CONFIG, { vars: { app: app.port } });
  const s = net.connect(fm.port, '127.0.0.1');
  t.teardown(() => s.destroy());
  let buf = '';
  s.on('data', (d) => (buf += d));
  s.write('GET /app HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
  await waitFor(() => buf.includes('\r\n\r\n'), { what: 'the 101', timeout: 15_000 });
  t.regex(buf, /^HTTP\/1\.1 101 /);

  let status = await adminStatus(fm);
  t.like(status.frontends.web, { active: 1 });
  t.like(status.backends.app, { active: 1, requests: 1 });
  t.like(status.backends.app.servers.app1, { active: 1, requests: 1 });

  s.end();
  status = await waitFor(
    async () => {
      const now = await adminStatus(fm);
      return now.backends.app.active === 0 && now.backends.app.servers.app1.active === 0 && now.frontends.web.active === 0 && now;
    },
    { what: 'active back to 0 once the tunnel closed', timeout: 15_000 },
  );
  t.like(status.backends.app, { active: 0, requests: 1 });
  t.like(status.backends.app.servers.app1, { active: 0, failures: 0 });
});
