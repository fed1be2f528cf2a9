// proxy/h1-connection.ts, the HTTP/1.1 fast path, on a server wired as a frontend's is
// (frontend.ts): which requests it serves itself, which go to Node's HTTP/1.1 server with the
// connection, and that a client sees the same answers either way — keep-alive, pipelining, bodies
// cut across reads, HEAD, Connection: close, chunked answers, a connection that says nothing.
import http from 'node:http';
import net from 'node:net';
import test from 'ava';
import { FastRequest, closeIdleFast, drainFast, fastPath } from '../../dist/proxy/h1-connection.js';

/** A server as frontend.ts makes one; each answer says who read the request and what it was. */
async function server(t, { answer, early } = {}) {
  const s = http.createServer();
  s.keepAliveTimeout = 5000;
  s.headersTimeout = 60_000;
  const node = s.listeners('connection')[0];
  s.removeAllListeners('connection');
  s.on(
    'connection',
    fastPath(s, (socket) => node.call(s, socket), s),
  );
  s.on('request', (req, res) => {
    if (early) return early(req, res);
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = `${req instanceof FastRequest ? 'fast' : 'node'} ${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`;
      if (answer) return answer(req, res, body);
      res.writeHead(200, ['Content-Length', String(Buffer.byteLength(body)), 'X-Seen', 'yes']);
      res.end(body);
    });
  });
  s.on('clientError', (err, socket) => {
    socket.end(
      `HTTP/1.1 ${err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request'}\r\nConnection: close\r\n\r\n`,
    );
  });
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    s.closeAllConnections();
    s.close();
  });
  return s;
}

/**
 * Reads answers off `socket` (status, headers, body); `until(n)` resolves with the first `n` of
 * them, or all there were at its close.
 */
function reader(socket) {
  let buf = Buffer.alloc(0);
  const got = [];
  const waiting = [];
  let closed = false;
  const settle = () => {
    for (const w of waiting.splice(0)) {
      if (got.length >= w.n || closed) w.resolve(got.slice(0, w.n));
      else waiting.push(w);
    }
  };
  const parse = () => {
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers = Object.fromEntries(
        lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      let body;
      let used;
      if (headers['transfer-encoding'] === 'chunked') {
        let at = end + 4;
        const parts = [];
        for (;;) {
          const eol = buf.indexOf('\r\n', at);
          if (eol < 0) return;
          const size = Number.parseInt(buf.subarray(at, eol).toString(), 16);
          if (buf.length < eol + 2 + size + 2) return;
          if (size === 0) {
            used = eol + 4;
            break;
          }
          parts.push(buf.subarray(eol + 2, eol + 2 + size));
          at = eol + 2 + size + 2;
        }
        body = Buffer.concat(parts).toString();
      } else {
        const length = Number(headers['content-length'] ?? 0);
        if (buf.length < end + 4 + length) return;
        body = buf.subarray(end + 4, end + 4 + length).toString();
        used = end + 4 + length;
      }
      got.push({ status: Number(lines[0].split(' ')[1]), headers, body });
      buf = buf.subarray(used);
    }
  };
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    parse();
    settle();
  });
  socket.on('close', () => {
    closed = true;
    settle();
  });
  return {
    until: (n) =>
      new Promise((resolve) => {
        waiting.push({ n, resolve });
        settle();
      }),
  };
}

/** The first `n` answers off `socket`. */
const answers = (socket, n) => reader(socket).until(n);

async function connect(t, s) {
  const socket = net.connect(s.address().port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  t.teardown(() => socket.destroy());
  return socket;
}

const get = (path, more = '') => `GET ${path} HTTP/1.1\r\nHost: a.test\r\n${more}\r\n`;

test('keep-alive requests are read by the fast path; their answers carry Date and keep-alive headers', async (t) => {
  const s = await server(t);
  const socket = await connect(t, s);
  const answered = reader(socket);
  socket.write(get('/a'));
  await answered.until(1);
  socket.write(get('/b'));
  const [a, b] = await answered.until(2);
  t.is(a.body, 'fast GET /a ');
  t.is(b.body, 'fast GET /b ');
  t.is(a.headers['x-seen'], 'yes');
  t.is(a.headers.connection, 'keep-alive');
  t.is(a.headers['keep-alive'], 'timeout=5');
  t.regex(a.headers.date, /GMT$/);
});

test('pipelined requests, one with a body cut across reads, are answered in order', async (t) => {
  const s = await server(t);
  const socket = await connect(t, s);
  const got = answers(socket, 3);
  // The rest of the body goes once the server has read the request's head and its first bytes.
  const second = new Promise((resolve) => s.on('request', (req) => req.url === '/2' && resolve()));
  socket.write(`${get('/1')}POST /2 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 11\r\n\r\nhello`);
  await second;
  socket.write(` world${get('/3')}`);
  const all = await got;
  t.deepEqual(
    all.map((a) => a.body),
    ['fast GET /1 ', 'fast POST /2 hello world', 'fast GET /3 '],
  );
});

test("a request the fast path does not read goes to Node's server with the connection, from its first byte", async (t) => {
  const s = await server(t);
  const socket = await connect(t, s);
  const answered = reader(socket);
  socket.write(get('/first'));
  await answered.until(1);
  // Chunked: Node's to read; and every request after it on the connection.
  socket.write('POST /chunked HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  await answered.until(2);
  socket.write(get('/after'));
  const all = await answered.until(3);
  t.deepEqual(
    all.map((a) => a.body),
    ['fast GET /first ', 'node POST /chunked hello', 'node GET /after '],
  );
});

test("a head cut across reads, and a malformed one, are Node's: the same answers as without the fast path", async (t) => {
  const s = await server(t);
  // The rest of the head goes once the server has read its first part.
  const firstRead = new Promise((resolve) => s.once('connection', (socket) => socket.once('data', resolve)));
  const slow = await connect(t, s);
  const got = answers(slow, 1);
  slow.write('GET /sl');
  await firstRead;
  slow.write('ow HTTP/1.1\r\nHost: a.test\r\n\r\n');
  t.is((await got)[0].body, 'node GET /slow ');

  const bad = await connect(t, s);
  const refused = answers(bad, 1);
  bad.write('GET / HTTP/1.1\r\nHost: a.test\r\nBad Name: x\r\n\r\n');
  t.is((await refused)[0].status, 400);
});

test('HEAD, 204 and an answer without a length: no body, no body, chunked', async (t) => {
  const s = await server(t, {
    answer: (req, res, body) => {
      if (req.url === '/204') {
        res.writeHead(204, []);
        return res.end();
      }
      res.writeHead(200, ['X-Kind', 'unsized']);
      res.write(Buffer.from(body.slice(0, 5)));
      res.end(body.slice(5));
    },
  });
  const socket = await connect(t, s);
  const got = answers(socket, 3);
  socket.write(`HEAD /h HTTP/1.1\r\nHost: a.test\r\n\r\n${get('/204')}${get('/sized-by-chunks')}`);
  const [head, none, chunked] = await got;
  t.is(head.headers['transfer-encoding'], undefined);
  t.is(head.body, '');
  t.is(none.status, 204);
  t.is(none.headers['transfer-encoding'], undefined);
  t.is(chunked.headers['transfer-encoding'], 'chunked');
  t.is(chunked.body, 'fast GET /sized-by-chunks ');
});

test('Connection: close is answered with Connection: close, and the connection ends', async (t) => {
  const s = await server(t);
  const socket = await connect(t, s);
  const closed = new Promise((resolve) => socket.once('end', resolve));
  const got = answers(socket, 1);
  socket.write(get('/bye', 'Connection: close\r\n'));
  const [a] = await got;
  t.is(a.headers.connection, 'close');
  await closed;
  t.pass();
});

test("a connection that says nothing gets Node's 408 after headersTimeout, through 'clientError'", async (t) => {
  const s = await server(t);
  s.headersTimeout = 200;
  const socket = await connect(t, s);
  const text = await new Promise((resolve) => {
    let all = '';
    socket.on('data', (d) => (all += d));
    socket.on('close', () => resolve(all));
  });
  t.regex(text, /^HTTP\/1\.1 408 /);
});

test('a draining server: answers say Connection: close, and idle connections are closed', async (t) => {
  const s = await server(t);
  const idle = await connect(t, s);
  const idleAnswer = answers(idle, 1);
  idle.write(get('/x'));
  await idleAnswer;
  const idleClosed = new Promise((resolve) => idle.once('end', resolve));
  drainFast(s);
  const busy = await connect(t, s);
  const got = answers(busy, 1);
  busy.write(get('/y'));
  t.is((await got)[0].headers.connection, 'close');
  closeIdleFast(s);
  await idleClosed;
  t.pass();
});

test("a client that closes its side while its answer is pending: the response gets 'close' without 'finish', and the socket closes", async (t) => {
  let closed;
  const seen = new Promise((resolve) => (closed = resolve));
  const s = await server(t, {
    early: (_req, res) => {
      let finished = false;
      res.once('finish', () => (finished = true));
      res.once('close', () => closed({ finished, writableFinished: res.writableFinished }));
    },
  });
  const socket = await connect(t, s);
  const gone = new Promise((resolve) => socket.once('close', resolve));
  socket.end(get('/held'));
  t.deepEqual(await seen, { finished: false, writableFinished: false });
  await gone;
  t.is(s.listenerCount('request'), 1);
});
