// `mode: tcp` moves every byte, in order, when the client reads slower than the server sends: the
// server's side is read into one buffer reused for every read (src/proxy/relay.ts), and a chunk the
// client socket has not taken yet must never be overwritten by the next read. Each 4-byte word of
// the stream is its own index, so a lost, repeated, reordered or overwritten chunk shows as the
// first word out of place.
import net from 'node:net';
import test from 'ava';
import { startFlagman } from '../helpers/e2e.js';
import { checker, pumpWords, slowReader, words } from '../helpers/word-stream.js';

const config = `
flags: { dir: ./flags }
log: { access: off }
frontends:
  db:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules: [{ use: db }]
backends:
  db:
    mode: tcp
    servers:
      db1: { address: "127.0.0.1:{{db1}}" }
`;

test('a slow reader gets all 24 MiB the server sends, in order, byte for byte (back-pressure on the reused read buffer)', async (t) => {
  const total = 24 << 20;
  let sent = null;
  const server = net.createServer((s) => {
    s.on('error', () => {});
    sent = pumpWords(s, total);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const fm = await startFlagman(t, config, { vars: { db1: server.address().port } });

  const c = net.connect({ port: fm.port, host: '127.0.0.1' });
  const got = checker(c);
  slowReader(c);
  const { bytes, sha } = await got;
  t.is(bytes, total);
  t.is(sha, await sent);
});

test('both ways at once through an echo server, the client reading slowly: what comes back is what was sent', async (t) => {
  const total = 16 << 20;
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const fm = await startFlagman(t, config, { vars: { db1: server.address().port } });

  const c = net.connect({ port: fm.port, host: '127.0.0.1', allowHalfOpen: true });
  const got = checker(c);
  slowReader(c);
  let word = 0;
  const pump = () => {
    while (word * 4 < total) {
      const n = Math.min(9973, total / 4 - word); // a prime number of words: chunks never line up with reads
      const chunk = words(word, n);
      word += n;
      if (!c.write(chunk)) return void c.once('drain', pump);
    }
    c.end();
  };
  c.once('connect', pump);
  const { bytes } = await got;
  t.is(bytes, total);
});
