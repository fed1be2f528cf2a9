// The proxy path (docs/proxying.md, first part): forwarded headers, hop-by-hop removal, keep-alive and pooled
// upstream connections, refusals with 400, and 502/503/504 with short bodies.
import http from 'node:http';
import net from 'node:net';
import test from 'ava';
import { freePort, request, startFlagman, upstream, waitFor } from '../helpers/e2e.js';
import { scaled } from '../helpers/slow.js';

const CONFIG = `
flags: { dir: ./flags }
timeouts: { server: 2s, connect: 1s }   # 2 s: a loaded machine can stall a test server for a few hundred ms
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: request.path.startsWith("/none")
        use: nowhere
      - when: request.path.startsWith("/api/")
        use: api
      - when: request.path == "/empty"
        use: empty
      - when: request.path != "/nomatch"
        use: app
backends:
  app:
    servers:
      dead: { address: "127.0.0.1:{{dead}}" }
      app1: { address: "127.0.0.1:{{app}}" }
  api:
    servers:
      api1: { address: "127.0.0.1:{{app}}" }
  nowhere:
    servers:
      dead: { address: "127.0.0.1:{{dead}}" }
  empty:
    servers:
      off: { address: "127.0.0.1:{{app}}", weight: 0 }
`;

async function setup(t, handler) {
  let connections = 0;
  const app = await upstream(t, 'app', handler);
  app.server.on('connection', () => connections++);
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, dead: await freePort() }, captureAccess: true });
  const accessLine = (path) => waitFor(() => fm.access.find((l) => l.path === path), { what: `the access line of ${path}` });
  return { app, fm, connections: () => connections, accessLine };
}

// Every byte value: the small body goes out with the response head in one write (upstream.ts),
// the larger ones stream chunk by chunk; both must arrive exactly as the server sent them.
const BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const bodies = {
  '/bytes/small': BYTES,
  '/bytes/2k': Buffer.concat(Array(8).fill(BYTES)),
  '/bytes/large': Buffer.concat(Array(1024).fill(BYTES)),
};

function getBytes(port, p) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, length: res.headers['content-length'], body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

test('response bodies arrive byte for byte: small ones sent with the head, larger ones streamed', async (t) => {
  const { fm } = await setup(t, (req, res) => {
    const body = bodies[req.url];
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
  for (const [p, body] of Object.entries(bodies)) {
    const r = await getBytes(fm.port, p);
    t.is(r.status, 200, p);
    t.is(r.length, String(body.length), p);
    t.true(r.body.equals(body), `${p}: ${r.body.length} bytes, as sent`);
  }
});

test('forwarded headers are set and hop-by-hop headers removed, both ways', async (t) => {
  const { app, fm } = await setup(t, (_req, res) => {
    res.writeHead(200, { 'Keep-Alive': 'timeout=99', 'X-Drop': 'me', Connection: 'X-Drop', 'X-Keep': 'yes' });
    res.end('ok');
  });
  const r = await request(fm.port, {
    path: '/api/x?q=1',
    headers: {
      Host: 'shop.example:8080',
      'X-Forwarded-For': '203.0.113.7',
      'X-Forwarded-Host': 'forged',
      'X-Secret': 'hop',
      Connection: 'X-Secret',
      TE: 'trailers',
      'Proxy-Authorization': 'x',
    },
  });
  t.is(r.status, 200);
  t.is(r.headers['x-keep'], 'yes');
  t.is(r.headers['x-drop'], undefined);
  t.not(r.headers['keep-alive'], 'timeout=99', "the server's Keep-Alive is not passed on (the proxy sends its own)");
  const seen = app.seen.at(-1).headers;
  t.is(app.seen.at(-1).url, '/api/x?q=1');
  t.is(seen.host, 'shop.example:8080', 'exactly the client Host reaches the server');
  t.is(seen['x-forwarded-for'], '127.0.0.1', "a client's own chain is replaced: no trustedProxies, nobody may add to it");
  t.is(seen['x-forwarded-proto'], 'http');
  t.is(seen['x-forwarded-host'], 'shop.example:8080');
  t.is(seen['x-secret'], undefined);
  t.is(seen.te, undefined);
  t.is(seen['proxy-authorization'], undefined);
});

test('keep-alive on both sides: one client connection, one pooled upstream connection', async (t) => {
  const { fm, connections } = await setup(t);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const reused = [];
  for (let i = 0; i < 10; i++) {
    await new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: fm.port, path: '/api/k', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      reused.push(req);
    });
  }
  t.is(reused.filter((r) => r.reusedSocket).length, 9, 'the client connection was kept alive');
  t.is(connections(), 1, 'the upstream connection was pooled');
});

test('a connect failure moves the request to another server; with none left, 502', async (t) => {
  const { fm, accessLine } = await setup(t);
  for (let i = 0; i < 4; i++) {
    const r = await request(fm.port, { path: '/' });
    t.is(r.status, 200, 'the dead server is skipped without a client-visible error');
  }
  const bad = await request(fm.port, { path: '/none' });
  t.is(bad.status, 502);
  t.is(bad.body, '502 Bad Gateway\n');
  // The server named is the last one tried.
  t.like(await accessLine('/none'), {
    status: 502,
    backend: 'nowhere',
    server: 'dead',
    bytes: 16,
    tries: 1,
    reason: 'no server reachable',
  });
  t.false(
    fm.access.some((l) => l.path === '/' && 'reason' in l),
    'a request another server answered has no reason',
  );
});

test('no eligible server and no fallback: 503; no matching rule: 503', async (t) => {
  const { fm, accessLine } = await setup(t);
  for (const path of ['/empty', '/nomatch']) {
    const r = await request(fm.port, { path });
    t.is(r.status, 503, path);
    t.is(r.body, '503 Service Unavailable\n');
  }
  // No server was asked: `server` is null; no rule matched: no backend either.
  t.like(await accessLine('/empty'), { status: 503, backend: 'empty', server: null, bytes: 24, reason: 'no eligible server' });
  t.like(await accessLine('/nomatch'), { status: 503, backend: null, server: null, bytes: 24, reason: 'no rule matched' });
});

test('a server slower than timeouts.server: 504', async (t) => {
  const { fm } = await setup(t, (req) => req.resume()); // never answers
  const r = await request(fm.port, { path: '/api/slow' });
  t.is(r.status, 504);
  t.is(r.body, '504 Gateway Timeout\n');
});

test('a response cut short upstream is cut short to the client, never complete', async (t) => {
  const { fm } = await setup(t, (_req, res) => {
    res.writeHead(200, { 'Content-Length': '100' });
    res.write('only ten..');
    setImmediate(() => res.socket.destroy());
  });
  const outcome = await new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port: fm.port, path: '/api/cut', agent: false }, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.complete ? 'complete' : 'incomplete'));
        res.on('aborted', () => resolve('aborted'));
        res.on('error', () => resolve('error'));
      })
      .on('error', () => resolve('error'));
  });
  t.not(outcome, 'complete');
});

test('requests a proxy must not forward get 400', async (t) => {
  const { app, fm, accessLine } = await setup(t);
  const raw = (text) =>
    new Promise((resolve) => {
      const s = net.connect(fm.port, '127.0.0.1', () => s.end(text));
      let out = '';
      s.on('data', (c) => (out += c));
      // flagman closing on a refused request may reset the connection: what arrived is the answer.
      s.on('error', () => {});
      s.on('close', () => resolve(out.split('\r\n')[0]));
    });
  const before = app.seen.length;
  t.is(await raw('GET /api/host HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'), 'HTTP/1.1 400 Bad Request');
  t.is(await raw('POST /api/te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'), 'HTTP/1.1 400 Bad Request');
  const many = Array.from({ length: 101 }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
  t.is(await raw(`GET /api/many HTTP/1.1\r\nHost: a\r\n${many}\r\n`), 'HTTP/1.1 400 Bad Request');
  t.is(app.seen.length, before, 'none of them reached the server');
  // Refused before routing: no backend, no server; the reason says what was wrong.
  t.like(await accessLine('/api/host'), { status: 400, backend: null, server: null, bytes: 16, reason: 'duplicate Host header' });
  t.like(await accessLine('/api/te'), {
    status: 400,
    backend: null,
    server: null,
    bytes: 16,
    reason: 'Transfer-Encoding other than chunked',
  });
  t.like(await accessLine('/api/many'), { status: 400, backend: null, server: null, bytes: 16, reason: 'more than 100 headers' });
});

const UPSTREAM_FAILURES = `
flags: { dir: ./flags }
timeouts: { server: 10s }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: request.path.startsWith("/hang")
        use: hang
      - when: request.path.startsWith("/cut")
        use: cut
      - use: racy
backends:
  racy:
    servers:
      racy1: { address: "127.0.0.1:{{racy}}" }
  hang:
    timeouts: { server: 300ms }   # per backend, under the 10s of the top level
    servers:
      hang1: { address: "127.0.0.1:{{hang}}" }
  cut:
    servers:
      cut1: { address: "127.0.0.1:{{cut}}" }
`;

async function failingUpstreams(t) {
  // racy: the second request on each connection is read, then the connection is reset without an
  // answer — a server closing an idle keep-alive connection just as a request arrives, or crashing on it.
  const racy = await upstream(t, 'racy', (req, res) => {
    req.socket.served = (req.socket.served ?? 0) + 1;
    req.resume();
    if (req.socket.served === 2) return req.on('end', () => req.socket.destroy());
    req.on('end', () => res.end(`racy ${req.method}`));
  });
  const hang = await upstream(t, 'hang', (req) => req.resume());
  const cut = await upstream(t, 'cut', (req, res) => {
    req.resume();
    if (req.url === '/cut/chunked') res.writeHead(200, { 'Content-Type': 'text/plain' });
    else res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '100' });
    res.write('only ten..');
    setTimeout(() => res.socket.destroy(), 50);
  });
  const fm = await startFlagman(t, UPSTREAM_FAILURES, { vars: { racy: racy.port, hang: hang.port, cut: cut.port } });
  return { racy, fm };
}

test('a reused connection reset before any answer: a GET is replayed, a POST gets 502 and reaches the server once', async (t) => {
  const { racy, fm } = await failingUpstreams(t);
  t.is((await request(fm.port)).body, 'racy GET', 'the first request opens the pooled connection');
  const get = await request(fm.port, { path: '/again' });
  t.is(get.status, 200, 'the GET reset on the reused connection was replayed');
  t.is(get.body, 'racy GET');
  t.is(racy.seen.filter((r) => r.url === '/again').length, 2, 'idempotent: sent twice, answered once');

  t.is((await request(fm.port)).body, 'racy GET', 'replayed too, leaving a pooled connection that has served one request');
  const post = await request(fm.port, { method: 'POST', path: '/order', headers: { 'Content-Type': 'text/plain' }, body: 'one order' });
  t.is(post.status, 502);
  t.is(post.body, '502 Bad Gateway\n');
  t.is(racy.seen.filter((r) => r.method === 'POST').length, 1, 'the POST reached the server once and was never sent again');

  // Without a body too: it is the method that forbids a replay.
  t.is((await request(fm.port)).body, 'racy GET');
  const empty = await request(fm.port, { method: 'POST', path: '/confirm', headers: { 'Content-Length': '0' } });
  t.is(empty.status, 502);
  t.is(racy.seen.filter((r) => r.url === '/confirm').length, 1, 'an empty POST is not replayed either');
});

test('a server hanging past its backend server timeout: 504 after that timeout', async (t) => {
  const { fm } = await failingUpstreams(t);
  const started = performance.now();
  const r = await request(fm.port, { path: '/hang' });
  const ms = performance.now() - started;
  t.is(r.status, 504);
  t.is(r.body, '504 Gateway Timeout\n');
  t.true(ms >= 290 && ms < 3000, `answered after ${Math.round(ms)} ms: the backend's 300ms, not the top level's 10s`);
});

test('a body cut short upstream reaches the client without its final chunk or short of its Content-Length', async (t) => {
  const { fm } = await failingUpstreams(t);
  const raw = (path) =>
    new Promise((resolve) => {
      const s = net.connect(fm.port, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
      let out = '';
      s.on('data', (c) => (out += c));
      s.on('error', () => {});
      s.on('close', () => resolve(out));
    });
  const chunked = await raw('/cut/chunked');
  t.regex(chunked, /^HTTP\/1\.1 200 /);
  t.regex(chunked, /transfer-encoding: chunked/i);
  t.true(chunked.includes('only ten..'));
  t.false(chunked.endsWith('0\r\n\r\n'), 'no final chunk: the client cannot take it for complete');
  const sized = await raw('/cut/sized');
  t.regex(sized, /content-length: 100/i);
  t.is(sized.slice(sized.indexOf('\r\n\r\n') + 4), 'only ten..', 'the connection closed short of the 100 bytes announced');
});

/**
 * flagman in front of one server that ends every connection with `end(socket)` once its request
 * has been read, without answering.
 */
async function rudeServer(t, end) {
  const rude = await upstream(t, 'rude', (req) => {
    req.resume();
    req.on('end', () => end(req.socket));
  });
  const fm = await startFlagman(
    t,
    `
flags: { dir: ./flags }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - use: rude
backends:
  rude:
    servers:
      rude1: { address: "127.0.0.1:{{rude}}" }
`,
    { vars: { rude: rude.port }, captureAccess: true },
  );
  return { rude, fm };
}

test('a fresh connection reset before any answer: nothing is replayed, even a GET (only a reused one may have raced)', async (t) => {
  // Every connection is closed as soon as its first request has been read.
  const { rude, fm } = await rudeServer(t, (socket) => socket.destroy());
  const r = await request(fm.port, { path: '/fresh' });
  t.is(r.status, 502);
  t.is(rude.seen.filter((s) => s.url === '/fresh').length, 1, 'sent once: a new connection cannot have raced a keep-alive close');
});

test("a server that resets the connection before answering: 502, and the access line names the system's code", async (t) => {
  // Every connection is reset (RST, not FIN) once its request has been read.
  const { fm } = await rudeServer(t, (socket) => socket.resetAndDestroy());
  const r = await request(fm.port, { path: '/reset' });
  t.is(r.status, 502);
  t.is(r.body, '502 Bad Gateway\n');
  const line = await waitFor(() => fm.access.find((l) => l.path === '/reset'), { what: 'the access line of /reset' });
  t.like(line, { status: 502, backend: 'rude', server: 'rude1', bytes: 16, tries: 1, reason: 'ECONNRESET' });
});

test('a response whose end is ambiguous gets 502 and names why; the connection is not reused', async (t) => {
  // A raw server: answers /smuggle with both Content-Length and Transfer-Encoding, anything else well.
  const seen = [];
  const raw = net.createServer((s) => {
    seen.push(s);
    s.on('error', () => {});
    s.on('data', (d) => {
      const smuggle = d.toString('latin1').startsWith('GET /smuggle ');
      s.write(
        smuggle
          ? 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
          : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
      );
    });
  });
  await new Promise((resolve) => raw.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    raw.close();
    for (const s of seen) s.destroy();
  });
  const fm = await startFlagman(
    t,
    `
flags: { dir: ./flags }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - use: raw
backends:
  raw:
    servers:
      raw1: { address: "127.0.0.1:{{raw}}" }
`,
    { vars: { raw: raw.address().port }, captureAccess: true },
  );
  t.is((await request(fm.port, { path: '/fine' })).body, 'ok');
  const bad = await request(fm.port, { path: '/smuggle' });
  t.is(bad.status, 502);
  const line = await waitFor(() => fm.access.find((l) => l.path === '/smuggle'), { what: 'the access line of /smuggle' });
  t.like(line, {
    status: 502,
    backend: 'raw',
    server: 'raw1',
    bytes: 16,
    reason: 'bad response: both Content-Length and Transfer-Encoding',
  });
  t.is((await request(fm.port, { path: '/after' })).body, 'ok');
  t.is(seen.length, 2, 'the connection that carried the bad response was closed, and a new one opened');
});

// A raw server for responses no HTTP library would send: each request's path picks what is written
// back (RAW_ANSWERS), on a keep-alive connection. `seen` lists the paths in the order they came.
const CHUNKED_HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n';
const RAW_ANSWERS = {
  '/fine': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
  // Invalid first chunk sizes; the first in a read of its own, after the head's.
  '/size/zz': (s) => {
    s.write(CHUNKED_HEAD);
    setTimeout(() => s.write('zz\r\n'), 20);
  },
  '/size/18f': (s) => s.write(`${CHUNKED_HEAD}ffffffffffffffffff\r\n`),
  '/size/2e48': (s) => s.write(`${CHUNKED_HEAD}1000000000000\r\n`), // 2^48: one over the largest size
  // The largest size taken: the chunk's first bytes go out, then the server closes.
  '/size/max': (s) => {
    s.write(`${CHUNKED_HEAD}ffffffffffff\r\npartial`);
    setTimeout(() => s.end(), 20);
  },
  // A head, and the connection closed before any of the body; a head, and then silence.
  '/head/close': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'),
  '/head/silent': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'),
  '/cut/sized': (s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..');
    setTimeout(() => s.end(), 20);
  },
  '/cut/chunked': (s) => {
    s.write(`${CHUNKED_HEAD}5\r\nhello\r\n`);
    setTimeout(() => s.end(), 20);
  },
  '/cut/parse': (s) => {
    s.write(`${CHUNKED_HEAD}5\r\nhello\r\n`);
    setTimeout(() => s.write('zz\r\n'), 20);
  },
  '/cut/reset': (s) => {
    s.write(`${CHUNKED_HEAD}5\r\nhello\r\n`);
    setTimeout(() => s.resetAndDestroy(), 20);
  },
  '/cut/silent': (s) => s.write(`${CHUNKED_HEAD}5\r\nhello\r\n`), // then nothing, past timeouts.server
  // A chunk every 20 ms for as long as the connection lasts.
  '/stream': (s) => {
    s.write(CHUNKED_HEAD);
    const timer = setInterval(() => s.write('5\r\nhello\r\n'), 20);
    s.once('close', () => clearInterval(timer));
  },
};

async function rawServer(t) {
  const seen = [];
  const server = net.createServer((s) => {
    s.on('error', () => {});
    let pending = '';
    s.on('data', (d) => {
      pending += d.toString('latin1');
      for (let end; (end = pending.indexOf('\r\n\r\n')) >= 0; pending = pending.slice(end + 4)) {
        const path = pending.slice(0, pending.indexOf('\r\n')).split(' ')[1];
        seen.push(path);
        RAW_ANSWERS[path](s);
      }
    });
  });
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  const fm = await startFlagman(
    t,
    `
flags: { dir: ./flags }
timeouts: { server: 10s, shutdown: 500ms }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: request.path.endsWith("/silent")
        use: impatient
      - use: raw
backends:
  raw:
    servers:
      raw1: { address: "127.0.0.1:{{raw}}" }
  impatient:
    timeouts: { server: ${scaled(300)}ms }   # a loaded machine can hold the raw server's head past 300 ms
    servers:
      raw1: { address: "127.0.0.1:{{raw}}" }
`,
    { vars: { raw: server.address().port }, captureAccess: true },
  );
  const accessLine = (path) => waitFor(() => fm.access.find((l) => l.path === path), { what: `the access line of ${path}` });
  return { fm, seen, accessLine };
}

/** Everything a fresh raw connection receives for a GET of `path`, until flagman closes it. */
function rawGet(port, path) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let out = '';
    s.on('data', (c) => (out += c.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(out));
  });
}

test('an invalid first chunk size: 502 naming it, on a reused client connection too, and the server asked once', async (t) => {
  const { fm, seen, accessLine } = await rawServer(t);
  // One keep-alive client connection for all of it. Like curl, and as Node's documentation
  // advises, the client sends a request again when a reused connection closes without a response
  // (it takes that for a keep-alive race): the empty reply flagman must never give.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const get = (path, retry = true) =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: fm.port, path, agent }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body, reused: req.reusedSocket }));
        res.on('error', (err) => resolve({ error: err.message }));
      });
      req.on('error', (err) => resolve(retry && req.reusedSocket ? get(path, false) : { error: err.message }));
    });
  for (const [path, reason] of [
    ['/size/zz', 'invalid chunk size'],
    ['/size/18f', 'chunk size too large'],
    ['/size/2e48', 'chunk size too large'],
  ]) {
    t.like(await get('/fine'), { status: 200, body: 'ok' });
    t.like(await get(path), { status: 502, body: '502 Bad Gateway\n', reused: true }, path);
    t.is(seen.filter((p) => p === path).length, 1, `${path} reached the server once`);
    t.like(await accessLine(path), { status: 502, bytes: 16, reason: `bad response: ${reason}` });
  }
  // A head and then nothing: the client never saw the head either.
  t.like(await get('/head/close'), { status: 502 });
  t.like(await accessLine('/head/close'), { status: 502, reason: 'server closed the connection' });
  t.is(seen.filter((p) => p === '/head/close').length, 1);
  t.like(await get('/head/silent'), { status: 504 });
  t.like(await accessLine('/head/silent'), { status: 504, reason: 'server timeout' });
});

test('a response cut short after its head went out: cut to the client too, and the access line names why', async (t) => {
  const { fm, accessLine } = await rawServer(t);
  const chunkedCut = (out, body) => {
    t.regex(out, /^HTTP\/1\.1 200 /);
    t.true(out.includes(body), out);
    t.false(out.endsWith('0\r\n\r\n'), 'no final chunk');
  };
  // The largest chunk size is taken: the head and the chunk's first bytes go out.
  chunkedCut(await rawGet(fm.port, '/size/max'), 'partial');
  const sized = await rawGet(fm.port, '/cut/sized');
  t.regex(sized, /content-length: 100/i);
  t.is(sized.slice(sized.indexOf('\r\n\r\n') + 4), 'only ten..', 'closed short of the 100 bytes announced');
  chunkedCut(await rawGet(fm.port, '/cut/chunked'), 'hello');
  chunkedCut(await rawGet(fm.port, '/cut/parse'), 'hello');
  chunkedCut(await rawGet(fm.port, '/cut/reset'), 'hello');
  chunkedCut(await rawGet(fm.port, '/cut/silent'), 'hello');
  t.like(await accessLine('/size/max'), { status: 200, bytes: 7, reason: 'server closed mid-body' });
  t.like(await accessLine('/cut/sized'), { status: 200, bytes: 10, reason: 'server closed mid-body' });
  t.like(await accessLine('/cut/chunked'), { status: 200, bytes: 5, reason: 'server closed mid-body' });
  t.like(await accessLine('/cut/parse'), { status: 200, bytes: 5, reason: 'bad response mid-body: invalid chunk size' });
  t.like(await accessLine('/cut/reset'), { status: 200, bytes: 5, reason: 'server error mid-body: ECONNRESET' });
  t.like(await accessLine('/cut/silent'), { status: 200, bytes: 5, reason: 'server timeout mid-body' });
});

test('a client that leaves mid-response, and one cut off by the shutdown deadline: the access line names each', async (t) => {
  const { fm, accessLine } = await rawServer(t);
  const streaming = (onData) =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: fm.port, path: '/stream', agent: false }, (res) => {
        res.once('data', () => onData(req));
        res.on('error', () => {});
        res.on('close', resolve);
      });
      req.on('error', () => {});
    });
  await streaming((req) => req.destroy());
  t.like(await accessLine('/stream'), { status: 200, reason: 'client closed' });
  // SIGTERM while a response streams: after timeouts.shutdown (500 ms) flagman cuts it.
  await streaming(() => fm.proc.kill('SIGTERM'));
  await fm.exited;
  const lines = fm.access.filter((l) => l.path === '/stream');
  t.is(lines.length, 2);
  t.like(lines[1], { status: 200, reason: 'shutdown' });
});
