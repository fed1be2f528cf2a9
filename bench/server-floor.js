#!/usr/bin/env node
// What Node's HTTP/1.1 server costs per request, plain and over TLS, against a bare socket server
// that reads the same requests and writes the same answer. flagman's frontends are Node's HTTP/1.1
// server (its upstream side is its own client); this bench measures the share of a request's CPU
// that an HTTP/1.1 server of flagman's own could remove at most. No proxy runs: each server
// answers 100 bytes itself, pinned to its core, with wrk (-t1, keep-alive) on the other.
//   node-http   node:http (plain) or node:https (TLS, ECDSA P-256): writeHead, then end(body)
//   bare        node:net or node:tls: the head of each request is cut at its blank line and split
//               into its request line and header names and values, as a parser hands them on; the
//               answer is one write of a prepared string. No body, no timeouts, no limits: the
//               floor under any server, not a server.
// Rounds (--rounds) interleave the servers; figures are medians over rounds. Prints one table and
// one JSON line.
import fs from 'node:fs';
import path from 'node:path';
import { parseOptions, int } from './lib/cli.js';
import { ensureTools } from './lib/install.js';
import { firstLine, spawnPinned, stopChild, tempDir } from './lib/owned.js';
import { cpuTicks, ticksPerSecond } from './lib/proc.js';
import { machine, median, round1, startRun } from './lib/run.js';
import { table } from './lib/stats.js';
import { makeCertificate } from './lib/tls-tools.js';
import { runWrk } from './lib/wrk.js';

const HELP = `node bench/server-floor.js [--rounds N] [--duration S] [--warmup S] [--connections N]
  --rounds       interleaved rounds (default 3)
  --duration     measured seconds per server and round (default 8)
  --warmup       seconds of load before each measurement, not counted (default 3)
  --connections  wrk's keep-alive connections (default 50)`;
const opts = parseOptions(
  {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
  },
  HELP,
);
const rounds = int('rounds', opts.rounds, 1);
const duration = int('duration', opts.duration, 1);
const warmup = int('warmup', opts.warmup, 0);
const connections = int('connections', opts.connections, 1);
const log = startRun({ maxSeconds: 60 + rounds * 4 * (duration + warmup + 20) });
ensureTools(['wrk', 'taskset', 'openssl'], log);
const dir = tempDir();
const cert = makeCertificate(dir, 'ecdsa');

const SERVER = `import fs from 'node:fs';
const [kind, tls, certFile, keyFile] = process.argv.slice(2);
const secure = tls === 'tls';
const options = secure ? { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) } : {};
const body = 'x'.repeat(100);
let server;
if (kind === 'node-http') {
  const http = await import(secure ? 'node:https' : 'node:http');
  const handler = (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '100' });
    res.end(body);
  };
  server = secure ? http.createServer(options, handler) : http.createServer(handler);
} else {
  const net = await import(secure ? 'node:tls' : 'node:net');
  let date = new Date().toUTCString();
  setInterval(() => (date = new Date().toUTCString()), 1000).unref();
  const onConnection = (socket) => {
    let pending = '';
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      let out = '';
      for (let end = pending.indexOf('\\r\\n\\r\\n'); end >= 0; end = pending.indexOf('\\r\\n\\r\\n')) {
        const lines = pending.slice(0, end).split('\\r\\n');
        const fields = [];
        for (let i = 1; i < lines.length; i++) {
          const colon = lines[i].indexOf(':');
          fields.push(lines[i].slice(0, colon).toLowerCase(), lines[i].slice(colon + 1).trim());
        }
        const [method, target] = lines[0].split(' ');
        if (method === undefined || target === undefined || fields.length % 2) return socket.destroy();
        pending = pending.slice(end + 4);
        out += 'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: 100\\r\\nDate: ' + date + '\\r\\nConnection: keep-alive\\r\\n\\r\\n' + body;
      }
      if (out !== '') socket.write(out, 'latin1');
    });
  };
  server = secure ? net.createServer(options, onConnection) : net.createServer(onConnection);
}
server.listen(0, '127.0.0.1', () => console.log('PORT ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
`;
const serverFile = path.join(dir, 'server.mjs');
fs.writeFileSync(serverFile, SERVER);

const CASES = [
  { name: 'HTTP, 100 B', tls: 'plain', scheme: 'http' },
  { name: 'HTTPS, 100 B', tls: 'tls', scheme: 'https' },
];
const KINDS = ['node-http', 'bare'];

/** One measurement: CPU µs per request and requests a second of `kind` serving `c`. */
async function measure(c, kind) {
  const child = spawnPinned(1, process.execPath, [serverFile, kind, c.tls, cert.cert, cert.key], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = Number(await firstLine(child, child.stdout, (l) => /^PORT (\d+)$/.exec(l)?.[1], { what: `${kind} server` }));
    const wrk = (seconds) => runWrk({ dir, port, path: '/', seconds, connections, cpu: 0, scheme: c.scheme });
    if (warmup > 0) await wrk(warmup);
    const t0 = cpuTicks(child.pid);
    const w = await wrk(duration);
    const t1 = cpuTicks(child.pid);
    if (w.errors > 0) log(`${c.name} ${kind}: ${w.errors} errors`);
    return { usPerRequest: (((t1 - t0) / ticksPerSecond()) * 1e6) / w.requests, rps: w.rps };
  } finally {
    await stopChild(child);
  }
}

const results = new Map(); // `${case} ${kind}` → [{ usPerRequest, rps }]
for (let r = 1; r <= rounds; r++) {
  for (const c of CASES) {
    // Alternate which server goes first, so a drift of the machine within a round favours neither.
    for (const kind of r % 2 ? KINDS : [...KINDS].reverse()) {
      const m = await measure(c, kind);
      log(`round ${r}/${rounds}: ${c.name}, ${kind}: ${m.usPerRequest.toFixed(1)} µs/request, ${Math.round(m.rps)} req/s`);
      const key = `${c.name} ${kind}`;
      results.set(key, [...(results.get(key) ?? []), m]);
    }
  }
}
fs.rmSync(dir, { recursive: true, force: true });

const rows = CASES.map((c) => {
  const node = results.get(`${c.name} node-http`);
  const bare = results.get(`${c.name} bare`);
  const ratios = node.map((n, i) => bare[i].usPerRequest / n.usPerRequest);
  return {
    case: c.name,
    nodeUs: round1(median(node.map((m) => m.usPerRequest))),
    bareUs: round1(median(bare.map((m) => m.usPerRequest))),
    serverUs: round1(median(node.map((n, i) => n.usPerRequest - bare[i].usPerRequest))),
    bareOverNode: round1(median(ratios), 2),
    nodeRps: Math.round(median(node.map((m) => m.rps))),
    bareRps: Math.round(median(bare.map((m) => m.rps))),
  };
});
console.log(
  table(
    [
      { key: 'case', title: 'case', align: 'left' },
      { key: 'nodeUs', title: 'Node HTTP server µs/req' },
      { key: 'bareUs', title: 'bare socket µs/req' },
      { key: 'serverUs', title: 'difference µs' },
      { key: 'bareOverNode', title: 'bare ÷ Node' },
      { key: 'nodeRps', title: 'Node req/s' },
      { key: 'bareRps', title: 'bare req/s' },
    ],
    rows,
  ),
);
console.log(JSON.stringify({ bench: 'server-floor', node: process.version, rounds, duration, connections, machine: machine(), rows }));
