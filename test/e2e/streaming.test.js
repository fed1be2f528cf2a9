// Bodies stream both ways with back-pressure and are never buffered whole (docs/proxying.md):
//  - 10 MB uploads and downloads pass through intact;
//  - with a reader that does not read, the writer on the other side of the proxy is held back after
//    a few MB (socket buffers), instead of the proxy taking the whole 64 MB into memory.
import crypto from 'node:crypto';
import http from 'node:http';
import test from 'ava';
import { orAfter, request, startFlagman, upstream, waitFor } from '../helpers/e2e.js';
import { scaled } from '../helpers/slow.js';

const MB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

const CONFIG = `
flags: { dir: ./flags }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
`;

/** Writes `size` bytes to a writable honouring back-pressure; `progress.bytes` counts what it accepted. */
async function writeBody(w, size, progress = { bytes: 0 }) {
  for (let sent = 0; sent < size; sent += CHUNK.length) {
    if (!w.write(CHUNK)) await new Promise((resolve) => w.once('drain', resolve));
    progress.bytes += CHUNK.length;
  }
  w.end();
}

function digestOf(size) {
  const h = crypto.createHash('sha256');
  for (let sent = 0; sent < size; sent += CHUNK.length) h.update(CHUNK);
  return h.digest('hex');
}

/** Reads a response to the end: status, byte count and hash. */
function consume(res) {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha256');
    let bytes = 0;
    res.on('data', (c) => {
      bytes += c.length;
      hash.update(c);
    });
    res.on('end', () => resolve({ status: res.statusCode, bytes, hash: hash.digest('hex') }));
    res.on('error', reject);
  });
}

/**
 * Resolves once `progress.bytes` has stopped growing: the writer is blocked on back-pressure. This
 * waits for the absence of progress, which no event announces, so it samples (bounded to 15 s).
 * It waits for the first bytes first: on a busy machine the writer may not have begun 150 ms in,
 * and a stall at 0 bytes would pass for back-pressure.
 */
async function stalled(progress) {
  for (let i = 0; i < 100 && progress.bytes === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  let last = -1;
  for (let i = 0; i < 100 && progress.bytes !== last; i++) {
    last = progress.bytes;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  return progress.bytes;
}

test('a 10 MB upload echoed back and a 10 MB download arrive intact', async (t) => {
  const SIZE = 10 * MB;
  const app = await upstream(t, 'app', (req, res) => {
    if (req.url === '/big') {
      req.resume();
      res.writeHead(200, { 'content-length': SIZE });
      return writeBody(res, SIZE);
    }
    res.writeHead(200);
    req.pipe(res);
  });
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port } });
  const echoed = new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: fm.port, method: 'POST', path: '/echo', agent: false }, (res) =>
      consume(res).then(resolve, reject),
    );
    req.on('error', reject);
    writeBody(req, SIZE).catch(reject);
  });
  const downloaded = new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: fm.port, path: '/big', agent: false }, (res) => consume(res).then(resolve, reject))
      .on('error', reject);
  });
  const expected = { status: 200, bytes: SIZE, hash: digestOf(SIZE) };
  t.deepEqual(await echoed, expected);
  t.deepEqual(await downloaded, expected);
});

// Both framings: a chunked body goes through other code in Node's response than a sized one.
for (const [framing, headers] of [
  ['Content-Length', { 'content-length': 64 * MB }],
  ['chunked', {}],
]) {
  test(`a client that does not read holds the server back: the proxy does not buffer the response (${framing})`, async (t) => {
    const SIZE = 64 * MB;
    const progress = { bytes: 0 };
    const app = await upstream(t, 'app', (req, res) => {
      req.resume();
      res.writeHead(200, headers);
      writeBody(res, SIZE, progress);
    });
    const fm = await startFlagman(t, CONFIG, { vars: { app: app.port } });
    const res = await new Promise((resolve, reject) =>
      http.get({ host: '127.0.0.1', port: fm.port, path: '/', agent: false }, resolve).on('error', reject),
    );
    res.pause();
    const heldAt = await stalled(progress);
    t.log(`server held back after ${(heldAt / MB).toFixed(1)} MB of ${SIZE / MB} MB`);
    t.true(heldAt < SIZE / 2, `the server wrote ${(heldAt / MB).toFixed(1)} MB before being held back`);
    const done = consume(res);
    res.resume();
    t.deepEqual(await done, { status: 200, bytes: SIZE, hash: digestOf(SIZE) });
  });
}

test('a server that does not read holds the client back: the proxy does not buffer the request', async (t) => {
  const SIZE = 64 * MB;
  const progress = { bytes: 0 };
  let startReading;
  const reading = new Promise((resolve) => (startReading = resolve));
  const app = await upstream(t, 'app', (req, res) => {
    req.pause();
    reading.then(() => {
      let bytes = 0;
      req.on('data', (c) => (bytes += c.length));
      req.on('end', () => res.end(String(bytes)));
      req.resume();
    });
  });
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port } });
  const answer = new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: fm.port, method: 'PUT', path: '/upload', agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    writeBody(req, SIZE, progress).catch(reject);
  });
  const heldAt = await stalled(progress);
  t.log(`client held back after ${(heldAt / MB).toFixed(1)} MB of ${SIZE / MB} MB`);
  if (heldAt >= SIZE / 2) {
    // Seen twice beside other test files, never alone: what the client and flagman had by then.
    const early = await Promise.race([
      answer.then(
        (a) => ({ answer: a }),
        (err) => ({ error: String(err) }),
      ),
      new Promise((resolve) => setTimeout(() => resolve({ answer: 'none yet' }), 100)),
    ]);
    t.log(JSON.stringify(early), fm.events.slice(-10));
  }
  t.true(heldAt < SIZE / 2, `the client wrote ${(heldAt / MB).toFixed(1)} MB before being held back`);
  startReading();
  t.deepEqual(await answer, { status: 200, body: String(SIZE) });
});

test('a client that reads nothing for timeouts.server is cut off, and the server request with it', async (t) => {
  const SIZE = 64 * MB;
  let serverClosed;
  const closed = new Promise((resolve) => (serverClosed = resolve));
  const app = await upstream(t, 'app', (req, res) => {
    req.resume();
    if (req.url === '/small') return void res.end('small');
    res.writeHead(200, { 'content-length': SIZE });
    res.on('error', () => {});
    res.on('close', () => serverClosed(performance.now()));
    writeBody(res, SIZE).catch(() => {});
  });
  // The other client's request goes to the same server through a backend with a longer server
  // timeout: on a busy machine this test process may take longer than 1.5 s to answer it.
  // timeouts.server is 1.5 s, longer on a busy machine (the slowness factor): it also bounds the
  // wait for the head and first bytes of this test's own server, which a loaded machine can starve.
  const serverMs = scaled(1500);
  const config = `
flags: { dir: ./flags }
timeouts: { server: ${serverMs}ms }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: request.path == "/small"
        use: patient
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
  patient:
    timeouts: { server: 10s }
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
`;
  const fm = await startFlagman(t, config, { vars: { app: app.port }, captureAccess: true });
  // From the request on: on a busy machine the response head may reach this process later than
  // flagman stopped being able to send, and the cut is timed from there.
  const started = performance.now();
  const res = await new Promise((resolve, reject) =>
    http.get({ host: '127.0.0.1', port: fm.port, path: '/', agent: false }, resolve).on('error', reject),
  );
  res.on('error', () => {});
  res.pause(); // reads nothing from here on
  t.is(res.statusCode, 200, 'the server answered within timeouts.server');
  // A normal client is served while the slow one is held.
  const other = await request(fm.port, { path: '/small' });
  t.is(other.body, 'small');
  const at = await orAfter(closed, serverMs + 10_000, null);
  t.not(at, null, 'the upstream request was ended within 10 s of timeouts.server');
  t.true(at - started >= serverMs - 100, `ended after ${Math.round(at - started)} ms, not before timeouts.server (${serverMs} ms)`);
  // flagman closed the slow reader's connection: its access line is written when the exchange
  // closes. (The client itself cannot tell before it reads what the kernel still holds for it.)
  const line = await waitFor(() => fm.access.find((l) => l.path === '/'), { timeout: 10_000, what: "the slow reader's access line" });
  t.true(line.ms >= serverMs - 100 && line.ms < serverMs + 10_000, `closed after ${line.ms} ms (timeouts.server ${serverMs} ms)`);
  t.is(line.reason, 'client timeout');
  t.log(`slow reader cut after ${Math.round(line.ms)} ms with ${line.bytes} of ${SIZE} bytes sent`);
  res.destroy();
});
