// A probe of the machine's own stalls (bench/churn.js --stall-probe): a small process pinned to a
// core that asks to run every millisecond and writes down each time it ran late by more than a
// threshold. The scheduler runs a process that wakes so rarely ahead of a busy one on the same core
// within a millisecond or two, so a late wake-up means the core itself was not running anything of
// this machine's: the virtual machine was held, or the kernel was busy elsewhere. A proxy whose
// event loop is blocked does not delay it; the probe then tells a stall of the proxy (slow requests,
// no late wake-up at the same moment) from one of the machine (both at once). It costs 1-3 % of the
// core it runs on.
import fs from 'node:fs';
import readline from 'node:readline';
import { spawnPinned } from './owned.js';

// The probe's code: epoch ms at which the late wake-up was due, and how late, per line.
const PROBE = `
const threshold = Number(process.argv[1]);
let last = performance.now();
setInterval(() => {
  const t = performance.now();
  if (t - last > threshold) process.stdout.write((performance.timeOrigin + last).toFixed(1) + ' ' + (t - last).toFixed(1) + '\\n');
  last = t;
}, 1);
`;

/**
 * Starts a probe on `cpu`; `within(from, to)` gives the stalls (late wake-ups of more than
 * `thresholdMs`) that began in [from, to] (epoch ms) as {at (epoch ms), ms}; `stop()` ends it.
 */
export function startStallProbe(cpu, { thresholdMs = 10 } = {}) {
  const child = spawnPinned(cpu, process.execPath, ['-e', PROBE, String(thresholdMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stalls = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const [at, ms] = line.split(' ').map(Number);
    stalls.push({ at, ms });
  });
  return {
    pid: child.pid,
    within: (from, to) => stalls.filter((s) => s.at >= from && s.at <= to),
    stop: () => {
      child.kill('SIGTERM');
    },
  };
}

/**
 * The machine's TCP counters that tell a request held in the network stack, not by a process: the
 * retransmission timeouts (TcpExt TCPTimeouts: a segment resent after at least 200 ms, Linux's
 * least RTO), tail loss probes (TCPLossProbes) and every segment resent (Tcp RetransSegs). They
 * count every connection of the machine; the bench's are nearly all of them during a window.
 */
export function tcpCounters() {
  const wanted = { TCPTimeouts: 'timeouts', TCPLossProbes: 'lossProbes', RetransSegs: 'retransmitted' };
  const out = { timeouts: 0, lossProbes: 0, retransmitted: 0 };
  for (const file of ['/proc/net/netstat', '/proc/net/snmp']) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i].split(' ');
      const values = lines[i + 1].split(' ');
      for (let k = 1; k < names.length; k++) if (names[k] in wanted) out[wanted[names[k]]] = Number(values[k]);
    }
  }
  return out;
}
