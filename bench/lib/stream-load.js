#!/usr/bin/env node
// The load client of bench/streams.js, one run per process (the parent pins it to the load core):
//   node stream-load.js CASE PORT SECONDS CONNECTIONS [WINDOW]
// CASE bulk: each connection asks for a 1 MiB block (one byte), reads all of it, asks again.
//      upload: each connection sends a 1 MiB block, waits for the origin's one-byte receipt, again.
//      echo: each connection sends 1 KiB, waits for the 1 KiB back (one round trip, timed), again.
//      ws:   each connection upgrades (GET / with Upgrade: websocket, waits for the 101), then keeps
//            WINDOW small messages in flight: for every message that comes back, one more goes out
//            (batched per read, so the client stays cheap).
// Connections are opened before the clock starts. Prints one JSON line {units, seconds, bytes,
// p50, p99, max, errors}: units are transfers, round trips or messages received (each way).
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { summary } from './stats.js';
import { BULK_BYTES, ECHO_BYTES, WS_FRAME_OUT, wsClientFrames } from './stream-proto.js';

const [kase, portArg, secondsArg, connArg, windowArg] = process.argv.slice(2);
const port = Number(portArg);
const seconds = Number(secondsArg);
const connections = Number(connArg);
const windowSize = Number(windowArg ?? 16);
setTimeout(() => process.exit(3), (seconds + 30) * 1000).unref();

const ask = Buffer.from('g');
const request = Buffer.alloc(ECHO_BYTES, 'e');
const outFrames = wsClientFrames(Math.max(windowSize, 1));
const FRAME_IN = outFrames.length / Math.max(windowSize, 1);

let units = 0;
let bytes = 0;
let errors = 0;
let running = false;
const lat = [];

function open() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

// The 101 of an upgrade: resolves with what came after its head (the first frames, if any).
function upgrade(s) {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      const status = head.subarray(0, 12).toString('latin1');
      if (!status.startsWith('HTTP/1.1 101')) return reject(new Error(`no 101: ${head.subarray(0, end).toString('latin1')}`));
      resolve(head.subarray(end + 4));
    };
    s.on('data', onData);
    s.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
  });
}

const sockets = [];
for (let i = 0; i < connections; i++) {
  const s = await open();
  s.on('error', () => errors++);
  sockets.push(s);
}
const rest = kase === 'ws' ? await Promise.all(sockets.map(upgrade)) : [];

const t0 = performance.now();
running = true;
if (kase === 'bulk') {
  for (const s of sockets) {
    let got = 0;
    s.on('data', (d) => {
      got += d.length;
      bytes += d.length;
      while (got >= BULK_BYTES) {
        got -= BULK_BYTES;
        units++;
        if (running) s.write(ask);
      }
    });
    s.write(ask);
  }
} else if (kase === 'upload') {
  const block = Buffer.alloc(BULK_BYTES, 'u');
  for (const s of sockets) {
    s.on('data', (d) => {
      units += d.length;
      bytes += d.length * BULK_BYTES;
      if (running) for (let i = 0; i < d.length; i++) s.write(block);
    });
    s.write(block);
  }
} else if (kase === 'echo') {
  for (const s of sockets) {
    let got = 0;
    let sent = 0;
    s.on('data', (d) => {
      got += d.length;
      bytes += d.length;
      if (got < ECHO_BYTES) return;
      got -= ECHO_BYTES;
      units++;
      lat.push(performance.now() - sent);
      if (running) {
        sent = performance.now();
        s.write(request);
      }
    });
    sent = performance.now();
    s.write(request);
  }
} else if (kase === 'ws') {
  sockets.forEach((s, i) => {
    let got = 0;
    const onData = (d) => {
      got += d.length;
      bytes += d.length;
      const n = Math.floor(got / WS_FRAME_OUT);
      if (n === 0) return;
      got -= n * WS_FRAME_OUT;
      units += n;
      // One more out for each that came back: WINDOW stay in flight.
      if (running) for (let left = n; left > 0; left -= windowSize) s.write(outFrames.subarray(0, Math.min(left, windowSize) * FRAME_IN));
    };
    s.on('data', onData);
    s.write(outFrames);
    if (rest[i].length > 0) onData(rest[i]);
  });
} else {
  console.error(`unknown case ${kase}`);
  process.exit(2);
}

await new Promise((r) => setTimeout(r, seconds * 1000));
running = false;
const took = (performance.now() - t0) / 1000;
const counted = { units, bytes };
for (const s of sockets) s.destroy();
process.stdout.write(`${JSON.stringify({ ...counted, seconds: took, errors, ...(lat.length ? summary(lat) : {}) })}\n`);
process.exit(0);
