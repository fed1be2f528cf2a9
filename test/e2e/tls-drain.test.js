// TLS listeners in the lifecycle (docs/tls.md, "Reloads and stops"): a graceful stop lets an HTTP/2 request in flight finish
// and sends idle HTTP/2 connections GOAWAY instead of waiting for the shutdown timeout; a reload that
// removes a TLS frontend drains it the same way; HTTP/2 connections idle past timeouts.idle go,
// also after a request that outlasted it.
import fs from 'node:fs';
import http2 from 'node:http2';
import test from 'ava';
import { testCA } from '../helpers/certs.js';
import { orAfter, saveConfig, startFlagman, tempDir, upstream } from '../helpers/e2e.js';
import { scaled } from '../helpers/slow.js';

function config({ secure = true, top = '' } = {}) {
  return `${top}
flags: { dir: ./flags }
frontends:
  plain:
    listen: ["127.0.0.1:0"]
    rules: [{ use: app }]
${secure ? '  secure:\n    listen: ["127.0.0.1:0"]\n    tls: { cert: ./site.crt, key: ./site.key }\n    rules: [{ use: app }]\n' : ''}backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
`;
}

async function setup(t, opts) {
  const dir = tempDir(t, 'flagman-certs-');
  const ca = await testCA(dir);
  const a = await ca.leaf('a', ['a.test']);
  // /slow answers after 700 ms: a request in flight during a stop or a reload.
  let arrived;
  const slowArrived = new Promise((resolve) => (arrived = resolve));
  const app = await upstream(t, 'app', (req, res) => {
    if (req.url === '/slow') arrived();
    setTimeout(() => res.end('app'), req.url === '/slow' ? 700 : 0);
  });
  const fm = await startFlagman(t, config(opts), {
    vars: { app: app.port },
    files: { 'site.crt': fs.readFileSync(a.cert), 'site.key': fs.readFileSync(a.key) },
  });
  const session = http2.connect(`https://a.test:${fm.ports[1]}`, { ca: ca.caPem, host: '127.0.0.1', servername: 'a.test' });
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  // Each resolves by the session's close at the latest: a close without GOAWAY fails its test,
  // never hangs it. `goaway` resolves with true when the GOAWAY came.
  const closed = new Promise((resolve) => session.once('close', resolve));
  const goaway = new Promise((resolve) => {
    session.once('goaway', () => resolve(true));
    closed.then(() => resolve(false));
  });
  return { fm, app, session, goaway, closed, slowArrived };
}

/** One request on `session`; resolves with status and body. */
function get(session, path) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path });
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = h[':status']));
    req.on('data', (d) => (body += d));
    req.on('end', () => resolve({ status, body }));
    req.on('error', reject);
    req.end();
  });
}

test('SIGTERM: an HTTP/2 request in flight finishes, the connection gets GOAWAY, flagman exits well before the shutdown timeout', async (t) => {
  const { fm, session, goaway, slowArrived } = await setup(t);
  t.is((await get(session, '/')).body, 'app');
  const slow = get(session, '/slow');
  await slowArrived;
  const started = performance.now();
  fm.proc.kill('SIGTERM');
  t.true(await goaway, 'GOAWAY before the close');
  t.deepEqual(await slow, { status: 200, body: 'app' });
  const r = await fm.exited;
  t.is(r.exitCode, 0);
  t.true(performance.now() - started < 5000, 'the 25 s shutdown timeout was not waited for');
});

test('a reload that removes a TLS frontend drains it: GOAWAY, the request in flight finishes, the port closes', async (t) => {
  const { fm, app, session, goaway, closed, slowArrived } = await setup(t);
  t.is((await get(session, '/')).body, 'app');
  const slow = get(session, '/slow');
  await slowArrived;
  const from = fm.events.length;
  saveConfig(fm, config({ secure: false }).replaceAll('{{app}}', String(app.port)));
  fm.proc.kill('SIGHUP');
  const e = await fm.waitEvent((x) => x.event === 'reload' || x.event === 'reload.failed', { from });
  t.is(e.event, 'reload', JSON.stringify(e));
  t.is(e.removed.length, 1);
  t.true(await goaway, 'GOAWAY before the close');
  t.deepEqual(await slow, { status: 200, body: 'app' });
  await closed;
  const refused = http2.connect(`https://127.0.0.1:${fm.ports[1]}`, { rejectUnauthorized: false });
  t.is((await new Promise((resolve) => refused.on('error', resolve))).code, 'ECONNREFUSED');
});

test('an HTTP/2 connection idle past timeouts.idle is sent GOAWAY', async (t) => {
  const { session, goaway, closed } = await setup(t, { top: 'timeouts: { idle: 300ms }' });
  const started = performance.now();
  t.is((await get(session, '/')).body, 'app');
  t.true(await goaway, 'GOAWAY before the close');
  await closed;
  const ms = performance.now() - started;
  t.true(ms >= 300 && ms < scaled(3000), `closed after ${ms} ms`);
});

test('an HTTP/2 connection whose first request outlasts timeouts.idle is still closed once idle after it', async (t) => {
  const { session, goaway, closed } = await setup(t, { top: 'timeouts: { idle: 300ms }' });
  // /slow takes 700 ms: the idle timer fires while its stream is open, which must not use it up.
  t.is((await get(session, '/slow')).body, 'app');
  const ended = performance.now();
  const outcome = await orAfter(
    closed.then(() => 'closed'),
    scaled(5000),
    'still open',
  );
  t.is(outcome, 'closed', 'the idle connection was closed');
  t.true(await goaway, 'GOAWAY before the close');
  t.log(`closed ${Math.round(performance.now() - ended)} ms after the request ended (timeouts.idle 300 ms)`);
});
