// The PROXY protocol (docs/proxying.md, "Behind a load balancer"), over raw sockets on 127.0.0.1:
// frontends with `acceptProxy` take the client named by a v1 or v2 header (HTTP, TLS with HTTP/1.1
// and HTTP/2, tcp) and close connections without one; backends with `sendProxy` start each
// connection with the client's header, byte for byte, and their health checks with a LOCAL one.
// Headers and expected bytes are written out here by hand, not by flagman's own builder.
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import test from 'ava';
import { testCA } from '../helpers/certs.js';
import { adminStatus, flagmanCli, request, root, saveConfig, startFlagman, tempDir, waitFor } from '../helpers/e2e.js';
import { echoServer } from '../helpers/tcp.js';
import { scaled } from '../helpers/slow.js';

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const v1 = (src, dst, sport, dport) => Buffer.from(`PROXY TCP4 ${src} ${dst} ${sport} ${dport}\r\n`, 'latin1');
const quad = (ip) => ip.split('.').map(Number);
const port16 = (p) => [p >> 8, p & 0xff];
/** A v2 PROXY header for TCP over IPv4; `tlvs`: bytes after the addresses (counted in the length). */
function v2(src, dst, sport, dport, tlvs = []) {
  const body = [...quad(src), ...quad(dst), ...port16(sport), ...port16(dport), ...tlvs];
  return Buffer.from([...SIG, 0x21, 0x11, ...port16(body.length), ...body]);
}
const V2_LOCAL = Buffer.from([...SIG, 0x20, 0x00, 0x00, 0x00]);

const CLIENT = '203.0.113.7';
const RULES = `
    rules:
      - when: cidr("203.0.113.0/24").containsIP(client.ip)
        use: documentation
      - use: elsewhere`;

function config({ top = '', extra = '' } = {}) {
  return `${top}
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    acceptProxy: true${RULES}
  secure:
    listen: ["127.0.0.1:0"]
    acceptProxy: true
    tls: { cert: ./site.crt, key: ./site.key }${RULES}
  db:
    mode: tcp
    listen: ["127.0.0.1:0"]
    acceptProxy: true
    rules:
      - when: cidr("203.0.113.0/24").containsIP(client.ip)
        use: dbdoc
      - use: dbelse
  plain:
    listen: ["127.0.0.1:0"]${RULES}
backends:
  documentation:
    respond: { body: "documentation\\n" }
  elsewhere:
    respond: { body: "elsewhere\\n" }
  dbdoc:
    mode: tcp
    servers: { e1: { address: "127.0.0.1:{{dbdoc}}" } }
  dbelse:
    mode: tcp
    servers: { e2: { address: "127.0.0.1:{{dbelse}}" } }
${extra}`;
}

async function start(t, opts = {}) {
  const dir = tempDir(t, 'flagman-certs-');
  const ca = await testCA(dir);
  const site = await ca.leaf('site', ['a.test']);
  const dbdoc = await echoServer(t, 'dbdoc');
  const dbelse = await echoServer(t, 'dbelse');
  const fm = await startFlagman(t, config(opts), {
    vars: { dbdoc: dbdoc.port, dbelse: dbelse.port, ...opts.vars },
    files: { 'site.crt': fs.readFileSync(site.cert), 'site.key': fs.readFileSync(site.key) },
    captureAccess: true,
  });
  return { fm, ca, ports: { web: fm.portOf('web'), secure: fm.portOf('secure'), db: fm.portOf('db'), plain: fm.portOf('plain') } };
}

/**
 * A raw connection to `port` that sends `chunks` in turn (each written alone once the one before was
 * written, `paceMs` apart), then reads to the end: resolves with everything received and whether
 * the connection was reset. `end`: then closes its side (a tcp client done sending).
 */
function raw(port, chunks, { paceMs = 0, end = false } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const got = [];
    let error = null;
    socket.on('data', (c) => got.push(c));
    socket.on('error', (err) => (error = err));
    socket.once('close', () => resolve({ text: Buffer.concat(got).toString('latin1'), bytes: Buffer.concat(got).length, error }));
    socket.once('connect', async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        await new Promise((r) => socket.write(chunk, r));
        if (paceMs > 0) await new Promise((r) => setTimeout(r, paceMs));
      }
      if (end && !socket.destroyed) socket.end();
    });
  });
}

const GET = 'GET / HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n';
const bodyOf = (text) => text.slice(text.indexOf('\r\n\r\n') + 4);

test('an HTTP frontend with acceptProxy takes the client of a v1 or a v2 header: the rule on client.ip matches, the access log names it', async (t) => {
  const { fm, ports } = await start(t);
  // The request comes in the same write as the header: nothing of it may be lost.
  t.is(bodyOf((await raw(ports.web, [Buffer.concat([v1(CLIENT, '192.0.2.1', 56324, 80), Buffer.from(GET)])])).text), 'documentation\n');
  t.is(bodyOf((await raw(ports.web, [Buffer.concat([v2(CLIENT, '192.0.2.1', 56325, 80), Buffer.from(GET)])])).text), 'documentation\n');
  // Another client of the balancer's; and a v2 header with TLVs (a cloud balancer's endpoint id).
  t.is(
    bodyOf(
      (
        await raw(ports.web, [
          Buffer.concat([v2('198.51.100.9', '192.0.2.1', 4000, 80, [0x04, 0x00, 0x03, 0x61, 0x62, 0x63]), Buffer.from(GET)]),
        ])
      ).text,
    ),
    'elsewhere\n',
  );
  // LOCAL (the balancer's own check): the connection's own address, 127.0.0.1.
  t.is(bodyOf((await raw(ports.web, [Buffer.concat([V2_LOCAL, Buffer.from(GET)])])).text), 'elsewhere\n');
  await waitFor(() => fm.access.filter((l) => l.frontend === 'web').length === 4, { what: 'four access lines' });
  t.deepEqual(
    fm.access.filter((l) => l.frontend === 'web').map((l) => l.ip),
    [CLIENT, CLIENT, '198.51.100.9', '127.0.0.1'],
  );
  // A frontend without acceptProxy is unchanged: the socket's own address.
  t.is((await request(ports.plain)).body, 'elsewhere\n');
  // /explain of a request from the client the header named: the same client, the same rule.
  const e = await request(fm.adminPort, { path: `/explain?${new URLSearchParams({ frontend: 'web', path: '/', ip: CLIENT })}` });
  t.is(e.status, 200, e.body);
  const explained = JSON.parse(e.body);
  t.is(explained.request.ip, CLIENT);
  t.is(explained.backend, 'documentation');
});

test('a header split over many writes, byte by byte, still works; the request after it is whole', async (t) => {
  const { fm, ports } = await start(t);
  const header = v1(CLIENT, '192.0.2.1', 56324, 80);
  const bytes = [...header].map((b) => Buffer.from([b]));
  // The last byte of the header travels with the request.
  bytes[bytes.length - 1] = Buffer.concat([bytes.at(-1), Buffer.from(GET)]);
  t.is(bodyOf((await raw(ports.web, bytes, { paceMs: 2 })).text), 'documentation\n');
  const header2 = v2(CLIENT, '192.0.2.1', 56325, 80);
  t.is(
    bodyOf((await raw(ports.web, [...[...header2].map((b) => Buffer.from([b])), Buffer.from(GET)], { paceMs: 2 })).text),
    'documentation\n',
  );
  await waitFor(() => fm.access.filter((l) => l.frontend === 'web').length === 2, { what: 'two access lines' });
  t.true(fm.access.every((l) => l.ip === CLIENT));
});

test("a tcp frontend with acceptProxy routes by the header's client; the bytes after the header reach the server", async (t) => {
  const { fm, ports } = await start(t);
  const r1 = await raw(ports.db, [Buffer.concat([v1(CLIENT, '192.0.2.1', 56324, 5432), Buffer.from('hello\n')])], { end: true });
  t.is(r1.text, 'dbdoc:hello\n');
  const r2 = await raw(ports.db, [Buffer.concat([v2('198.51.100.9', '192.0.2.1', 1, 5432), Buffer.from('hi\n')])], { end: true });
  t.is(r2.text, 'dbelse:hi\n');
  await waitFor(() => fm.access.filter((l) => l.frontend === 'db').length === 2, { what: 'two access lines' });
  t.deepEqual(
    fm.access
      .filter((l) => l.frontend === 'db')
      .map((l) => l.ip)
      .sort(),
    [CLIENT, '198.51.100.9'].sort(),
  );
});

/** A TLS connection to `port` that first sends `header` in the clear, as a balancer does. */
function tlsAfter(port, header, ca, alpn) {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.write(header);
  return tls.connect({ socket, servername: 'a.test', ca: ca.caPem, ALPNProtocols: [alpn] });
}

test("a TLS frontend with acceptProxy reads the header before the handshake: HTTP/1.1 and HTTP/2 see the header's client", async (t) => {
  const { fm, ca, ports } = await start(t);
  // HTTP/1.1 over TLS, by hand.
  const s = tlsAfter(ports.secure, v1(CLIENT, '192.0.2.1', 56324, 443), ca, 'http/1.1');
  const got = [];
  s.on('data', (c) => got.push(c));
  s.once('secureConnect', () => s.write(GET));
  await new Promise((resolve, reject) => s.once('close', resolve).once('error', reject));
  t.is(bodyOf(Buffer.concat(got).toString()), 'documentation\n');
  // HTTP/2: two streams on one connection (each request's socket is a proxy of its own).
  const session = http2.connect(`https://a.test:${ports.secure}`, {
    createConnection: () => tlsAfter(ports.secure, v2(CLIENT, '192.0.2.1', 56325, 443), ca, 'h2'),
  });
  t.teardown(() => session.close());
  const get = () =>
    new Promise((resolve, reject) => {
      const req = session.request({ ':path': '/' });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (body += c));
      req.on('end', () => resolve(body));
      req.on('error', reject);
      req.end();
    });
  t.deepEqual(await Promise.all([get(), get()]), ['documentation\n', 'documentation\n']);
  await waitFor(() => fm.access.filter((l) => l.frontend === 'secure').length === 3, { what: 'three access lines' });
  t.true(fm.access.filter((l) => l.frontend === 'secure').every((l) => l.ip === CLIENT));
});

test('a connection without a valid header is closed without a byte, counted in /status and /metrics, and told once in the event log', async (t) => {
  const { fm, ports } = await start(t);
  const refused = [
    [Buffer.from(GET)], // a plain HTTP request
    [Buffer.from('\x16\x03\x01\x00\x05hello')], // garbage (a TLS record)
    [Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 56324')], // cut short, then FIN (below)
    [Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 56324 99999\r\n'), Buffer.from(GET)], // a port over 65535
    [Buffer.concat([SIG.subarray(0, 11), Buffer.from([0x0b, 0x21, 0x11, 0, 12])])], // v2 with a bad signature
    [Buffer.concat([SIG, Buffer.from([0x21, 0x51, 0, 12]), Buffer.alloc(12)]), Buffer.from(GET)], // v2, address family 5
    [Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, 4, 1, 2, 3, 4])]), Buffer.from(GET)], // v2, a length too short for IPv4
  ];
  const results = await Promise.all(
    refused.map(
      (chunks) =>
        new Promise((resolve) => {
          const socket = net.connect({ host: '127.0.0.1', port: ports.web });
          let bytes = 0;
          socket.on('data', (c) => (bytes += c.length));
          socket.on('error', () => {});
          socket.once('connect', () => {
            for (const c of chunks) socket.write(c);
            // The header cut short ends here: the client closes its side.
            if (chunks[0].toString().endsWith('56324')) socket.end();
          });
          socket.once('close', () => resolve(bytes));
        }),
    ),
  );
  t.deepEqual(
    results,
    refused.map(() => 0),
    'not one byte answered',
  );
  // Same on a tcp frontend: nothing reaches a server.
  t.is((await raw(ports.db, [Buffer.from('hello\n')], { end: true })).bytes, 0);
  const status = await adminStatus(fm);
  t.is(status.frontends.web.connections.proxyHeaderRefused, refused.length);
  t.is(status.frontends.db.connections.proxyHeaderRefused, 1);
  t.is(status.frontends.plain.connections.proxyHeaderRefused, 0);
  const metrics = (await request(fm.adminPort, { path: '/metrics' })).body;
  t.regex(metrics, new RegExp(`^flagman_frontend_proxy_header_refused_total\\{frontend="web"\\} ${refused.length}$`, 'm'));
  t.regex(metrics, /^flagman_frontend_proxy_header_refused_total\{frontend="db"\} 1$/m);
  t.like(status.frontends, { web: { acceptProxy: true }, db: { acceptProxy: true }, plain: { acceptProxy: false } });
  // flagman status: a NOPROXY column beside WAITING, `-` on the frontend without acceptProxy.
  const text = await flagmanCli(['status', '--admin', `127.0.0.1:${fm.adminPort}`]);
  t.is(text.exitCode, 0, text.stderr);
  const rows = text.stdout.split('\n');
  t.true(
    rows.some((l) => /^FRONTEND\s+REQUESTS\s+ACTIVE\s+CONNS\s+MAXCONN\s+WAITING\s+NOPROXY\s+413\s+429\s/.test(l)),
    text.stdout,
  );
  t.true(
    rows.some((l) => new RegExp(`^web\\s+0\\s+0\\s+0\\s+-\\s+0\\s+${refused.length}\\s+0\\s+0\\s`).test(l)),
    text.stdout,
  );
  t.true(
    rows.some((l) => /^plain\s+0\s+0\s+0\s+-\s+0\s+-\s+0\s+0\s/.test(l)),
    text.stdout,
  );
  // One line per frontend at once; the rest are told together NOTE_MS later, not one by one.
  const lines = fm.events.filter((e) => e.event === 'proxy.refused');
  t.is(lines.filter((e) => e.frontend === 'web').length, 1, JSON.stringify(lines));
  t.like(
    lines.find((e) => e.frontend === 'web'),
    { level: 40, refused: 1, ip: '127.0.0.1' },
  );
  t.regex(lines.find((e) => e.frontend === 'web').msg, /^frontend web: closed a connection without a valid PROXY header/);
  t.is(fm.access.filter((l) => l.frontend === 'web').length, 0, 'no access line: no request was read');
  // A connection that sends nothing and closes (a port probe, a balancer's TCP check) is not counted.
  t.is((await raw(ports.web, [], { end: true })).bytes, 0);
  t.is((await adminStatus(fm)).frontends.web.connections.proxyHeaderRefused, refused.length);
  // The counts are the frontend's, kept through a reload as its other counters are.
  const from = fm.events.length;
  saveConfig(fm, fs.readFileSync(fm.configFile, 'utf8').replace('elsewhere\\n', 'elsewhere, again\\n'));
  fm.proc.kill('SIGHUP');
  await fm.waitEvent((e) => e.event === 'reload', { from, timeout: scaled(10_000) });
  const reloaded = await adminStatus(fm);
  t.is(reloaded.config.generation, status.config.generation + 1);
  t.is(reloaded.frontends.web.connections.proxyHeaderRefused, refused.length);
  t.is(reloaded.frontends.db.connections.proxyHeaderRefused, 1);
});

test('a connection that sends no header within timeouts.client is closed and counted; one that sends a header and nothing more is an idle connection, not a request', async (t) => {
  const { fm, ports } = await start(t, { top: 'timeouts: { client: 300ms }' });
  const began = performance.now();
  const r = await raw(ports.web, [Buffer.from('PROXY TCP4 203.0.113.7')]);
  t.is(r.bytes, 0);
  t.true(performance.now() - began >= 250, 'held until the timeout');
  await waitFor(async () => (await adminStatus(fm)).frontends.web.connections.proxyHeaderRefused === 1, { what: 'the refusal counted' });
  const line = await fm.waitEvent((e) => e.event === 'proxy.refused');
  t.regex(line.reason, /no PROXY header within 300 ms/);
  // A whole header and then nothing is a connection that sent no request: closed after
  // timeouts.client as a plain HTTP listener closes one, with no access line (the header is no request).
  const idle = await raw(ports.web, [v1(CLIENT, '192.0.2.1', 56324, 80)]);
  t.regex(idle.text, /^HTTP\/1\.1 408 /);
  const probe = await raw(ports.web, [Buffer.concat([v1(CLIENT, '192.0.2.1', 56325, 80), Buffer.from(GET)])]);
  t.is(bodyOf(probe.text), 'documentation\n');
  await waitFor(() => fm.access.some((l) => l.frontend === 'web'), { what: 'the access line of the request after' });
  t.deepEqual(
    fm.access.filter((l) => l.frontend === 'web').map((l) => l.status),
    [200],
    'no 408 access line for the idle one',
  );
  t.is((await adminStatus(fm)).frontends.web.connections.proxyHeaderRefused, 1);
});

/** What follows the PROXY header `data` starts with (v2's signature holds a blank line of its own). */
function afterHeader(data) {
  if (data.subarray(0, 12).equals(SIG)) return data.length < 16 ? Buffer.alloc(0) : data.subarray(16 + data.readUInt16BE(14));
  if (data.subarray(0, 6).toString() === 'PROXY ') {
    const end = data.indexOf('\r\n');
    return end < 0 ? Buffer.alloc(0) : data.subarray(end + 2);
  }
  return data;
}

/**
 * A raw TCP server recording what each connection sends. `answer`: for HTTP, each request head
 * (ended by a blank line) is answered `200 ok`, keeping the connection open.
 */
async function recorder(t, { answer = false } = {}) {
  const conns = [];
  const server = net.createServer((socket) => {
    const c = { data: Buffer.alloc(0), answered: 0, socket };
    conns.push(c);
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      c.data = Buffer.concat([c.data, chunk]);
      if (!answer) return;
      const heads = afterHeader(c.data).toString('latin1').split('\r\n\r\n').length - 1;
      while (c.answered < heads) {
        c.answered++;
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n');
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const c of conns) c.socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: server.address().port, conns };
}

/** A kept-alive client on 127.0.0.1: `get()` sends a request and resolves with the body. */
function keepAliveClient(t, port, prefix = null) {
  const socket = net.connect({ host: '127.0.0.1', port });
  t.teardown(() => socket.destroy());
  if (prefix) socket.write(prefix);
  let buf = '';
  let waiting = null;
  socket.on('data', (c) => {
    buf += c.toString('latin1');
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))[1]);
    if (buf.length < end + 4 + len) return;
    const body = buf.slice(end + 4, end + 4 + len);
    buf = buf.slice(end + 4 + len);
    waiting?.(body);
  });
  const connected = new Promise((resolve) => socket.once('connect', resolve));
  return {
    socket,
    async get(p = '/') {
      await connected;
      return new Promise((resolve) => {
        waiting = resolve;
        socket.write(`GET ${p} HTTP/1.1\r\nHost: example.test\r\n\r\n`);
      });
    },
  };
}

const SEND = `
  sendv2:
    sendProxy: v2
    servers: { r1: { address: "127.0.0.1:{{rec2}}" } }
  sendv1:
    sendProxy: v2
    servers: { r2: { address: "127.0.0.1:{{rec1}}", sendProxy: v1 } }
  tcpv1:
    mode: tcp
    sendProxy: v1
    servers: { r3: { address: "127.0.0.1:{{rect}}" } }`;

function sendConfig() {
  return `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: request.path == "/v1"
        use: sendv1
      - use: sendv2
  lb:
    listen: ["127.0.0.1:0"]
    acceptProxy: true
    rules: [{ use: sendv2 }]
  db:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules: [{ use: tcpv1 }]
backends:${SEND}
`;
}

test("sendProxy v2 and v1 start each server connection with the client's address and port, byte for byte; two clients never share one", async (t) => {
  const rec2 = await recorder(t, { answer: true });
  const rec1 = await recorder(t, { answer: true });
  const rect = await recorder(t);
  const fm = await startFlagman(t, sendConfig(), { vars: { rec2: rec2.port, rec1: rec1.port, rect: rect.port } });
  const web = fm.portOf('web');

  // Client A: two requests on one kept-alive connection; client B: one.
  const a = keepAliveClient(t, web);
  t.is(await a.get(), 'ok\n');
  t.is(await a.get(), 'ok\n');
  const b = keepAliveClient(t, web);
  t.is(await b.get(), 'ok\n');
  t.is(await a.get(), 'ok\n');
  t.is(rec2.conns.length, 2, 'one server connection per client connection');
  const header = (c) => v2('127.0.0.1', '127.0.0.1', c.socket.localPort, web);
  for (const [client, conn, requests] of [
    [a, rec2.conns[0], 3],
    [b, rec2.conns[1], 1],
  ]) {
    const h = header(client);
    t.deepEqual(conn.data.subarray(0, h.length), h, 'the v2 header of that client, first');
    t.is(conn.data.subarray(h.length).toString('latin1').split('\r\n\r\n').length - 1, requests, "then its requests, and no one else's");
    t.is(conn.data.indexOf(SIG, 1), -1, 'one header only');
  }

  // v1, a server's own override over its backend's v2.
  const c = keepAliveClient(t, web);
  t.is(await c.get('/v1'), 'ok\n');
  const h1 = Buffer.from(`PROXY TCP4 127.0.0.1 127.0.0.1 ${c.socket.localPort} ${web}\r\n`);
  t.deepEqual(rec1.conns[0].data.subarray(0, h1.length), h1);
  t.regex(rec1.conns[0].data.subarray(h1.length).toString(), /^GET \/v1 HTTP\/1\.1\r\n/);

  // Behind a balancer: the header sent on names the client the balancer's header named.
  const lb = keepAliveClient(t, fm.portOf('lb'), v1(CLIENT, '192.0.2.1', 56324, 443));
  t.is(await lb.get(), 'ok\n');
  t.deepEqual(rec2.conns[2].data.subarray(0, 28), v2(CLIENT, '192.0.2.1', 56324, 443));
  // And so do the forwarded headers: every reader of the address asks one place.
  t.regex(afterHeader(rec2.conns[2].data).toString('latin1'), /\r\nX-Forwarded-For: 203\.0\.113\.7\r\n/i);

  // An upgrade (WebSocket) has a server connection of its own: it starts with its client's header too.
  const ws = keepAliveClient(t, web);
  await new Promise((resolve) => ws.socket.once('connect', resolve));
  const before = rec2.conns.length;
  const wsPort = ws.socket.localPort;
  ws.socket.write('GET /ws HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  await waitFor(() => rec2.conns.length > before && rec2.conns.at(-1).answered === 1, { what: 'the upgrade request at the server' });
  const hw = v2('127.0.0.1', '127.0.0.1', wsPort, web);
  t.deepEqual(rec2.conns.at(-1).data.subarray(0, hw.length), hw);
  t.regex(afterHeader(rec2.conns.at(-1).data).toString('latin1'), /^GET \/ws HTTP\/1\.1\r\n[\s\S]*Upgrade: websocket/i);

  // A tcp backend: the header, then the client's bytes.
  const db = net.connect({ host: '127.0.0.1', port: fm.portOf('db') });
  t.teardown(() => db.destroy());
  await new Promise((resolve) => db.once('connect', resolve));
  db.write('hello\n');
  const expected = Buffer.concat([
    Buffer.from(`PROXY TCP4 127.0.0.1 127.0.0.1 ${db.localPort} ${fm.portOf('db')}\r\n`),
    Buffer.from('hello\n'),
  ]);
  await waitFor(() => rect.conns[0]?.data.length >= expected.length, { what: 'the tcp server got the header and the bytes' });
  t.deepEqual(rect.conns[0].data, expected);
});

test('health checks of a server with sendProxy start with a LOCAL header (v2) or PROXY UNKNOWN (v1)', async (t) => {
  const tcp = await recorder(t);
  const web = await recorder(t, { answer: true });
  const fm = await startFlagman(
    t,
    `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules: [{ use: app }]
backends:
  app:
    sendProxy: v1
    health: { type: http, path: /healthz, interval: 200ms }
    servers: { a1: { address: "127.0.0.1:{{web}}" } }
  db:
    mode: tcp
    sendProxy: v2
    health: { interval: 200ms }
    servers: { d1: { address: "127.0.0.1:{{tcp}}" } }
`,
    { vars: { tcp: tcp.port, web: web.port } },
  );
  await waitFor(() => tcp.conns.length >= 2 && web.conns.length >= 1 && web.conns[0].answered >= 1, { what: 'checks' });
  for (const c of tcp.conns.slice(0, 2)) {
    await waitFor(() => c.socket.readableEnded || c.data.length >= 16, { what: "a check's bytes" });
    t.deepEqual(c.data, V2_LOCAL, 'a tcp check: the 16 bytes of a v2 LOCAL header, and nothing else');
  }
  t.regex(web.conns[0].data.toString('latin1'), /^PROXY UNKNOWN\r\nGET \/healthz HTTP\/1\.1\r\n/);
  t.is((await adminStatus(fm)).backends.db.servers.d1.state, 'up');
});

test('flagman check reports a bad acceptProxy or sendProxy at its file:line:col', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(
    file,
    `frontends:
  web:
    listen: "127.0.0.1:0"
    acceptProxy: maybe
    rules: [{ use: app }]
backends:
  app:
    sendProxy: v3
    servers:
      a1: { address: "127.0.0.1:8080", sendProxy: yes }
`,
  );
  const r = await flagmanCli(['check', '-c', file]);
  t.is(r.exitCode, 1, r.stdout + r.stderr);
  const out = r.stdout + r.stderr;
  t.true(
    out.includes(`CONFIG_SCHEMA: frontends.web.acceptProxy: expected true, false, on or off, got the string "maybe" (${file}:4:18)`),
    out,
  );
  t.true(out.includes(`CONFIG_SCHEMA: backends.app.sendProxy: expected one of v1, v2, got the string "v3" (${file}:8:16)`), out);
  t.true(
    out.includes(`CONFIG_SCHEMA: backends.app.servers.a1.sendProxy: expected one of v1, v2, off, got the string "yes" (${file}:10:51)`),
    out,
  );
});

test('a reload cannot turn acceptProxy on for a listener it keeps: it fails, naming the address, and the old config serves on', async (t) => {
  const { fm, ports } = await start(t);
  const text = fs.readFileSync(fm.configFile, 'utf8');
  // `plain` keeps its address (port 0 is kept for the same frontend and position) and gains acceptProxy.
  saveConfig(fm, text.replace(/ {2}plain:\n {4}listen: \["127.0.0.1:0"\]/, '  plain:\n    listen: ["127.0.0.1:0"]\n    acceptProxy: true'));
  const from = fm.events.length;
  fm.proc.kill('SIGHUP');
  const failed = await fm.waitEvent((e) => e.event === 'reload.failed', { from, timeout: scaled(10_000) });
  t.regex(JSON.stringify(failed), /cannot turn acceptProxy on in a reload; restart to apply/);
  t.is((await request(ports.plain)).body, 'elsewhere\n');
});

test('the README recipe "Behind a load balancer" is a config flagman accepts, and its rule matches the office behind the header', async (t) => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const from = readme.indexOf('### Behind a load balancer\n');
  const shown = /```yaml\n([\s\S]*?)```/.exec(readme.slice(from))[1];
  const yaml = `flags: { dir: ./flags }\nadmin: { listen: "127.0.0.1:0" }\n${shown.replace('10.0.1.5:8080', '127.0.0.1:0')}backends:\n  maintenance: { respond: { status: 503, body: "maintenance\\n" } }\n  app: { respond: { body: "app\\n" } }\n`;
  const fm = await startFlagman(t, yaml, { flags: { MAINT: '1\n' } });
  const office = await raw(fm.port, [Buffer.concat([v2(CLIENT, '10.0.1.5', 40000, 8080), Buffer.from(GET)])]);
  t.is(bodyOf(office.text), 'app\n');
  const other = await raw(fm.port, [Buffer.concat([v1('198.51.100.9', '10.0.1.5', 40001, 8080), Buffer.from(GET)])]);
  t.is(bodyOf(other.text), 'maintenance\n');
});
