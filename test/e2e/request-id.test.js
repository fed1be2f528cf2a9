// Request IDs (docs/proxying.md): on a frontend with `requestId`, every request has one — a trusted
// proxy's valid one kept, anyone else's replaced, a new one otherwise — and the server, the access
// line and flagman's own answers carry the same ID. HTTP/1.1, an upgrade, HTTP/2, two workers.
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import test from 'ava';
import { testCA } from '../helpers/certs.js';
import { rawHead, request, upgradeRecorder, startFlagman, tempDir, upstream, waitFor } from '../helpers/e2e.js';

const NEW_ID = /^[0-9a-f]{32}$/;

// Two frontends alike but for trustedProxies: `behind` stands for one behind a balancer (the tests
// connect from 127.0.0.1), `direct` for one clients reach themselves.
const CONFIG = `{{top}}
flags: { dir: ./flags }
frontends:
  behind:
    listen: ["127.0.0.1:0"]
    trustedProxies: ["127.0.0.0/8"]
    requestId: true
    rules: &rules
      - when: flag("MAINT") > 0
        use: maintenance
      - when: request.path == "/limited"
        use: app
        limit: { rate: 1, burst: 0 }
      - when: request.path == "/moved"
        use: moved
      - use: app
  direct:
    listen: ["127.0.0.1:0"]
    requestId: { header: X-Correlation-ID }
    rules: *rules
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
  maintenance:
    respond: { status: 503, body: "maintenance\\n" }
  moved:
    redirect: { scheme: https }
`;

async function setup(t, { flags = {}, top = '' } = {}) {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, top }, flags, captureAccess: true });
  return { app, fm, behind: fm.ports[0], direct: fm.ports[1] };
}

/** The access line of the request to `path` (each request asks for a path of its own). */
const accessLine = (fm, p) => waitFor(() => fm.access.find((l) => l.path === p), { what: `the access line of ${p}` });

test('a new ID when the request has none: the server and the access line have the same', async (t) => {
  const { app, fm, behind, direct } = await setup(t);
  await request(behind, { path: '/new' });
  const id = app.seen.at(-1).headers['x-request-id'];
  t.regex(id, NEW_ID);
  t.is((await accessLine(fm, '/new')).id, id);
  await request(direct, { path: '/new-direct' });
  const other = app.seen.at(-1).headers['x-correlation-id'];
  t.regex(other, NEW_ID, 'in the header the frontend names');
  t.false('x-request-id' in app.seen.at(-1).headers);
  t.is((await accessLine(fm, '/new-direct')).id, other);
  t.not(other, id);
});

test('a trusted proxy’s valid ID is kept; an invalid one, or a client’s own, is replaced', async (t) => {
  const { app, fm, behind, direct } = await setup(t);
  await request(behind, { path: '/kept', headers: { 'X-Request-Id': 'lb-7f3a-0001' } });
  t.is(app.seen.at(-1).headers['x-request-id'], 'lb-7f3a-0001');
  t.is((await accessLine(fm, '/kept')).id, 'lb-7f3a-0001');

  await request(behind, { path: '/too-long', headers: { 'X-Request-Id': 'x'.repeat(129) } });
  t.regex(app.seen.at(-1).headers['x-request-id'], NEW_ID);
  await request(behind, { path: '/quote', headers: { 'X-Request-Id': 'a"b\\c' } });
  t.is(app.seen.at(-1).headers['x-request-id'], 'a"b\\c');
  t.is((await accessLine(fm, '/quote')).id, 'a"b\\c', 'escaped in the access line: it parses');

  await request(direct, { path: '/replaced', headers: { 'X-Correlation-ID': 'lb-7f3a-0002' } });
  const replaced = app.seen.at(-1).headers['x-correlation-id'];
  t.regex(replaced, NEW_ID);
  t.is((await accessLine(fm, '/replaced')).id, replaced);
});

test('flagman’s own answers carry the ID: a respond page, a 429, a redirect', async (t) => {
  const { fm, behind, direct } = await setup(t, { flags: { MAINT: '1\n' } });
  const page = await request(behind, { path: '/maint', headers: { 'X-Request-Id': 'support-me' } });
  t.is(page.status, 503);
  t.is(page.headers['x-request-id'], 'support-me');
  const other = await request(direct, { path: '/maint-direct' });
  t.regex(other.headers['x-correlation-id'], NEW_ID);
  t.is((await accessLine(fm, '/maint-direct')).id, other.headers['x-correlation-id']);
  // The rest of the rules, with maintenance off.
  const from = fm.events.length;
  fs.writeFileSync(`${fm.flagsDir}/MAINT`, '0\n');
  await fm.waitFlag('MAINT', 0, { from });
  const answers = await Promise.all([1, 2, 3, 4, 5].map(() => request(behind, { path: '/limited' })));
  const limited = answers.find((r) => r.status === 429);
  t.truthy(limited, 'five at once over a rate of 1/s: a 429');
  t.regex(limited.headers['x-request-id'], NEW_ID);
  const moved = await request(behind, { path: '/moved' });
  t.is(moved.status, 301);
  t.regex(moved.headers['x-request-id'], NEW_ID);
});

test('300 requests on keep-alive connections, two workers: 300 different IDs, each the server’s and the access line’s', async (t) => {
  const { app, fm, behind } = await setup(t, { top: 'workers: 2' });
  // 20 connections: each worker takes some of them.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
  t.teardown(() => agent.destroy());
  const get = (i) =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: behind, path: `/many/${i}`, agent }, (res) => res.resume().on('end', resolve))
        .on('error', reject);
    });
  await Promise.all(Array.from({ length: 300 }, (_, i) => get(i)));
  const ids = app.seen.filter((s) => s.url.startsWith('/many/')).map((s) => s.headers['x-request-id']);
  t.is(ids.length, 300);
  t.true(ids.every((id) => NEW_ID.test(id)));
  t.is(new Set(ids).size, 300);
  const lines = await waitFor(
    () => {
      const l = fm.access.filter((a) => a.path.startsWith('/many/'));
      return l.length === 300 && l;
    },
    { what: '300 access lines' },
  );
  t.deepEqual(lines.map((l) => l.id).sort(), [...ids].sort());
  t.deepEqual([...new Set(lines.map((l) => l.worker))].sort(), [1, 2], 'both workers served some');
});

test('an upgrade: its ID goes to the server and in its access line', async (t) => {
  const { port: upgradePort, seen } = await upgradeRecorder(t);
  const fm = await startFlagman(t, CONFIG, { vars: { app: upgradePort, top: '' }, captureAccess: true });
  const head = await rawHead(
    fm.ports[0],
    'GET /chat HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: echo\r\nX-Request-Id: ws-1\r\n\r\n',
  );
  t.regex(head, /^HTTP\/1\.1 101 /);
  t.is(seen[0]['x-request-id'], 'ws-1');
  t.like(await accessLine(fm, '/chat'), { status: 101, id: 'ws-1' });
});

test('HTTP/2: generated, kept from a trusted proxy, on the server’s request, the access line and a respond page', async (t) => {
  const dir = tempDir(t, 'flagman-certs-');
  const ca = await testCA(dir);
  const leaf = await ca.leaf('site', ['a.test']);
  const app = await upstream(t, 'app');
  const yaml = CONFIG.replace(
    '    trustedProxies: ["127.0.0.0/8"]',
    '    trustedProxies: ["127.0.0.0/8"]\n    tls: { cert: ./site.crt, key: ./site.key }',
  ).replace(
    '    requestId: { header: X-Correlation-ID }',
    '    requestId: { header: X-Correlation-ID }\n    tls: { cert: ./site.crt, key: ./site.key }',
  );
  const fm = await startFlagman(t, yaml, {
    vars: { app: app.port, top: '' },
    files: { 'site.crt': fs.readFileSync(leaf.cert), 'site.key': fs.readFileSync(leaf.key) },
    captureAccess: true,
  });
  const get = (port, p, headers = {}) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.caPem, servername: 'a.test' });
    session.on('error', () => {});
    t.teardown(() => session.close());
    return new Promise((resolve, reject) => {
      const s = session.request({ ':path': p, ':authority': 'a.test', ...headers });
      let head = {};
      s.on('response', (h) => (head = h));
      s.resume();
      s.on('end', () => resolve(head));
      s.on('error', reject);
    });
  };
  await get(fm.ports[0], '/h2-new');
  const id = app.seen.at(-1).headers['x-request-id'];
  t.regex(id, NEW_ID);
  t.is((await accessLine(fm, '/h2-new')).id, id);
  await get(fm.ports[0], '/h2-kept', { 'x-request-id': 'lb-h2-1' });
  t.is(app.seen.at(-1).headers['x-request-id'], 'lb-h2-1');
  t.is((await accessLine(fm, '/h2-kept')).id, 'lb-h2-1');
  await get(fm.ports[1], '/h2-replaced', { 'x-correlation-id': 'lb-h2-2' });
  t.regex(app.seen.at(-1).headers['x-correlation-id'], NEW_ID);
  const from = fm.events.length;
  fs.writeFileSync(`${fm.flagsDir}/MAINT`, '1\n');
  await fm.waitFlag('MAINT', 1, { from });
  const page = await get(fm.ports[0], '/h2-maint', { 'x-request-id': 'lb-h2-3' });
  t.is(page[':status'], 503);
  t.is(page['x-request-id'], 'lb-h2-3');
});
