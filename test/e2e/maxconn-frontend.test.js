// A frontend's maxconn: connections beyond it are neither refused nor reset; they are accepted and
// wait, unread, until one being served closes, and are then served; /status shows them waiting.
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import test from 'ava';
import { testCA } from '../helpers/certs.js';
import { adminStatus, request, startFlagman, tempDir, upstream, waitFor } from '../helpers/e2e.js';

const CONFIG = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0", "127.0.0.1:0"]
    maxconn: 2
    rules: [ { use: app } ]
  db:
    mode: tcp
    listen: ["127.0.0.1:0"]
    maxconn: 1
    rules: [ { use: echo } ]
backends:
  app:
    servers: { a: { address: "127.0.0.1:{{app}}" } }
  echo:
    mode: tcp
    servers: { e: { address: "127.0.0.1:{{echo}}" } }
`;

/** A GET on a connection of its own, closed after the answer; resolves with the status and body, rejects on a reset. */
function get(port, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  });
}

test('HTTP: past maxconn a connection waits, unanswered but not refused, and is served when one closes', async (t) => {
  const held = [];
  const app = await upstream(t, 'app', (req, res) => {
    if (req.url.startsWith('/hold')) return void held.push(res);
    res.end(`served ${req.url}`);
  });
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve));
  t.teardown(() => echo.close());
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, echo: echo.address().port } });
  const [first, second] = fm.ports;
  // Two requests in flight, on the frontend's two listeners: maxconn counts them together.
  const a = get(first, '/hold/a');
  const b = get(second, '/hold/b');
  await waitFor(() => held.length === 2, { what: 'two requests at the server' });
  let settled = false;
  const c = get(first, '/c').finally(() => (settled = true));
  let s = await waitFor(
    async () => {
      const doc = await adminStatus(fm);
      return doc.frontends.web.connections.waiting === 1 && doc;
    },
    { what: 'a connection waiting' },
  );
  t.is(s.frontends.web.maxconn, 2);
  t.deepEqual(s.frontends.web.connections, { open: 2, waiting: 1, waited: 1, proxyHeaderRefused: 0 });
  t.false(settled, 'the third connection is neither answered nor refused while two are served');
  t.is(app.seen.length, 2, 'its request was not read');

  // One of the two ends (its client closes after the answer): the waiting one is served.
  held.shift().end('done');
  t.deepEqual(await a, { status: 200, body: 'done' });
  t.deepEqual(await c, { status: 200, body: 'served /c' });
  held.shift().end('done');
  t.deepEqual(await b, { status: 200, body: 'done' });
  s = await waitFor(
    async () => {
      const doc = await adminStatus(fm);
      return doc.frontends.web.connections.open === 0 && doc;
    },
    { what: 'every connection closed' },
  );
  t.deepEqual(s.frontends.web.connections, { open: 0, waiting: 0, waited: 1, proxyHeaderRefused: 0 });
  t.is((await request(first)).status, 200);
  const metrics = (await request(fm.adminPort, { path: '/metrics' })).body;
  t.true(metrics.includes('flagman_frontend_maxconn{frontend="web"} 2\n'), metrics);
  t.true(metrics.includes('flagman_frontend_connections_waited_total{frontend="web"} 1\n'));
});

test('tcp: past maxconn a connection waits, and gets its bytes through once the one before closes', async (t) => {
  const app = await upstream(t, 'app');
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve));
  t.teardown(() => echo.close());
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, echo: echo.address().port } });
  const port = fm.portOf('db');
  const connect = () =>
    new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
  const echoed = (s, text) =>
    new Promise((resolve) => {
      let got = '';
      s.on('data', (d) => {
        got += d;
        if (got === text) resolve(got);
      });
      s.write(text);
    });
  const one = await connect();
  t.is(await echoed(one, 'one'), 'one');
  const two = await connect();
  const errors = [];
  two.on('error', (e) => errors.push(e.code));
  let answered = false;
  const twoEchoed = echoed(two, 'two').then((v) => ((answered = true), v));
  await waitFor(async () => (await adminStatus(fm)).frontends.db.connections.waiting === 1, { what: 'the second connection waiting' });
  t.false(answered, 'nothing of the second connection is read while the first is open');
  one.end();
  t.is(await twoEchoed, 'two');
  two.end();
  t.deepEqual(errors, [], 'never refused or reset');
});

const TLS_CONFIG = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  secure:
    listen: ["127.0.0.1:0"]
    tls: { cert: ./site.crt, key: ./site.key }
    maxconn: 1
    rules: [ { use: app } ]
backends:
  app:
    servers: { a: { address: "127.0.0.1:{{app}}" } }
`;

// The TLS listener's sockets are created paused too (proxy/maxconn.ts): the waiting connection's
// ClientHello stays unread, and its handshake and request run once its turn comes, over HTTP/2 or
// HTTP/1.1, on every Node line flagman supports.
test('TLS: past maxconn an HTTPS connection waits, its handshake unanswered, and is served when the HTTP/2 one before closes', async (t) => {
  const held = [];
  const app = await upstream(t, 'app', (req, res) => {
    if (req.url.startsWith('/hold')) return void held.push(res);
    res.end(`served ${req.url}`);
  });
  const dir = tempDir(t, 'flagman-certs-');
  const ca = await testCA(dir);
  const leaf = await ca.leaf('site', ['a.test']);
  const files = { 'site.crt': fs.readFileSync(leaf.cert), 'site.key': fs.readFileSync(leaf.key) };
  const fm = await startFlagman(t, TLS_CONFIG, { vars: { app: app.port }, files });
  const port = fm.port;
  const session = http2.connect(`https://a.test:${port}`, { ca: ca.caPem, host: '127.0.0.1', servername: 'a.test' });
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  const first = new Promise((resolve) => {
    const req = session.request({ ':path': '/hold/h2' });
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => resolve(body));
    req.on('error', () => {});
  });
  await waitFor(() => held.length === 1, { what: 'the HTTP/2 request at the server' });
  let secureConnected = false;
  let settled = false;
  const second = new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: '/second', servername: 'a.test', ca: ca.caPem, ALPNProtocols: ['http/1.1'], agent: false },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body, alpn: res.socket.alpnProtocol }));
      },
    );
    req.on('socket', (s) => s.once('secureConnect', () => (secureConnected = true)));
    req.on('error', reject);
  }).finally(() => (settled = true));
  await waitFor(async () => (await adminStatus(fm)).frontends.secure.connections.waiting === 1, { what: 'the HTTPS connection waiting' });
  t.false(secureConnected, 'its handshake is not answered while it waits');
  t.false(settled);
  t.is(app.seen.length, 1, 'its request was not read');

  held.shift().end('done');
  t.is(await first, 'done');
  session.close();
  t.deepEqual(await second, { status: 200, body: 'served /second', alpn: 'http/1.1' });
  const s = await adminStatus(fm);
  t.is(s.frontends.secure.maxconn, 1);
  t.is(s.frontends.secure.connections.waited, 1);
});
