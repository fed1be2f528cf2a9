#!/usr/bin/env node
// The bench's upstream: one Node process (the parent pins it) serving on `count` ports of 127.0.0.1
// (port 0 each, read back; argv[4], comma-separated, names them instead: a backend restarted on the
// ports it had), the same handler on all:
//   GET  /100     100 bytes      GET /64k   65,536 bytes      GET /healthz  "ok\n"
//   POST /upload  reads the whole body and answers 100 bytes
// Any other path gets the 100-byte answer. Bodies are preallocated; Content-Length always set.
// Prints one JSON line {ports} on stdout when listening. Bounded: exits after argv[3] seconds
// (default 3600) or when its stdin closes (the parent went away). With FLAGMAN_BENCH_BACKEND_GAPS=1
// in its environment (bench/churn.js --stall-probe) it also prints `gap AT MS` for each time its
// event loop came back 10 ms or more late (AT: epoch ms it was due): a request held by the backend.
import http from 'node:http';

const count = Number(process.argv[2] ?? 1);
const maxSeconds = Number(process.argv[3] ?? 3600);
const wanted = (process.argv[4] ?? '').split(',').filter(Boolean).map(Number);
setTimeout(() => process.exit(3), maxSeconds * 1000).unref();
process.stdin.on('end', () => process.exit(0)).on('error', () => process.exit(0));
process.stdin.resume();

const small = Buffer.alloc(100, 'a');
small.write(`${'flagman bench\n'.padEnd(99, '.')}\n`);
const large = Buffer.alloc(65536, 'b');
const ok = Buffer.from('ok\n');
const headers = (len) => ({ 'content-type': 'application/octet-stream', 'content-length': len });

function handler(req, res) {
  const url = req.url;
  if (url === '/upload') {
    let bytes = 0;
    req.on('data', (c) => (bytes += c.length));
    req.on('end', () => {
      res.writeHead(200, { ...headers(small.length), 'x-received': bytes });
      res.end(small);
    });
    return;
  }
  req.resume();
  if (url === '/64k') {
    res.writeHead(200, headers(large.length));
    res.end(large);
  } else if (url === '/healthz') {
    res.writeHead(200, headers(ok.length));
    res.end(ok);
  } else {
    res.writeHead(200, headers(small.length));
    res.end(small);
  }
}

const ports = [];
for (let i = 0; i < count; i++) {
  const server = http.createServer({ keepAliveTimeout: 120_000, headersTimeout: 130_000, requestTimeout: 0 }, handler);
  // Proxies pool connections to us: never be the side that closes an idle pooled connection.
  server.keepAliveTimeout = 120_000;
  await new Promise((resolve) => server.listen(wanted[i] ?? 0, '127.0.0.1', resolve));
  ports.push(server.address().port);
}
process.stdout.write(`${JSON.stringify({ ports })}\n`);

if (process.env.FLAGMAN_BENCH_BACKEND_GAPS === '1') {
  let last = performance.now();
  setInterval(() => {
    const t = performance.now();
    if (t - last >= 10) process.stdout.write(`gap ${(performance.timeOrigin + last).toFixed(1)} ${(t - last).toFixed(1)}\n`);
    last = t;
  }, 1).unref();
}
