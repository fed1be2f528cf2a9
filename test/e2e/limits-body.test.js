// Request body limits (`maxBody`): a body declared over the limit is answered 413 before any server
// connection, and the server gets not one byte (recorded raw); a body without a length that crosses
// the limit on its way is cut there — the server sees a request short of its last chunk and its
// connection closed — and the client gets 413. HTTP/1.1 and HTTP/2 alike.
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import test from 'ava';
import { testCA } from '../helpers/certs.js';
import { adminStatus, request, startFlagman, tempDir, waitFor } from '../helpers/e2e.js';

const MiB = 1024 * 1024;

const CONFIG = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    maxBody: 1MiB
    rules: &rules
      - when: request.path.startsWith("/large/")
        use: app
        maxBody: 4MiB
      - when: request.path.startsWith("/any/")
        use: app
        maxBody: off
      - use: app
  secure:
    listen: ["127.0.0.1:0"]
    tls: { cert: ./site.crt, key: ./site.key }
    maxBody: 1MiB
    rules: *rules
backends:
  app:
    servers: { a: { address: "127.0.0.1:{{app}}" } }
`;

/**
 * A server that records every byte it receives, raw, per connection; it answers a request once its
 * body is complete (by Content-Length, or the last chunk), with `ok N` (N: the bytes it got).
 */
async function rawUpstream(t) {
  const connections = [];
  const server = net.createServer((socket) => {
    const chunks = [];
    const conn = { length: 0, head: null, tail: '', closed: false, text: () => Buffer.concat(chunks).toString('latin1') };
    connections.push(conn);
    socket.on('data', (d) => {
      chunks.push(d);
      conn.length += d.length;
      conn.tail = (conn.tail + d.toString('latin1', Math.max(0, d.length - 7))).slice(-7);
      if (conn.head === null) {
        const text = conn.text();
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = text.slice(0, end);
        const length = /\r\ncontent-length: *(\d+)/i.exec(head);
        conn.head = {
          end: end + 4,
          length: length === null ? null : Number(length[1]),
          chunked: /\r\ntransfer-encoding: *chunked/i.test(head),
        };
      }
      const h = conn.head;
      const complete = h.length !== null ? conn.length >= h.end + h.length : !h.chunked || conn.tail.endsWith('\r\n0\r\n\r\n');
      if (!complete) return;
      const body = `ok ${conn.length}`;
      socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    });
    socket.on('error', () => {});
    socket.on('close', () => (conn.closed = true));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { port: server.address().port, connections };
}

/**
 * Sends a `size`-byte body in 64 KiB writes, with a Content-Length unless `chunked`; resolves with
 * the status, the body and whether `100 Continue` came. Write errors after the answer (the proxy
 * closed the connection under a client still sending) are expected.
 */
function upload(port, path, size, { chunked = false, expect = false } = {}) {
  return new Promise((resolve, reject) => {
    const headers = chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(size) };
    if (expect) headers.expect = '100-continue';
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, headers, agent: false });
    let continued = false;
    let answered = false;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const pump = () => {
      while (sent < size && !answered) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    req.on('continue', () => {
      continued = true;
      pump();
    });
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body, continued, sent }));
    });
    req.on('error', (err) => (answered ? undefined : reject(err)));
    req.flushHeaders();
    if (!expect) pump();
  });
}

test('HTTP/1.1: a 2 MiB upload to a 1 MiB maxBody gets 413, and the server sees not a byte', async (t) => {
  const app = await rawUpstream(t);
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port }, files: (await certFiles(t)).files, captureAccess: true });
  const r = await upload(fm.port, '/upload', 2 * MiB);
  t.is(r.status, 413);
  t.is(r.body, '413 Content Too Large\n');
  t.is(r.headers.connection, 'close', 'the connection is not read on: it closes once the answer is out');
  // With Expect: 100-continue the client is told no before it sends anything.
  const e = await upload(fm.port, '/upload', 2 * MiB, { expect: true });
  t.deepEqual([e.status, e.continued], [413, false]);
  // The rule's own maxBody, and `off`, allow more; a request within the limit goes through.
  t.is((await upload(fm.port, '/large/x', 2 * MiB)).status, 200);
  t.is((await upload(fm.port, '/any/x', 5 * MiB)).status, 200);
  t.is((await upload(fm.port, '/small', MiB)).status, 200, 'exactly the limit is within it');
  t.is((await upload(fm.port, '/expected', MiB, { expect: true })).continued, true, 'a body within the limit is asked for');
  t.is(app.connections.length, 4, 'the refused uploads never reached the server');
  for (const c of app.connections) t.notRegex(c.text().slice(0, 64), /^POST \/upload /);

  await waitFor(() => fm.access.filter((l) => l.status === 413).length === 2, { what: 'the access lines' });
  const refused = fm.access.filter((l) => l.status === 413);
  t.deepEqual(
    refused.map((l) => [l.reason, l.backend, l.server]),
    [
      ['body too large', null, null],
      ['body too large', null, null],
    ],
  );
  const s = await adminStatus(fm);
  t.is(s.frontends.web.refused.bodyTooLarge, 2);
  t.is(s.frontends.web.rules[2].refused.bodyTooLarge, 2);
  t.is(s.frontends.web.rules[2].maxBody, 1048576);
  t.is(s.frontends.web.rules[0].maxBody, 4 * MiB);
  t.is(s.frontends.web.rules[1].maxBody, null);
});

test('HTTP/1.1: a chunked upload crossing the limit is cut there: 413, and the server gets a request short of its last chunk', async (t) => {
  const app = await rawUpstream(t);
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port }, files: (await certFiles(t)).files, captureAccess: true });
  const r = await upload(fm.port, '/stream', 2 * MiB, { chunked: true });
  t.is(r.status, 413);
  t.is(r.headers.connection, 'close');
  await waitFor(() => app.connections.length === 1 && app.connections[0].closed, { what: 'the server connection closed' });
  const seen = app.connections[0].text();
  t.regex(seen, /^POST \/stream HTTP\/1\.1\r\n/);
  t.false(seen.endsWith('\r\n0\r\n\r\n'), 'no last chunk: the request is incomplete');
  const body = seen.length - seen.indexOf('\r\n\r\n') - 4;
  t.true(body <= MiB + 64 * 16, `at most the limit (and its chunk framing) went up: ${body} bytes`);
  t.log(`the server got ${body} bytes of body, framing included, of the 2 MiB sent`);
  // A chunked upload within the limit goes through whole.
  t.is((await upload(fm.port, '/stream', MiB, { chunked: true })).status, 200);
  await waitFor(() => fm.access.some((l) => l.status === 413), { what: 'the access line' });
  t.like(
    fm.access.find((l) => l.status === 413),
    { reason: 'body too large', backend: 'app', server: 'a' },
  );
  const s = await adminStatus(fm);
  t.is(s.frontends.web.refused.bodyTooLarge, 1);
  t.is(s.backends.app.servers.a.failures, 0, 'the server is not blamed');
  t.is(s.backends.app.servers.a.active, 0);
});

test('HTTP/1.1: a chunked upload crossing the limit after the server\'s response began: the response is cut, logged with its status and "body too large"', async (t) => {
  // A server that answers as soon as it has the request head (a first chunk, and no end), then
  // reads on: the client's response is under way when the upload crosses the limit.
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    let head = '';
    const onData = (d) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.off('data', onData);
      s.resume();
      s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nbegun\r\n');
    };
    s.on('data', onData);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  const fm = await startFlagman(t, CONFIG, {
    vars: { app: server.address().port },
    files: (await certFiles(t)).files,
    captureAccess: true,
  });
  // Sends a first 64 KiB chunk; once the response has begun, more for as long as the connection takes them.
  const outcome = await new Promise((resolve) => {
    const req = http.request({
      host: '127.0.0.1',
      port: fm.port,
      method: 'POST',
      path: '/begun',
      headers: { 'transfer-encoding': 'chunked' },
      agent: false,
    });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const pump = () => {
      while (sent < 4 * MiB && !req.destroyed) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!req.destroyed) req.end();
    };
    req.on('response', (res) => {
      pump();
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode, body, complete: res.complete }));
    });
    req.on('error', () => {});
    sent += chunk.length;
    req.write(chunk);
  });
  t.like(outcome, { status: 200, body: 'begun', complete: false });
  const line = await waitFor(() => fm.access.find((l) => l.path === '/begun'), { what: 'the access line of /begun' });
  t.like(line, { status: 200, backend: 'app', server: 'a', bytes: 5, reason: 'body too large' });
  t.is((await adminStatus(fm)).frontends.web.refused.bodyTooLarge, 1);
});

test('HTTP/2: a declared 2 MiB body gets 413 with the server seeing nothing; an undeclared one is cut at the limit', async (t) => {
  const certs = await certFiles(t);
  const app = await rawUpstream(t);
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port }, files: certs.files });
  const session = http2.connect(`https://a.test:${fm.portOf('secure')}`, { ca: certs.ca, host: '127.0.0.1', servername: 'a.test' });
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  const send = (path, size, declared) =>
    new Promise((resolve) => {
      const headers = { ':method': 'POST', ':path': path };
      if (declared) headers['content-length'] = String(size);
      const req = session.request(headers);
      let status = 0;
      let body = '';
      req.on('response', (h) => (status = h[':status']));
      req.on('data', (d) => (body += d));
      // The answer's end, not the stream's close: Node's client leaves a stream whose upload it was
      // still sending open after a RST_STREAM with NO_ERROR (curl stops its upload, as it should).
      req.on('end', () => {
        resolve({ status, body });
        req.close();
      });
      req.on('error', () => {});
      const chunk = Buffer.alloc(64 * 1024, 'y');
      let sent = 0;
      const pump = () => {
        while (sent < size && !req.destroyed && status === 0) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!req.destroyed && status === 0) req.end();
      };
      pump();
    });
  const declared = await send('/h2', 2 * MiB, true);
  t.deepEqual([declared.status, declared.body], [413, '413 Content Too Large\n']);
  t.is(app.connections.length, 0, 'the server saw no connection at all');

  const streamed = await send('/h2', 2 * MiB, false);
  t.is(streamed.status, 413);
  await waitFor(() => app.connections.length === 1 && app.connections[0].closed, { what: 'the server connection closed' });
  const seen = app.connections[0].text();
  t.false(seen.endsWith('\r\n0\r\n\r\n'), 'no last chunk');
  t.true(seen.length - seen.indexOf('\r\n\r\n') - 4 <= MiB + 64 * 16);

  // The connection's other streams go on, and a body within the limit goes through.
  t.is((await send('/h2', MiB, true)).status, 200);
  t.is((await send('/h2', MiB / 2, false)).status, 200);
  const s = await adminStatus(fm);
  t.is(s.frontends.secure.refused.bodyTooLarge, 2);
  t.is((await request(fm.port)).status, 200);
});

/** A certificate for a.test, as files for startFlagman, and its CA (`ca`) for clients. */
async function certFiles(t) {
  const dir = tempDir(t, 'flagman-certs-');
  const ca = await testCA(dir);
  const leaf = await ca.leaf('site', ['a.test']);
  return { files: { 'site.crt': fs.readFileSync(leaf.cert), 'site.key': fs.readFileSync(leaf.key) }, ca: ca.caPem };
}
