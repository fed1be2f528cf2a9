// The upstream pool and its connections (src/upstream/pool.ts, connection.ts) against real servers
// on 127.0.0.1: reuse, the idle bounds (ours and the server's Keep-Alive), request framing, and
// connections that must not be reused.
import http from 'node:http';
import { once } from 'node:events';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { Readable } from 'node:stream';
import test from 'ava';
import { UpstreamPool } from '../../dist/upstream/pool.js';

async function server(t, handler) {
  const sockets = [];
  const srv = http.createServer(handler);
  srv.on('connection', (s) =>
    sockets.push({ socket: s, closedAt: new Promise((resolve) => s.on('close', () => resolve(performance.now()))) }),
  );
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => srv.close() && srv.closeAllConnections());
  return { port: srv.address().port, sockets };
}

/** Sends one request through `pool`; resolves with what came back and whether the connection was reused. */
function send(pool, { method = 'GET', path = '/', headers = ['Host', 'x'], body = null, chunked = false, client = null } = {}) {
  return new Promise((resolve, reject) => {
    const out = { status: 0, headers: [], body: '', reused: null };
    pool.request({
      client,
      proxyHeader: (version) => Buffer.from(`PROXY v${version} ${client.name}\r\n`),
      method,
      path,
      headers,
      body,
      bodyChunked: chunked,
      serverTimeout: 5000,
      onStart: (_conn, reused) => ((out.reused = reused), true),
      onHead: (status, _text, hdrs) => Object.assign(out, { status, headers: hdrs }),
      onData: (chunk) => ((out.body += chunk), true),
      onComplete: () => resolve(out),
      onError: reject,
    });
  });
}

test('requests one after another share one kept-alive connection', async (t) => {
  const app = await server(t, (req, res) => res.end(`hi ${req.url}`));
  const pool = new UpstreamPool('127.0.0.1', app.port, { connect: 1000, idle: 60_000 });
  t.teardown(() => pool.destroy());
  const reused = [];
  for (let i = 0; i < 5; i++) {
    const r = await send(pool, { path: `/${i}` });
    t.is(r.body, `hi /${i}`);
    reused.push(r.reused);
  }
  t.deepEqual(reused, [false, true, true, true, true]);
  t.is(app.sockets.length, 1);
  t.is(pool.connections, 1);
});

test("an idle connection closes after timeouts.idle, or 1 s before the server's Keep-Alive timeout", async (t) => {
  const app = await server(t, (_req, res) => res.end('ok'));
  const short = new UpstreamPool('127.0.0.1', app.port, { connect: 1000, idle: 300 });
  t.teardown(() => short.destroy());
  let started = performance.now();
  await send(short);
  let closed = (await app.sockets[0].closedAt) - started;
  t.true(closed >= 250 && closed < 1500, `closed after ${Math.round(closed)} ms (idle 300 ms)`);

  // Node's server says Keep-Alive: timeout=5 by default; with 2 s it says timeout=2.
  const announced = await server(t, (_req, res) => {
    res.setHeader('Keep-Alive', 'timeout=2');
    res.end('ok');
  });
  const long = new UpstreamPool('127.0.0.1', announced.port, { connect: 1000, idle: 60_000 });
  t.teardown(() => long.destroy());
  started = performance.now();
  await send(long);
  closed = (await announced.sockets[0].closedAt) - started;
  t.true(closed >= 900 && closed < 1900, `closed after ${Math.round(closed)} ms (the server's 2 s less 1 s)`);
  t.is(long.connections, 0);
});

test('a body of unknown length goes up chunk-encoded, a sized one as it is', async (t) => {
  const app = await server(t, (req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c) => (body += c));
    req.on('end', () =>
      res.end(JSON.stringify({ te: req.headers['transfer-encoding'] ?? null, length: req.headers['content-length'] ?? null, body })),
    );
  });
  const pool = new UpstreamPool('127.0.0.1', app.port, { connect: 1000, idle: 60_000 });
  t.teardown(() => pool.destroy());
  const chunked = await send(pool, { method: 'POST', body: Readable.from([Buffer.from('one '), Buffer.from('two')]), chunked: true });
  t.deepEqual(JSON.parse(chunked.body), { te: 'chunked', length: null, body: 'one two' });
  const sized = await send(pool, {
    method: 'POST',
    headers: ['Host', 'x', 'Content-Length', '4'],
    body: Readable.from([Buffer.from('fi'), Buffer.from('ve')]),
  });
  t.deepEqual(JSON.parse(sized.body), { te: null, length: '4', body: 'five' });
  t.true(sized.reused, 'both on one connection');
});

test('a response that ends before its request body was sent whole closes the connection', async (t) => {
  const app = await server(t, (_req, res) => res.end('too large')); // answers without reading
  const pool = new UpstreamPool('127.0.0.1', app.port, { connect: 1000, idle: 60_000 });
  t.teardown(() => pool.destroy());
  const never = new Readable({ read() {} }); // a body that never ends
  never.push('start');
  const r = await send(pool, { method: 'POST', body: never, chunked: true });
  t.is(r.body, 'too large');
  await app.sockets[0].closedAt;
  t.is(pool.connections, 0);
  const next = await send(pool);
  t.false(next.reused, 'the next request opened a new connection');
});

test("a server's answer that came in time is not taken for silence when flagman itself stalled past timeouts.server", async (t) => {
  // A loaded machine can stall flagman's event loop longer than the timeout; when it runs again,
  // the due timer comes before the poll that would read the answer already waiting.
  let answer;
  const asked = new Promise((resolve) => {
    answer = resolve;
  });
  const app = await server(t, (_req, res) => answer(res));
  const pool = new UpstreamPool('127.0.0.1', app.port, { connect: 1000, idle: 60_000 });
  t.teardown(() => pool.destroy());
  const result = new Promise((resolve) => {
    const out = { status: 0, body: '', error: null };
    pool.request({
      method: 'GET',
      path: '/',
      headers: ['Host', 'x'],
      body: null,
      bodyChunked: false,
      serverTimeout: 300,
      onStart: () => true,
      onHead: (status) => (out.status = status),
      onData: (chunk) => ((out.body += chunk), true),
      onComplete: () => resolve(out),
      onError: (err) => resolve({ ...out, error: err.code }),
    });
  });
  const res = await asked;
  res.end('in time'); // in the kernel's buffer for flagman's socket at once
  const until = performance.now() + 700;
  while (performance.now() < until); // the stall: the event loop runs nothing
  t.deepEqual(await result, { status: 200, body: 'in time', error: null });
});

/** A client connection as the pool follows it (an HTTP/1.1 socket, an HTTP/2 session): it closes once. */
function clientConnection(name) {
  const c = new EventEmitter();
  Object.assign(c, { name, destroyed: false });
  c.close = () => {
    c.destroyed = true;
    c.emit('close');
  };
  return c;
}

test("sendProxy: a connection carries one client connection's requests only, starts with its header, and closes with it", async (t) => {
  // A raw server: each connection records its bytes and answers each request head (after the header line) with "ok".
  const conns = [];
  const srv = net.createServer((socket) => {
    const c = { data: '', closed: false };
    conns.push(c);
    socket.on('close', () => (c.closed = true));
    socket.on('data', (d) => {
      const before = c.data.split('\r\n\r\n').length;
      c.data += d;
      for (let i = before; i < c.data.split('\r\n\r\n').length; i++) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => srv.close());
  const pool = new UpstreamPool('127.0.0.1', srv.address().port, { connect: 1000, idle: 60_000 }, 2);
  t.teardown(() => pool.destroy());
  const a = clientConnection('a');
  const b = clientConnection('b');
  t.like(await send(pool, { client: a, path: '/a1' }), { body: 'ok', reused: false });
  t.like(await send(pool, { client: b, path: '/b1' }), { body: 'ok', reused: false }, "another client never takes a's idle connection");
  t.like(await send(pool, { client: a, path: '/a2' }), { body: 'ok', reused: true }, 'the same client takes its own again');
  t.is(conns.length, 2);
  t.regex(conns[0].data, /^PROXY v2 a\r\nGET \/a1 HTTP\/1\.1\r\n[\s\S]*GET \/a2 HTTP/);
  t.notRegex(conns[0].data, /\/b1/);
  t.regex(conns[1].data, /^PROXY v2 b\r\nGET \/b1 HTTP\/1\.1\r\n/);
  // Its client gone, an idle private connection closes; the other client's stays.
  a.close();
  await new Promise((resolve) => {
    const w = () => (conns[0].closed ? resolve() : setTimeout(w, 5));
    w();
  });
  t.false(conns[1].closed);
  t.is(pool.connections, 1);
  b.close();
  t.like(await send(pool, { client: clientConnection('c'), path: '/c1' }).catch((e) => e), { body: 'ok' });
});
