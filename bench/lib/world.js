// The bench's "world", a child process (fork) so the measuring loop in the parent is not starved:
// the `app` upstream server on 127.0.0.1:0 and the background load, a few keep-alive clients
// sending requests to the proxy continuously (back to back, or paced to a total rate).
//
// IPC protocol (parent → child → parent):
//   started:                        → {type:'ready', appPort}
//   {type:'load', port, concurrency, rate}  (re)starts the load against the proxy on `port`
//                                   → {type:'loading'}
//   {type:'window'}                 → {type:'window', stats} for the time since the last window; resets
//   {type:'stop'}                   stops the load → {type:'stopped', stats}
//   {type:'exit'}                   closes everything and exits
// Bounded: the child exits on its own after `--max-seconds` (argv[2]) or when the parent goes away.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { KeepAliveClient } from './http.js';
import { summary } from './stats.js';

const maxSeconds = Number(process.argv[2] ?? 900);
const lifetime = setTimeout(() => {
  console.error(`world: exiting after its ${maxSeconds} s bound`);
  process.exit(3);
}, maxSeconds * 1000);
lifetime.unref();
process.on('disconnect', () => process.exit(0));

const body = Buffer.from('app\n');
const app = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, 'x-server': 'app' });
  res.end(body);
});
// Longer than flagman's 5 s upstream idle time: the proxy, not us, closes idle pooled connections.
app.keepAliveTimeout = 30_000;
await new Promise((resolve) => app.listen(0, '127.0.0.1', resolve));

let generation = 0;
let win = newWindow();
let loops = [];

function newWindow() {
  return { t0: performance.now(), lat: [], errors: 0, statuses: {} };
}

function takeWindow() {
  const w = win;
  win = newWindow();
  const seconds = (performance.now() - w.t0) / 1000;
  return {
    ...summary(w.lat),
    seconds: Math.round(seconds * 100) / 100,
    rps: Math.round(w.lat.length / seconds),
    errors: w.errors,
    statuses: w.statuses,
  };
}

// One client: back to back (interval 0) or paced on a fixed schedule (sends late rather than
// skipping, so a stall shows up as latency of the requests that follow).
async function client(gen, port, interval, offset) {
  let c = null;
  let next = performance.now() + offset;
  for (let i = 0; gen === generation && i < 1e9; i++) {
    try {
      if (!c?.connected) c = await new KeepAliveClient(port, { path: '/load', timeoutMs: 10_000 }).connect();
      if (interval > 0) {
        const wait = next - performance.now();
        if (wait > 0) await delay(wait);
        next += interval;
        if (gen !== generation) break;
      }
      const r = await c.get();
      if (gen !== generation) break;
      win.lat.push(r.tEnd - r.tSent);
      win.statuses[r.status] = (win.statuses[r.status] ?? 0) + 1;
    } catch {
      if (gen !== generation) break;
      win.errors++;
      c?.close();
      c = null;
      await delay(10);
    }
  }
  c?.close();
}

process.on('message', (m) => {
  if (m.type === 'load') {
    generation++;
    const concurrency = Math.max(1, m.concurrency | 0);
    const interval = m.rate > 0 ? (1000 * concurrency) / m.rate : 0;
    loops = Array.from({ length: concurrency }, (_, k) => client(generation, m.port, interval, (interval * k) / concurrency));
    win = newWindow();
    process.send({ type: 'loading' });
  } else if (m.type === 'window') {
    process.send({ type: 'window', stats: takeWindow() });
  } else if (m.type === 'stop') {
    generation++;
    const stats = takeWindow();
    void Promise.all(loops).then(() => process.send({ type: 'stopped', stats }));
    loops = [];
  } else if (m.type === 'exit') {
    generation++;
    app.closeAllConnections();
    app.close();
    process.disconnect();
    setTimeout(() => process.exit(0), 100).unref();
  }
});

process.send({ type: 'ready', appPort: app.address().port });
