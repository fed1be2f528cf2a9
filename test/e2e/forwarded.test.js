// Behind a load balancer (docs/proxying.md): a frontend's trustedProxies lets the balancers in front
// say who the client is in X-Forwarded-For, and nobody else. The README's maintenance recipe run
// both ways, then client.ip in a rate-limit key, request.peer in a rule, the access line, /explain,
// the X-Forwarded-* headers servers get, an upgrade, and HTTP/2. The tests reach flagman from
// 127.0.0.1: a frontend that trusts 127.0.0.0/8 stands for one behind a balancer, one that does
// not for one that clients reach directly.
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import YAML from 'yaml';
import { testCA } from '../helpers/certs.js';
import { flagmanCli, rawHead, request, upgradeRecorder, root, startFlagman, tempDir, upstream, waitFor } from '../helpers/e2e.js';

const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const recipeText = readme.slice(readme.indexOf('### Maintenance with an admin bypass\n'));
const RECIPE = YAML.parse(/```yaml\n([\s\S]*?)```/.exec(recipeText)[1]);

/** The README recipe as written, on a loopback port, in front of `app`; `trust` adds to its trustedProxies. */
function recipeConfig(trust = []) {
  const web = structuredClone(RECIPE.frontends.web);
  web.listen = ['127.0.0.1:0'];
  web.trustedProxies = [...web.trustedProxies, ...trust];
  const backends = { ...RECIPE.backends, app: { servers: { app1: { address: '127.0.0.1:{{app}}' } } } };
  return YAML.stringify({ flags: { dir: './flags' }, admin: { listen: '127.0.0.1:0' }, frontends: { web }, backends });
}

async function recipe(t, trust) {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, recipeConfig(trust), {
    vars: { app: app.port },
    flags: { MAINT: '1\n' },
    files: { 'maintenance.html': 'down for maintenance\n' },
    captureAccess: true,
  });
  return { app, fm };
}

const xff = (value) => ({ headers: { 'X-Forwarded-For': value } });

/** The admin endpoint's /explain of `query`, parsed. */
async function explain(fm, query) {
  const r = await request(fm.adminPort, { path: `/explain?${new URLSearchParams(query)}` });
  if (r.status !== 200) throw new Error(`/explain answered ${r.status}: ${r.body}`);
  return JSON.parse(r.body);
}

/** The access line of the request to `path` (each test asks for a path of its own). */
const accessLine = (fm, p) => waitFor(() => fm.access.find((l) => l.path === p), { what: `the access line of ${p}` });

test('the README recipe behind a trusted balancer: client.ip is the client X-Forwarded-For names, for the rule, the access log and /explain', async (t) => {
  t.deepEqual(RECIPE.frontends.web.trustedProxies, ['10.0.0.0/8'], 'the recipe trusts the balancers’ network');
  const { app, fm } = await recipe(t, ['127.0.0.0/8']);

  // An outsider through two balancers: the maintenance page.
  const outsider = await request(fm.port, { path: '/outsider', ...xff('198.51.100.9, 10.0.0.5') });
  t.is(outsider.status, 503);
  t.is(outsider.body, 'down for maintenance\n');
  t.like(await accessLine(fm, '/outsider'), { status: 503, ip: '198.51.100.9', peer: '127.0.0.1' });
  // What a client writes itself stays left of what its balancer appends.
  t.is((await request(fm.port, { path: '/forged', ...xff('10.1.2.3, 198.51.100.9') })).status, 503);
  t.like(await accessLine(fm, '/forged'), { ip: '198.51.100.9' });
  // The office behind the balancer gets through; the server sees the chain with the balancer appended.
  const office = await request(fm.port, { path: '/office', ...xff('10.1.2.3') });
  t.is(office.status, 200);
  t.is(office.body, 'app');
  t.is(app.seen.at(-1).headers['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
  t.like(await accessLine(fm, '/office'), { status: 200, ip: '10.1.2.3', peer: '127.0.0.1' });
  // The balancer itself, with no X-Forwarded-For: its own address, outside the office network.
  t.is((await request(fm.port, { path: '/bare' })).status, 503);
  const bare = await accessLine(fm, '/bare');
  t.is(bare.ip, '127.0.0.1');
  t.false('peer' in bare, 'no peer field when client.ip is the connection’s address');

  // /explain decides the same from the same input.
  const e = await explain(fm, { path: '/x', ip: '127.0.0.1', header: 'X-Forwarded-For: 198.51.100.9, 10.0.0.5' });
  t.like(e.request, { ip: '198.51.100.9', peer: '127.0.0.1' });
  t.is(e.backend, 'maintenance');
  const o = await explain(fm, { path: '/x', ip: '127.0.0.1', header: 'X-Forwarded-For: 10.1.2.3' });
  t.like(o.request, { ip: '10.1.2.3', peer: '127.0.0.1' });
  t.is(o.backend, 'app');
  const text = await flagmanCli([
    'explain',
    '-c',
    fm.configFile,
    '--ip',
    '127.0.0.1',
    '--header',
    'X-Forwarded-For: 198.51.100.9, 10.0.0.5',
  ]);
  t.is(text.exitCode, 0, text.stderr);
  t.regex(text.stdout, /^frontend web: GET \/ from 198\.51\.100\.9 \(via 127\.0\.0\.1\)$/m);
  t.regex(text.stdout, /answered by backend maintenance/);
});

test('the README recipe reached directly: a client’s own X-Forwarded-For changes nothing', async (t) => {
  const { app, fm } = await recipe(t, []);
  for (const [p, value] of [
    ['/outsider', '198.51.100.9, 10.0.0.5'],
    ['/forged', '10.1.2.3'],
  ]) {
    const r = await request(fm.port, { path: p, ...xff(value) });
    t.is(r.status, 503, `${p}: the maintenance page`);
    const line = await accessLine(fm, p);
    t.is(line.ip, '127.0.0.1');
    t.false('peer' in line);
  }
  const e = await explain(fm, { path: '/x', ip: '127.0.0.1', header: 'X-Forwarded-For: 10.1.2.3' });
  t.like(e.request, { ip: '127.0.0.1', peer: '127.0.0.1' });
  t.is(e.backend, 'maintenance');
  // With the bypass cookie the request reaches the app: the server gets the peer alone, not the forged chain.
  const token = /cookie\("flagman_bypass"\) != "([^"]+)"/.exec(RECIPE.frontends.web.rules[0].when)[1];
  const r = await request(fm.port, { path: '/cookie', headers: { 'X-Forwarded-For': '10.1.2.3', Cookie: `flagman_bypass=${token}` } });
  t.is(r.status, 200);
  t.is(app.seen.at(-1).headers['x-forwarded-for'], '127.0.0.1');
});

// Two frontends alike but for trustedProxies, each with its own rate limit by client.ip.
const LIMITS = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  behind:
    listen: ["127.0.0.1:0"]
    trustedProxies: ["127.0.0.0/8"]
    rules: &rules
      - when: request.path == "/peer"
        use: peer
      - use: app
        limit: { rate: 1, burst: 0, by: client.ip }
  direct:
    listen: ["127.0.0.1:0"]
    rules: *rules
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
  peer:
    respond: { status: 200, body: "peer" }
`;

test('a rate limit by client.ip counts each client behind a trusted balancer apart, and everyone reaching flagman directly as one', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, LIMITS, { vars: { app: app.port } });
  const [behind, direct] = fm.ports;
  // A bucket holds one request and refills at one a second: requests sent at once with one key get 429.
  const burst = (port, clients) => Promise.all(clients.map((c) => request(port, xff(c)))).then((rs) => rs.map((r) => r.status));
  t.deepEqual(
    await burst(behind, ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4']),
    [200, 200, 200, 200],
    'four clients, four buckets',
  );
  t.true((await burst(behind, ['198.51.100.9', '198.51.100.9', '198.51.100.9', '198.51.100.9'])).includes(429), 'one client, one bucket');
  t.true(
    (await burst(direct, ['198.51.100.5', '198.51.100.6', '198.51.100.7', '198.51.100.8'])).includes(429),
    'forged addresses share the peer’s bucket',
  );
  const query = (frontend) => ({ frontend, path: '/', ip: '127.0.0.1', header: 'X-Forwarded-For: 198.51.100.1' });
  t.is((await explain(fm, query('behind'))).limits.rate.key, '198.51.100.1');
  t.is((await explain(fm, query('direct'))).limits.rate.key, '127.0.0.1');
});

test('request.peer is the connection’s address whatever X-Forwarded-For says', async (t) => {
  const app = await upstream(t, 'app');
  const yaml = LIMITS.replace('request.path == "/peer"', 'request.peer == "127.0.0.1" && client.ip == "198.51.100.9"');
  const fm = await startFlagman(t, yaml, { vars: { app: app.port } });
  const [behind, direct] = fm.ports;
  t.is((await request(behind, xff('198.51.100.9'))).body, 'peer');
  t.is((await request(direct, xff('198.51.100.9'))).body, 'app', 'from a direct client, client.ip is the peer');
});

test('X-Forwarded-Proto, X-Forwarded-Host and Forwarded: a trusted balancer’s are passed on, anyone else’s replaced or dropped', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, LIMITS.replaceAll('limit: { rate: 1, burst: 0, by: client.ip }', 'maxBody: 1MiB'), {
    vars: { app: app.port },
  });
  const [behind, direct] = fm.ports;
  const headers = {
    Host: 'internal:8080',
    'X-Forwarded-For': '198.51.100.9',
    'X-Forwarded-Proto': 'https',
    'X-Forwarded-Host': 'shop.example',
    Forwarded: 'for=198.51.100.9;proto=https',
  };
  await request(behind, { headers });
  t.like(app.seen.at(-1).headers, {
    'x-forwarded-for': '198.51.100.9, 127.0.0.1',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'shop.example',
    forwarded: 'for=198.51.100.9;proto=https',
  });
  await request(direct, { headers });
  const seen = app.seen.at(-1).headers;
  t.like(seen, { 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'internal:8080' });
  t.false('forwarded' in seen);
});

test('X-Real-IP: servers get client.ip, in place of any the request had, a trusted balancer’s too', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, LIMITS.replaceAll('limit: { rate: 1, burst: 0, by: client.ip }', 'maxBody: 1MiB'), {
    vars: { app: app.port },
  });
  const [behind, direct] = fm.ports;
  // A client reaching flagman directly names itself whatever it likes: the server gets the peer.
  await request(direct, { headers: { 'X-Real-IP': '10.1.2.3', 'X-Forwarded-For': '10.1.2.3' } });
  t.is(app.seen.at(-1).headers['x-real-ip'], '127.0.0.1');
  // Behind a trusted balancer: the client its X-Forwarded-For names, not what X-Real-IP says.
  await request(behind, { headers: { 'X-Real-IP': '10.1.2.3', 'X-Forwarded-For': '198.51.100.9' } });
  t.is(app.seen.at(-1).headers['x-real-ip'], '198.51.100.9');
  // Without any, the header is still there: a server can rely on it.
  await request(direct);
  t.is(app.seen.at(-1).headers['x-real-ip'], '127.0.0.1');
});

// The usual http-to-https redirect and a rule on the host, behind a balancer that terminates TLS
// (trusted) and reached directly.
const SCHEME = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  behind:
    listen: ["127.0.0.1:0"]
    trustedProxies: ["127.0.0.0/8"]
    rules: &rules
      - when: request.host == "shop.example"
        use: shop
      - when: request.scheme == "http"
        use: to-https
      - use: app
  direct:
    listen: ["127.0.0.1:0"]
    rules: *rules
backends:
  to-https:
    redirect: { scheme: https, status: 301 }
  shop:
    respond: { status: 200, body: "shop" }
  app:
    respond: { status: 200, body: "app" }
`;

test('request.scheme and request.host: a trusted balancer’s valid X-Forwarded-Proto and X-Forwarded-Host, nobody else’s', async (t) => {
  const fm = await startFlagman(t, SCHEME);
  const [behind, direct] = fm.ports;
  const get = (port, headers) => request(port, { headers: { Host: 'internal:8080', ...headers } });
  // Behind a balancer that terminated TLS: no redirect loop.
  t.like(await get(behind, { 'X-Forwarded-Proto': 'https' }), { status: 200, body: 'app' });
  t.like(await get(behind, { 'X-Forwarded-Proto': 'HTTPS' }), { status: 200, body: 'app' }, 'case-insensitive');
  // Plain http to the balancer, or no word from it, or a word that is not a scheme: the listener's.
  for (const proto of ['http', undefined, 'wss', 'https, http']) {
    const r = await get(behind, proto === undefined ? {} : { 'X-Forwarded-Proto': proto });
    t.is(r.status, 301, String(proto));
    t.is(r.headers.location, 'https://internal/');
  }
  // A client reaching flagman directly cannot say it came over https.
  const forged = await get(direct, { 'X-Forwarded-Proto': 'https' });
  t.is(forged.status, 301);
  t.is(forged.headers.location, 'https://internal/');

  // The host the client asked the balancer for, port and case aside; an invalid one is not read.
  t.like(await get(behind, { 'X-Forwarded-Host': 'Shop.Example:443' }), { status: 200, body: 'shop' });
  t.is((await get(behind, { 'X-Forwarded-Host': 'shop.example/x', 'X-Forwarded-Proto': 'https' })).body, 'app');
  t.is((await get(behind, { 'X-Forwarded-Host': 'user@shop.example', 'X-Forwarded-Proto': 'https' })).body, 'app');
  t.is((await get(direct, { 'X-Forwarded-Host': 'shop.example', 'X-Forwarded-Proto': 'https' })).status, 301);

  // An upgrade is judged the same way.
  const upgrade = (port, extra) =>
    rawHead(port, `GET /ws HTTP/1.1\r\nHost: internal\r\nConnection: Upgrade\r\nUpgrade: echo\r\n${extra}\r\n`);
  t.regex(await upgrade(behind, 'X-Forwarded-Proto: https\r\n'), /^HTTP\/1\.1 200 /);
  t.regex(await upgrade(direct, 'X-Forwarded-Proto: https\r\n'), /^HTTP\/1\.1 301 /);

  // /explain shows, and decides by, what the request is judged on.
  const header = ['X-Forwarded-Proto: https', 'X-Forwarded-Host: shop.example'];
  const query = (frontend, h) => {
    const q = new URLSearchParams({ frontend, path: '/', host: 'internal:8080', ip: '127.0.0.1' });
    for (const v of h) q.append('header', v);
    return q;
  };
  const explainOf = async (q) => JSON.parse((await request(fm.adminPort, { path: `/explain?${q}` })).body);
  t.like(await explainOf(query('behind', header)), { request: { scheme: 'https', host: 'shop.example' }, backend: 'shop' });
  t.like(await explainOf(query('behind', header.slice(0, 1))), { request: { scheme: 'https', host: 'internal:8080' }, backend: 'app' });
  t.like(await explainOf(query('direct', header)), { request: { scheme: 'http', host: 'internal:8080' }, backend: 'to-https' });
  const text = await flagmanCli(['explain', '-c', fm.configFile, '--host', 'internal', '--header', 'X-Forwarded-Proto: https']);
  t.is(text.exitCode, 0, text.stderr);
  t.regex(text.stdout, /^frontend behind: GET \/ from 127\.0\.0\.1, host internal, over https$/m);
  t.regex(text.stdout, /answered by backend app/);
});

test('an upgrade from a trusted balancer: routed, logged and forwarded by the client it names', async (t) => {
  const { port: upgradePort, seen } = await upgradeRecorder(t);
  const fm = await startFlagman(t, LIMITS, { vars: { app: upgradePort }, captureAccess: true });
  const head = await rawHead(
    fm.ports[0],
    'GET /chat HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: echo\r\nX-Forwarded-For: 198.51.100.9\r\n\r\n',
  );
  t.regex(head, /^HTTP\/1\.1 101 /);
  t.is(seen[0]['x-forwarded-for'], '198.51.100.9, 127.0.0.1');
  t.is(seen[0]['x-real-ip'], '198.51.100.9');
  t.like(await accessLine(fm, '/chat'), { status: 101, ip: '198.51.100.9', peer: '127.0.0.1' });
});

test('HTTP/2: client.ip from a trusted balancer’s X-Forwarded-For in the rules, the access log and the headers the server gets', async (t) => {
  const dir = tempDir(t, 'flagman-certs-');
  const ca = await testCA(dir);
  const leaf = await ca.leaf('site', ['a.test']);
  const app = await upstream(t, 'app');
  const yaml = `
flags: { dir: ./flags }
frontends:
  behind:
    listen: ["127.0.0.1:0"]
    tls: { cert: ./site.crt, key: ./site.key }
    trustedProxies: ["127.0.0.0/8"]
    rules: &rules
      - when: cidr("198.51.100.0/24").containsIP(client.ip)
        use: outsiders
      - use: app
  direct:
    listen: ["127.0.0.1:0"]
    tls: { cert: ./site.crt, key: ./site.key }
    rules: *rules
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
  outsiders:
    respond: { status: 403, body: "outsiders\\n" }
`;
  const fm = await startFlagman(t, yaml, {
    vars: { app: app.port },
    files: { 'site.crt': fs.readFileSync(leaf.cert), 'site.key': fs.readFileSync(leaf.key) },
    captureAccess: true,
  });
  const get = (port, p, headers) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.caPem, servername: 'a.test' });
    session.on('error', () => {});
    t.teardown(() => session.close());
    return new Promise((resolve, reject) => {
      const s = session.request({ ':path': p, ':authority': 'a.test', ...headers });
      let status = 0;
      let body = '';
      s.on('response', (h) => (status = h[':status']));
      s.on('data', (d) => (body += d));
      s.on('end', () => resolve({ status, body }));
      s.on('error', reject);
    });
  };
  t.like(await get(fm.ports[0], '/h2-outsider', { 'x-forwarded-for': '198.51.100.9' }), { status: 403, body: 'outsiders\n' });
  t.like(await accessLine(fm, '/h2-outsider'), { ip: '198.51.100.9', peer: '127.0.0.1' });
  t.like(await get(fm.ports[0], '/h2-office', { 'x-forwarded-for': '10.1.2.3' }), { status: 200, body: 'app' });
  t.is(app.seen.at(-1).headers['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
  t.is(app.seen.at(-1).headers['x-real-ip'], '10.1.2.3');
  t.like(await accessLine(fm, '/h2-office'), { ip: '10.1.2.3', peer: '127.0.0.1' });
  t.like(await get(fm.ports[1], '/h2-direct', { 'x-forwarded-for': '198.51.100.9', 'x-real-ip': '198.51.100.9' }), {
    status: 200,
    body: 'app',
  });
  t.is(app.seen.at(-1).headers['x-forwarded-for'], '127.0.0.1');
  t.is(app.seen.at(-1).headers['x-real-ip'], '127.0.0.1');
  t.like(await accessLine(fm, '/h2-direct'), { ip: '127.0.0.1' });
});

test('with acceptProxy, the address a PROXY header names is the peer that trustedProxies is asked about', async (t) => {
  const app = await upstream(t, 'app');
  const yaml = `
flags: { dir: ./flags }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    acceptProxy: true
    trustedProxies: ["10.0.0.0/8"]
    rules:
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
`;
  const fm = await startFlagman(t, yaml, { vars: { app: app.port }, captureAccess: true });
  /** One request after a v1 PROXY header naming `source`; resolves once the answer's head is in. */
  const send = (source, p, forwardedFor) =>
    new Promise((resolve, reject) => {
      const s = net.connect(fm.port, '127.0.0.1', () =>
        s.write(
          `PROXY TCP4 ${source} 10.0.1.1 4711 80\r\nGET ${p} HTTP/1.1\r\nHost: example\r\nX-Forwarded-For: ${forwardedFor}\r\nConnection: close\r\n\r\n`,
        ),
      );
      let buf = '';
      s.on('data', (d) => (buf += d));
      s.on('end', () => resolve(buf));
      s.on('error', reject);
    });
  // A CDN's edge (198.51.100.9's) reaches a layer-4 balancer in 10/8 that sends PROXY headers.
  t.regex(await send('10.0.0.5', '/via-lb', '198.51.100.9'), /^HTTP\/1\.1 200 /);
  t.is(app.seen.at(-1).headers['x-forwarded-for'], '198.51.100.9, 10.0.0.5');
  t.like(await accessLine(fm, '/via-lb'), { ip: '198.51.100.9', peer: '10.0.0.5' });
  // A client the header names directly is not trusted: its own X-Forwarded-For changes nothing.
  t.regex(await send('203.0.113.7', '/direct', '10.1.2.3'), /^HTTP\/1\.1 200 /);
  t.is(app.seen.at(-1).headers['x-forwarded-for'], '203.0.113.7');
  const line = await accessLine(fm, '/direct');
  t.is(line.ip, '203.0.113.7');
  t.false('peer' in line);
});
