// HTTP/2 rapid reset (CVE-2023-44487) on a TLS frontend: a client that opens streams and resets them
// at once gets GOAWAY with ENHANCE_YOUR_CALM and its connection closed, once it goes over the reset
// budget; the streams it reset before flagman took them up never reach a server; a client on another
// connection is served all along.
import fs from 'node:fs';
import http2 from 'node:http2';
import test from 'ava';
import { testCA } from '../helpers/certs.js';
import { orAfter, startFlagman, tempDir, upstream, waitFor } from '../helpers/e2e.js';
import { rapidReset } from '../helpers/rapid-reset.js';
import { scaled } from '../helpers/slow.js';

const ENHANCE_YOUR_CALM = http2.constants.NGHTTP2_ENHANCE_YOUR_CALM;

const CONFIG = `
flags: { dir: ./flags }
frontends:
  secure:
    listen: ["127.0.0.1:0"]
    tls: { cert: ./site.crt, key: ./site.key }
    rules:
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
`;

/** flagman with one TLS frontend in front of a counting upstream; `ca` for the clients. */
async function setup(t, options = {}) {
  const dir = tempDir(t, 'flagman-certs-');
  const ca = await testCA(dir);
  const site = await ca.leaf('site', ['a.test']);
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, {
    vars: { app: app.port },
    files: { 'site.crt': fs.readFileSync(site.cert), 'site.key': fs.readFileSync(site.key) },
    ...options,
  });
  return { ca, app, fm, port: fm.ports[0] };
}

/** An HTTP/2 client making GET requests one after the other on its own connection until stop(). */
function steadyClient(t, port, ca) {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.caPem, servername: 'a.test' });
  t.teardown(() => session.destroy());
  const seen = { ok: 0, other: [], goaway: null };
  session.on('error', (err) => seen.other.push(`session: ${err.message}`));
  session.on('goaway', (code) => (seen.goaway = code));
  const get = () =>
    new Promise((resolve) => {
      const req = session.request({ ':path': '/steady', ':authority': 'a.test' });
      let status = 0;
      let body = '';
      req.setEncoding('utf8');
      req.on('response', (h) => (status = h[':status']));
      req.on('data', (d) => (body += d));
      req.on('end', () => resolve(status === 200 && body === 'app' ? 'ok' : `${status} ${body}`));
      req.on('error', (err) => resolve(err.message));
      req.end();
    });
  let running = true;
  const done = (async () => {
    while (running) {
      const r = await get();
      if (r === 'ok') seen.ok++;
      else seen.other.push(r);
    }
  })();
  return {
    seen,
    get,
    async stop() {
      running = false;
      await done;
    },
  };
}

test('streams opened and reset back to back: GOAWAY ENHANCE_YOUR_CALM, connection closed, none reaches the server, another client is served', async (t) => {
  t.timeout(scaled(60_000));
  const { ca, app, fm, port } = await setup(t);
  const steady = steadyClient(t, port, ca);
  await waitFor(() => steady.seen.ok >= 5, { what: 'the steady client to be served' });
  const before = app.seen.length;
  const okBefore = steady.seen.ok;

  const attack = await rapidReset({ port, ca: ca.caPem, servername: 'a.test', streams: 2000, batch: 100 });
  await steady.stop();
  t.is(await steady.get(), 'ok', 'still served after the attack');

  t.log(attack, `steady client: ${steady.seen.ok - okBefore} served during the attack`);
  t.deepEqual(attack.goaway?.code, ENHANCE_YOUR_CALM, `the attacker got ${JSON.stringify(attack)}`);
  t.true(attack.closed, 'flagman closed the connection');
  // The budget (200 at once) is what is let through: the attacker is cut well before its 2,000.
  t.true(attack.goaway.lastStreamId < 2 * 400, `last stream ${attack.goaway.lastStreamId}`);
  // Every reset stream was closed before flagman took it up: none became a server request.
  const attackRequests = app.seen.slice(before).filter((s) => s.url !== '/steady');
  t.true(attackRequests.length <= 5, `${attackRequests.length} reset streams reached the server`);
  t.deepEqual(steady.seen.other, []);
  t.is(steady.seen.goaway, null);
  const event = await fm.waitEvent((e) => e.event === 'h2.rapid_reset');
  t.like(event, { level: 40, frontend: 'secure', ip: '127.0.0.1' });
  t.true(event.resets > 200, `resets ${event.resets}`);
});

test('streams reset back to back within the budget cost nothing: the connection stays, no server request, no access line', async (t) => {
  t.timeout(scaled(60_000));
  const { ca, app, fm, port } = await setup(t, { captureAccess: true });
  const attack = await rapidReset({ port, ca: ca.caPem, servername: 'a.test', streams: 150, batch: 50, lingerMs: 500 });
  t.deepEqual([attack.sent, attack.goaway, attack.closed], [150, null, false]);
  // A request after them on a new connection: what was logged and sent up before it is all there is.
  const steady = steadyClient(t, port, ca);
  await steady.stop();
  t.is(await steady.get(), 'ok');
  await waitFor(() => fm.access.some((a) => a.path === '/steady'), { what: 'the access line of /steady' });
  t.deepEqual(
    app.seen.filter((s) => s.url !== '/steady'),
    [],
  );
  t.deepEqual(
    fm.access.filter((a) => a.path !== '/steady'),
    [],
  );
  t.false(fm.events.some((e) => e.event === 'h2.rapid_reset'));
});

test('a client cancelling each request just after sending it is sent GOAWAY ENHANCE_YOUR_CALM and closed too', async (t) => {
  t.timeout(scaled(60_000));
  const { ca, fm, port } = await setup(t);
  const steady = steadyClient(t, port, ca);
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.caPem, servername: 'a.test' });
  t.teardown(() => session.destroy());
  session.on('error', () => {});
  const goaway = new Promise((resolve) => session.once('goaway', (code) => resolve(code)));
  const closed = new Promise((resolve) => session.once('close', resolve));
  await new Promise((resolve) => session.once('connect', resolve));
  let sent = 0;
  // HEADERS and RST_STREAM in separate writes: nghttp2 drops a request's HEADERS still queued when
  // it is reset, so each stream waits for its HEADERS to be written first.
  while (!session.closed && !session.destroyed && sent < 1000) {
    const req = session.request({ ':path': `/cancelled/${sent}`, ':authority': 'a.test' });
    req.on('error', () => {});
    req.end();
    sent++;
    await new Promise((resolve) => setImmediate(resolve));
    if (!req.destroyed) req.close(http2.constants.NGHTTP2_CANCEL);
  }
  const outcome = await orAfter(goaway, 5000, 'no GOAWAY within 5 s');
  t.is(outcome, ENHANCE_YOUR_CALM);
  t.is(
    await orAfter(
      closed.then(() => 'closed'),
      5000,
      'still open after 5 s',
    ),
    'closed',
  );
  t.log(`cut off after ${sent} requests`);
  t.true(sent < 1000, `cut off after ${sent} requests`);
  await steady.stop();
  t.is(await steady.get(), 'ok');
  t.deepEqual(steady.seen.other, []);
  t.is(steady.seen.goaway, null);
  t.like(await fm.waitEvent((e) => e.event === 'h2.rapid_reset'), { frontend: 'secure', ip: '127.0.0.1' });
});
