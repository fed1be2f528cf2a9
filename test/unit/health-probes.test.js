// health/probes: each probe against real loopback servers and real processes, and the command
// lookup that `flagman check` runs for exec checks.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { PROBES } from '../../dist/health/probes.js';
import { commandProblem } from '../../dist/runtime/check-command.js';
import { freePort } from '../helpers/e2e.js';
import { rawAnswering } from '../helpers/raw-server.js';
import { scaled } from '../helpers/slow.js';

const timing = { interval: 1000, timeout: 300, rise: 1, fall: 1 };

async function listen(t, server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections?.();
    return new Promise((resolve) => server.close(resolve));
  });
  return server.address().port;
}

const target = (port) => ({ backend: 'app', server: 'app1', host: '127.0.0.1', port });
const run = (probe, port, ms = timing.timeout) => probe(target(port), AbortSignal.timeout(ms));

test('http: a status inside the range passes, one outside fails, and the request is what a server expects', async (t) => {
  const seen = [];
  const port = await listen(
    t,
    http.createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, host: req.headers.host });
      res.writeHead(req.url === '/ok' ? 204 : 503);
      res.end();
    }),
  );
  // A generous timeout: this is about status ranges, and a loaded machine can be slow to answer.
  const h = { type: 'http', path: '/ok', status: { min: 200, max: 299 }, ...timing, timeout: 5000 };
  t.deepEqual(await run(PROBES.http(h), port, 5000), { pass: true, detail: 'HTTP 204' });
  t.deepEqual(await run(PROBES.http({ ...h, path: '/down' }), port, 5000), { pass: false, detail: 'HTTP 503' });
  t.deepEqual(await run(PROBES.http({ ...h, path: '/down', status: { min: 503, max: 503 } }), port, 5000), {
    pass: true,
    detail: 'HTTP 503',
  });
  t.deepEqual(seen[0], { method: 'GET', url: '/ok', host: `127.0.0.1:${port}` });
});

test('http: refused and hanging servers fail, the hang with its timeout', async (t) => {
  const h = { type: 'http', path: '/', status: { min: 200, max: 399 }, ...timing };
  t.deepEqual(await run(PROBES.http(h), await freePort()), { pass: false, detail: 'ECONNREFUSED' });
  const port = await listen(
    t,
    http.createServer(() => {}),
  ); // never answers
  const started = performance.now();
  t.deepEqual(await run(PROBES.http(h), port), { pass: false, detail: 'timed out after 300ms' });
  t.true(performance.now() - started < 1000);
});

/** A raw server that reads one request head and answers it with `answer`'s bytes as they are, then closes. */

// Responses the request path refuses with 502 (upstream/response.ts), each of which Node's own
// client, the one probes used, takes with its status: a server answering them must not pass.
const REFUSED = {
  'a 200 with Content-Length and Transfer-Encoding': [
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'both Content-Length and Transfer-Encoding',
  ],
  'a 200 with an obs-fold header line': ['HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n', 'folded header line'],
  'a 200 with a chunk size over 2^48': [
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000\r\nab\r\n0\r\n\r\n',
    'chunk size too large',
  ],
  'a 200 with a chunk size that is not hex': [
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n',
    'invalid chunk size',
  ],
  'a 200 with Transfer-Encoding other than chunked': [
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
    'Transfer-Encoding other than chunked: "gzip, chunked"',
  ],
  'a 200 with a bare LF ending a header line': ['HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 0\r\n\r\n', 'header line with a bare CR or LF'],
  'a 200 with a control character in a header': [
    'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n',
    'a control character in the response head',
  ],
  'a 101 to a request that asked for no upgrade': [
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n',
    '101 Switching Protocols to a request that asked for no upgrade',
  ],
};

for (const [name, [answer, why]] of Object.entries(REFUSED)) {
  test(`http: ${name}, which a request would get a 502 for, fails the check with the request path's reason`, async (t) => {
    const { port } = await rawAnswering(t, answer, { close: true });
    const h = { type: 'http', path: '/healthz', status: { min: 200, max: 399 }, ...timing, timeout: 5000 };
    t.deepEqual(await run(PROBES.http(h), port, 5000), { pass: false, detail: `bad response: ${why}` });
  });
}

test("http: the probe is written by the request path's client; a PROXY header goes first when the server takes one", async (t) => {
  const ok = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n';
  const { port, heads } = await rawAnswering(t, ok, { close: true });
  const h = { type: 'http', path: '/healthz?full=1', status: { min: 200, max: 299 }, ...timing, timeout: 5000 };
  t.deepEqual(await run(PROBES.http(h), port, 5000), { pass: true, detail: 'HTTP 200' });
  t.regex(
    heads[0],
    new RegExp(`^GET /healthz\\?full=1 HTTP/1\\.1\r\nHost: 127\\.0\\.0\\.1:${port}\r\nUser-Agent: flagman/\\S+ health check\r\n`),
  );
  t.deepEqual(await PROBES.http(h)({ ...target(port), sendProxy: 1 }, AbortSignal.timeout(5000)), { pass: true, detail: 'HTTP 200' });
  t.true(heads[1].startsWith('PROXY UNKNOWN\r\nGET /healthz?full=1 HTTP/1.1\r\n'), heads[1]);
});

test('http: a server that closes before its body is complete fails the check', async (t) => {
  const { port } = await rawAnswering(t, 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', { close: true });
  const h = { type: 'http', path: '/', status: { min: 200, max: 399 }, ...timing, timeout: 5000 };
  t.deepEqual(await run(PROBES.http(h), port, 5000), { pass: false, detail: 'server closed the connection' });
});

test('tcp: a connect passes, a refused one fails', async (t) => {
  const port = await listen(
    t,
    net.createServer((s) => s.destroy()),
  );
  // A refused connect is told at once; the timeout only keeps a stalled loaded machine from calling it a hang.
  const h = { type: 'tcp', ...timing, timeout: scaled(2000) };
  t.deepEqual(await run(PROBES.tcp(h), port, h.timeout), { pass: true, detail: 'connected' });
  t.deepEqual(await run(PROBES.tcp(h), await freePort(), h.timeout), { pass: false, detail: 'ECONNREFUSED' });
});

function script(t, body) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-probe-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'check.sh');
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return { dir, file };
}

test('exec: exit 0 passes, exit 1 fails; the server is in the environment and the config folder is the cwd', async (t) => {
  const { dir, file } = script(
    t,
    'echo "$FLAGMAN_BACKEND $FLAGMAN_SERVER $FLAGMAN_SERVER_ADDR $FLAGMAN_SERVER_PORT $(pwd)" > seen; exit "$CODE"',
  );
  const h = (code) => ({ type: 'exec', command: ['sh', '-c', `CODE=${code} ${file}`], commandAt: {}, cwd: dir, ...timing, timeout: 5000 });
  t.deepEqual(await run(PROBES.exec(h(0)), 8080, 5000), { pass: true, detail: 'exit 0' });
  t.is(fs.readFileSync(path.join(dir, 'seen'), 'utf8'), `app app1 127.0.0.1 8080 ${fs.realpathSync(dir)}\n`);
  t.deepEqual(await run(PROBES.exec(h(1)), 8080, 5000), { pass: false, detail: 'exit 1' });
});

test('exec: a command past its timeout is killed and fails', async (t) => {
  const { dir, file } = script(t, 'sleep 20');
  const h = { type: 'exec', command: [file], commandAt: {}, cwd: dir, ...timing, timeout: 200 };
  const started = performance.now();
  t.deepEqual(await run(PROBES.exec(h), 1, 200), { pass: false, detail: 'timed out after 200ms' });
  // Waiting for the command would take 20 s; the bound leaves room for a loaded machine.
  t.true(performance.now() - started < 8000, 'the process was killed, not waited for');
});

test('commandProblem: executables by path and on $PATH; anything else says why', (t) => {
  const { dir, file } = script(t, 'exit 0');
  t.is(commandProblem(file), null);
  t.is(commandProblem('check.sh', `/nonexistent${path.delimiter}${dir}`), null);
  t.regex(commandProblem('check.sh', '/nonexistent'), /"check\.sh" is not found on \$PATH/);
  fs.chmodSync(file, 0o644);
  t.regex(commandProblem(file), /is not an executable file/);
  t.regex(commandProblem(dir), /is not an executable file/);
});
