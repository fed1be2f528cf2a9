#!/usr/bin/env node
// The upstream of bench/streams.js: one Node process (the parent pins it) with three listeners on
// 127.0.0.1 (port 0 each, read back):
//   bulk  for every byte received, sends a preallocated 1 MiB block (the client asks for the next
//         transfer with one byte once it has the whole block)
//   echo  sends back every byte it receives, as it receives it
//   sink  sends one byte for every 1 MiB it receives (the client sends the next block on it)
//   ws    an HTTP server that answers `Upgrade: websocket` with 101 (Sec-WebSocket-Accept computed),
//         then for every complete client message (a masked frame of FRAME_IN bytes) sends one
//         unmasked frame of the same payload size; bytes are counted, not parsed: the proxies pass
//         a tunnel's bytes through untouched, and nothing here is measured
// Prints one JSON line {bulk, echo, sink, ws} (the ports) on stdout when listening. Bounded: exits after
// argv[2] seconds (default 3600) or when its stdin closes (the parent went away).
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { BULK_BYTES, WS_FRAME_IN, WS_FRAME_OUT, wsServerFrames } from './stream-proto.js';

const maxSeconds = Number(process.argv[2] ?? 3600);
setTimeout(() => process.exit(3), maxSeconds * 1000).unref();
process.stdin.on('end', () => process.exit(0)).on('error', () => process.exit(0));
process.stdin.resume();

const block = Buffer.alloc(BULK_BYTES, 'b');
const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
const quiet = (s) => s.on('error', () => s.destroy());

const bulk = net.createServer({ noDelay: true }, (s) => {
  quiet(s);
  s.on('data', (d) => {
    for (let i = 0; i < d.length; i++) s.write(block);
  });
});

const echo = net.createServer({ noDelay: true }, (s) => {
  quiet(s);
  s.on('data', (d) => s.write(d));
});

const ack = Buffer.from('k');
const sink = net.createServer({ noDelay: true }, (s) => {
  quiet(s);
  let got = 0;
  s.on('data', (d) => {
    got += d.length;
    for (; got >= BULK_BYTES; got -= BULK_BYTES) s.write(ack);
  });
});

// Enough prebuilt server frames for any burst a client can have in flight (it keeps a window).
const frames = wsServerFrames(4096);
const ws = http.createServer((_req, res) => {
  res.writeHead(426, { 'content-length': 0 });
  res.end();
});
ws.keepAliveTimeout = 120_000;
ws.on('upgrade', (req, socket, head) => {
  quiet(socket);
  socket.setNoDelay(true);
  const accept = crypto
    .createHash('sha1')
    .update(`${req.headers['sec-websocket-key'] ?? ''}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
    .digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let pending = 0; // bytes of a client frame received so far
  const onData = (d) => {
    pending += d.length;
    const n = Math.floor(pending / WS_FRAME_IN);
    pending -= n * WS_FRAME_IN;
    for (let left = n; left > 0; left -= 4096) socket.write(frames.subarray(0, Math.min(left, 4096) * WS_FRAME_OUT));
  };
  if (head.length > 0) onData(head);
  socket.on('data', onData);
});

const ports = { bulk: await listen(bulk), echo: await listen(echo), sink: await listen(sink), ws: await listen(ws) };
process.stdout.write(`${JSON.stringify(ports)}\n`);
