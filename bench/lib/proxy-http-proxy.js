#!/usr/bin/env node
// node `http-proxy` (the npm package) as most Node users deploy it: a node:http server calling
// proxy.web() with a keep-alive agent and xfwd (X-Forwarded-*) on.
// argv: upstream port. Prints {port} as one JSON line on stdout once listening on 127.0.0.1:0.
import http from 'node:http';
import httpProxy from 'http-proxy';

const upstream = Number(process.argv[2]);
const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${upstream}`, agent, xfwd: true });
proxy.on('error', (_err, _req, res) => {
  if (res.writeHead && !res.headersSent) res.writeHead(502, { 'content-length': 0 });
  res.end?.();
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.on('SIGTERM', () => process.exit(0));
