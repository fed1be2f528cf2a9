// A large response over HTTPS reaches the client whole, in order, byte for byte, whether the client
// reads as fast as it can or slower than the server sends. The upstream side reads each server
// connection into one buffer, reused by its next read unless the chunk is still queued for the
// client (src/proxy/upstream.ts); on a TLS client socket a write the socket took whole is counted
// as queued until the next turn of the loop, and is not waited for. Each 4-byte word of the body is
// its own index: a chunk overwritten by the next read shows as the first word out of place.
import fs from 'node:fs';
import https from 'node:https';
import test from 'ava';
import { testCA } from '../helpers/certs.js';
import { startFlagman, tempDir, upstream } from '../helpers/e2e.js';
import { checker, pumpWords, slowReader } from '../helpers/word-stream.js';

const config = `
flags: { dir: ./flags }
log: { access: off }
frontends:
  secure:
    listen: ["127.0.0.1:0"]
    tls: { cert: ./site.crt, key: ./site.key }
    rules: [{ use: app }]
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
`;

const TOTAL = 16 << 20;

/** The server's answer: TOTAL bytes of indexed words (pumpWords), with Content-Length or chunked; `sums` gets their SHA-256 by path. */
function origin(sums) {
  return (req, res) => {
    res.writeHead(200, req.url === '/chunked' ? {} : { 'content-length': TOTAL });
    sums.set(req.url, pumpWords(res, TOTAL));
  };
}

async function setUp(t) {
  const dir = tempDir(t, 'flagman-certs-');
  const ca = await testCA(dir);
  const site = await ca.leaf('site', ['a.test']);
  const sums = new Map();
  const app = await upstream(t, 'app', origin(sums));
  const fm = await startFlagman(t, config, {
    vars: { app: app.port },
    files: { 'site.crt': fs.readFileSync(site.cert), 'site.key': fs.readFileSync(site.key) },
  });
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: fs.readFileSync(ca.ca), servername: 'a.test' });
  t.teardown(() => agent.destroy());
  /** GET `p` through flagman; resolves {status, bytes, sha} once the body has been checked word by word. */
  const get = (p, slow) =>
    new Promise((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: fm.port, path: p, agent, headers: { host: 'a.test' } }, (res) => {
          const got = checker(res);
          if (slow) slowReader(res);
          got.then((r) => resolve({ status: res.statusCode, ...r }), reject);
        })
        .on('error', reject);
    });
  return { get, sums };
}

for (const [name, slow] of [
  ['as fast as it can', false],
  ['slower than the server sends', true],
]) {
  test(`HTTPS, a client reading ${name}: 16 MiB with Content-Length and 16 MiB chunked arrive byte for byte, on one connection`, async (t) => {
    const { get, sums } = await setUp(t);
    for (const p of ['/length', '/chunked']) {
      const r = await get(p, slow);
      t.is(r.status, 200, p);
      t.is(r.bytes, TOTAL, p);
      t.is(r.sha, await sums.get(p), `${p}: the bytes the server sent`);
    }
  });
}
