// A busy log file: appends one ~120-byte line to FILE (opened O_APPEND, as `>>` does) RATE times a
// second for SECONDS, each write on its own schedule (t0 + i/RATE), so they arrive spread out the
// way a process logging each request writes them. Bunched writes would let the kernel merge their
// inotify events, and a watcher of the folder would see far fewer than were written. Sleeps between
// writes with Atomics.wait (sub-millisecond, no busy loop). Prints one JSON line at the end:
// {writes, seconds, rate}.
// usage: node bench/lib/appender.js FILE RATE SECONDS
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

const [file, rateArg, secondsArg] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
if (!file || !(rate > 0) || !(seconds > 0)) {
  console.error('usage: node bench/lib/appender.js FILE RATE SECONDS');
  process.exit(2);
}
const fd = fs.openSync(file, 'a');
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const line = (i) => `${new Date().toISOString()} app[${process.pid}]: request ${i} served in 1.2 ms, status 200, bytes 4096\n`;
const t0 = performance.now();
const end = t0 + seconds * 1000;
let writes = 0;
for (;;) {
  const due = t0 + (writes * 1000) / rate;
  if (due >= end) break;
  const wait = due - performance.now();
  if (wait > 0.05) Atomics.wait(sleeper, 0, 0, wait);
  fs.writeSync(fd, line(writes));
  writes++;
}
fs.closeSync(fd);
const took = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ writes, seconds: Math.round(took * 100) / 100, rate: Math.round(writes / took) }));
