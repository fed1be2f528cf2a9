#!/usr/bin/env node
// A backend of fixed capacity, for bench/overload.js: `workers` requests served at once, each
// taking `serviceMs` (a timer: no CPU), so at most workers × 1000 / serviceMs requests/s. A request
// beyond `workers` waits inside the backend, first in, first out, as in a worker pool's accept
// queue: that is where requests pile up when nothing in front of the backend limits them.
//   argv: workers (5), serviceMs (25), maxSeconds (3600)
// Serves any path with 100 bytes on 127.0.0.1:0. A second port (stats) answers GET /stats with what
// the backend itself saw since the last GET /stats?reset=1: the most requests inside at once (in
// service + waiting), requests served, and their latency in the backend (arrival of the head → end
// of the response), and `inside` now. Prints one JSON line {port, statsPort} when listening.
// Bounded: exits after maxSeconds or when its stdin closes (the parent went away).
import http from 'node:http';
import { summary } from './stats.js';

const workers = Number(process.argv[2] ?? 5);
const serviceMs = Number(process.argv[3] ?? 25);
const maxSeconds = Number(process.argv[4] ?? 3600);
setTimeout(() => process.exit(3), maxSeconds * 1000).unref();
process.stdin.on('end', () => process.exit(0)).on('error', () => process.exit(0));
process.stdin.resume();

const body = Buffer.alloc(100, 'a');
let busy = 0; // workers serving
const waiting = []; // requests waiting for a worker, oldest first
let inside = 0; // busy + waiting, counted from the request's head to its response written (or its client gone)
let maxInside = 0;
let served = 0;
let latencies = [];

function serve(_req, res, t0, leave) {
  busy++;
  setTimeout(() => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
    // Out of the backend once its response is written, not at 'finish' (later, asynchronously):
    // the client's next request may be read first, and would count one request twice.
    leave();
    latencies.push(performance.now() - t0);
    served++;
    busy--;
    const next = waiting.shift();
    if (next) serve(...next);
  }, serviceMs);
}

const server = http.createServer({ keepAliveTimeout: 120_000, headersTimeout: 130_000, requestTimeout: 0 }, (req, res) => {
  const t0 = performance.now();
  req.resume();
  inside++;
  if (inside > maxInside) maxInside = inside;
  let counted = true;
  const leave = () => {
    if (counted) (counted = false), inside--;
  };
  res.once('close', leave);
  // A request whose client (the proxy) went away while it waited is dropped, not served.
  res.once('close', () => {
    const i = waiting.findIndex((w) => w[1] === res);
    if (i >= 0) waiting.splice(i, 1);
  });
  if (busy < workers) serve(req, res, t0, leave);
  else waiting.push([req, res, t0, leave]);
});
// Proxies pool connections to us: never be the side that closes an idle pooled connection.
server.keepAliveTimeout = 120_000;

const stats = http.createServer((req, res) => {
  const out = { workers, serviceMs, inside, maxInside, served, latencyMs: summary(latencies) };
  if (req.url.includes('reset=1')) {
    maxInside = inside;
    served = 0;
    latencies = [];
  }
  const text = JSON.stringify(out);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
});

await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
await new Promise((resolve) => stats.listen(0, '127.0.0.1', resolve));
process.stdout.write(`${JSON.stringify({ port: server.address().port, statsPort: stats.address().port })}\n`);
