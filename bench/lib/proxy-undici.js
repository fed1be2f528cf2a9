#!/usr/bin/env node
// The baseline "minimal Node proxy": a node:http server in front of one undici Pool, streaming
// bodies both ways. It does what every proxy in the comparison does and nothing more: drop the
// hop-by-hop headers, append X-Forwarded-For, pool keep-alive connections upstream.
// argv: upstream port, then the API used for the upstream exchange:
//   stream   (default) pool.stream(): the response body is written straight into `res` from the
//            factory, no intermediate Readable — the cheaper way, as undici's docs show for proxying
//   request  pool.request() and stream.pipeline(body, res) — the way most code calls undici
// Prints {port} as one JSON line on stdout once listening on 127.0.0.1:0.
import http from 'node:http';
import { pipeline } from 'node:stream';
import { Pool } from 'undici';

const upstream = Number(process.argv[2]);
const mode = process.argv[3] ?? 'stream';
const pool = new Pool(`http://127.0.0.1:${upstream}`, { keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

// The request as undici takes it: headers as a flat [name, value, …] array.
function upstreamOptions(req) {
  const raw = req.rawHeaders;
  const headers = [];
  let xff = null;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (HOP.has(k)) continue;
    if (k === 'x-forwarded-for') xff = raw[i + 1];
    else headers.push(raw[i], raw[i + 1]);
  }
  const ip = req.socket.remoteAddress;
  headers.push('x-forwarded-for', xff === null ? ip : `${xff}, ${ip}`);
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  return { path: req.url, method: req.method, headers, body: hasBody ? req : null };
}

function writeHead(res, statusCode, up) {
  const out = {};
  for (const k in up) if (!HOP.has(k)) out[k] = up[k];
  res.writeHead(statusCode, out);
}

function fail(res) {
  if (!res.headersSent) res.writeHead(502, { 'content-length': 0 });
  res.end();
}

const handlers = {
  stream: (req, res) => {
    pool
      .stream(upstreamOptions(req), ({ statusCode, headers }) => {
        writeHead(res, statusCode, headers);
        return res;
      })
      .catch(() => fail(res));
  },
  request: async (req, res) => {
    try {
      const up = await pool.request(upstreamOptions(req));
      writeHead(res, up.statusCode, up.headers);
      pipeline(up.body, res, () => {});
    } catch {
      fail(res);
    }
  },
};

const server = http.createServer(handlers[mode]);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.on('SIGTERM', () => process.exit(0));
