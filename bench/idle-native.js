#!/usr/bin/env node
// What one idle keep-alive HTTP/1.1 connection costs Node's HTTP server outside V8's heap, per Node
// line: the memory goal for 10,000 idle connections is met on some lines and not on others
// (bench/RESULTS.md, "Idle connections"), and this says where the difference is. For each node
// given (--nodes, paths to node binaries; default the `node` on the PATH), a bare
// `http.createServer` runs under heaptrack (Debian's heaptrack, installed if missing), --connections
// clients connect, each sends one GET and reads its answer, and all stay open; then the server
// exits with them open, and heaptrack's record says which native allocations were live at the
// peak. Reported: RSS added per connection, and the largest allocation site made once per
// connection, with its size per call (on every line measured: Node's HTTP parser object,
// `node::http_parser::Parser::New`, which Node's HTTP server makes for each connection and holds
// while it is open). flagman's HTTP/1.1 frontends are that server, so they pay the same.
// Prints one table and one JSON line.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { commaList, int, parseOptions } from './lib/cli.js';
import { ensureTools } from './lib/install.js';
import { tempDir } from './lib/owned.js';
import { fmt, table } from './lib/stats.js';

const HELP = `node bench/idle-native.js [--nodes PATH,PATH,…] [--connections N]
  --nodes        node binaries to measure (default: the node on the PATH)
  --connections  idle keep-alive connections opened to each server (default 4000)`;
const opts = parseOptions({ nodes: { type: 'string' }, connections: { type: 'string', default: '4000' } }, HELP);
const nodes = commaList(opts.nodes, ['node']);
const connections = int('connections', opts.connections, 100);
ensureTools(['heaptrack']);
const dir = tempDir();

// The server: answers 100 bytes, keeps connections open 5 minutes, reports its RSS on request and
// exits when told, all over the IPC channel the bench opens.
const serverFile = path.join(dir, 'server.mjs');
fs.writeFileSync(
  serverFile,
  `import http from 'node:http';
const s = http.createServer((req, res) => res.end('x'.repeat(100)));
s.keepAliveTimeout = 300_000;
s.listen(0, '127.0.0.1', () => process.send({ port: s.address().port }));
process.on('message', (m) => {
  if (m === 'rss') process.send({ rss: process.memoryUsage().rss, version: process.version });
  if (m === 'exit') process.exit(0);
});
`,
);

/** The next IPC message of `child`. */
const message = (child) => new Promise((resolve) => child.once('message', resolve));

/** `n` connections to `port`, each having sent one GET and read its answer. */
async function openIdle(port, n) {
  const sockets = [];
  await new Promise((resolve, reject) => {
    let answered = 0;
    for (let i = 0; i < n; i++) {
      const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n'));
      s.once('data', () => {
        if (++answered === n) resolve();
      });
      s.once('error', reject);
      sockets.push(s);
    }
  });
  return sockets;
}

/** The peak allocation sites of heaptrack's record `file`: { bytes, calls, site }, largest first. */
function peaks(file) {
  const out = spawnSync(
    'heaptrack_print',
    [
      '-f',
      file,
      '--print-peaks',
      '1',
      '--print-allocators',
      '0',
      '--print-temporary',
      '0',
      '--print-leaks',
      '0',
      '--peak-limit',
      '20',
      '-s',
      '0',
    ],
    {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    },
  ).stdout;
  const unit = { '': 1, K: 1e3, M: 1e6, G: 1e9 };
  const sites = [];
  const re = /^([\d.]+)([KMG]?) peak memory consumed over (\d+) calls from\n(\S.*)$/gm;
  for (const m of out.matchAll(re)) sites.push({ bytes: Number(m[1]) * unit[m[2]], calls: Number(m[3]), site: m[4].trim() });
  return sites;
}

const rows = [];
for (const node of nodes) {
  const record = path.join(dir, `heaptrack-${rows.length}`);
  const child = spawn('heaptrack', ['-o', record, node, serverFile], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const { port } = await message(child);
  child.send('rss');
  const before = await message(child);
  const sockets = await openIdle(port, connections);
  child.send('rss');
  const after = await message(child);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.send('exit');
  await exited;
  for (const s of sockets) s.destroy();
  const file = fs.readdirSync(dir).find((f) => f.startsWith(path.basename(record)));
  // The site made once per connection: as many calls as connections (a few more: the server's own).
  const perConnection = peaks(path.join(dir, file)).find((p) => p.calls >= connections && p.calls <= connections * 1.05);
  rows.push({
    node: after.version,
    rssPerConnKB: (after.rss - before.rss) / connections / 1024,
    site: perConnection?.site ?? null,
    bytesPerCall: perConnection ? Math.round(perConnection.bytes / perConnection.calls) : null,
  });
}
fs.rmSync(dir, { recursive: true, force: true });

console.log(
  table(
    [
      { key: 'node', title: 'node', align: 'left' },
      { key: 'rss', title: 'RSS a connection, KB' },
      { key: 'bytes', title: 'per-connection site, bytes each' },
      { key: 'site', title: 'site', align: 'left' },
    ],
    rows.map((r) => ({ node: r.node, rss: fmt(r.rssPerConnKB), bytes: r.bytesPerCall, site: r.site })),
  ),
);
console.log(JSON.stringify({ bench: 'idle-native', connections, rows }));
