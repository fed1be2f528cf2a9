// Slow clients (issue 8): a slowloris sending its headers a byte at a time and a POST whose body
// stalls are cut off within timeouts.client, checked at sub-second granularity, while a normal
// client keeps being served. (A client that never reads a large response: streaming.test.js.)
import net from 'node:net';
import test from 'ava';
import { maintenanceConfig } from '../helpers/configs.js';
import { request, startFlagman, upstream, waitFor } from '../helpers/e2e.js';

const CONFIG = maintenanceConfig({ admin: false, top: 'timeouts: { client: 1s }' });

/** Opens a raw connection, runs `feed(socket)`, resolves with {ms, answer} when flagman closes it. */
function rawUntilClosed(port, feed) {
  return new Promise((resolve) => {
    const started = performance.now();
    let answer = '';
    const s = net.connect(port, '127.0.0.1', () => feed(s));
    s.on('data', (d) => (answer += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve({ ms: performance.now() - started, answer }));
  });
}

async function normalTraffic(port, untilPromise) {
  let ok = 0;
  let bad = 0;
  let done = false;
  void untilPromise.then(() => (done = true));
  while (!done) {
    const r = await request(port).catch(() => null);
    if (r?.status === 200) ok++;
    else bad++;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { ok, bad };
}

test('slowloris: headers a byte every 100 ms are cut off after timeouts.client (1 s); others are served', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port } });
  const text = `GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ${'x'.repeat(200)}\r\n\r\n`;
  let timer;
  const closed = rawUntilClosed(fm.port, (s) => {
    let i = 0;
    timer = setInterval(() => {
      if (s.destroyed || i >= text.length) return clearInterval(timer);
      s.write(text[i++]);
    }, 100);
  });
  const served = await normalTraffic(fm.port, closed);
  const { ms, answer } = await closed;
  clearInterval(timer);
  t.log(
    `slowloris cut after ${Math.round(ms)} ms (${JSON.stringify(answer.split('\r\n')[0])}); meanwhile ${served.ok} normal requests served`,
  );
  t.true(ms >= 900 && ms < 2500, `cut within timeouts.client plus the check interval: ${Math.round(ms)} ms`);
  t.true(answer === '' || /^HTTP\/1\.1 408 /.test(answer));
  t.true(served.ok >= 5);
  t.is(served.bad, 0);
});

test('a POST whose body stalls is cut off after timeouts.client; others are served', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port }, captureAccess: true });
  const closed = rawUntilClosed(fm.port, (s) => {
    s.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n');
    s.write('x'.repeat(10)); // then nothing
  });
  const served = await normalTraffic(fm.port, closed);
  const { ms } = await closed;
  t.log(`stalled body cut after ${Math.round(ms)} ms; meanwhile ${served.ok} normal requests served`);
  t.true(ms >= 900 && ms < 2500, `${Math.round(ms)} ms`);
  t.is(served.bad, 0);
  t.is((await waitFor(() => fm.access.find((l) => l.path === '/upload'), { what: 'the access line of /upload' })).reason, 'client timeout');
});

test('a slow but steady upload (a chunk every 300 ms, under timeouts.client) completes', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port } });
  const { answer } = await rawUntilClosed(fm.port, (s) => {
    s.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\nConnection: close\r\n\r\n');
    let i = 0;
    const timer = setInterval(() => {
      s.write('ab');
      if (++i === 4) clearInterval(timer);
    }, 300);
  });
  t.regex(answer, /^HTTP\/1\.1 200 /);
});

test("a body that waits on its client is not the server being silent: pauses longer than timeouts.server are the client timeout's to judge", async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, maintenanceConfig({ admin: false, top: 'timeouts: { client: 5s, server: 300ms }' }), {
    vars: { app: app.port },
  });
  const { answer } = await rawUntilClosed(fm.port, (s) => {
    s.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nConnection: close\r\n\r\nab');
    setTimeout(() => s.write('cd'), 800); // over timeouts.server, under timeouts.client
  });
  t.regex(answer, /^HTTP\/1\.1 200 /, 'answered, not 504');
});
