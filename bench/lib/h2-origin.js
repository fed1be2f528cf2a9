#!/usr/bin/env node
// A bare node:http2 secure server (HTTPS with ALPN h2 and http/1.1, as flagman's TLS frontends) that
// answers every request itself with the bench backend's bodies (65,536 bytes for /64k, 100 bytes for
// any other path): what Node's own TLS and HTTP/2 stack pays, without a proxy. argv: cert file, key file, max seconds (default 3600). Prints one JSON
// line {port} on stdout when listening on 127.0.0.1:0; exits when its stdin closes.
import fs from 'node:fs';
import http2 from 'node:http2';

const [certFile, keyFile, maxSeconds = '3600'] = process.argv.slice(2);
setTimeout(() => process.exit(3), Number(maxSeconds) * 1000).unref();
process.stdin.on('end', () => process.exit(0)).on('error', () => process.exit(0));
process.stdin.resume();

const small = Buffer.alloc(100, 'a');
small.write(`${'flagman bench\n'.padEnd(99, '.')}\n`);
const large = Buffer.alloc(65536, 'b');
const server = http2.createSecureServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile), allowHTTP1: true });
server.on('request', (req, res) => {
  req.resume();
  const body = req.url === '/64k' ? large : small;
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  res.end(body);
});
// A client that resets is not this server's error.
server.on('session', (session) => session.on('error', () => session.destroy()));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
