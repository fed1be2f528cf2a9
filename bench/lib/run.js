// What every comparison script does around its measurements, once: a log with the seconds since
// start, the exit and signal handlers that stop what it started, an overall time bound, the
// machine line its results carry, the Node backend, and the median and rounding of its figures.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { versions } from './install.js';
import { firstLine, ownExit, spawnPinned, stopChild, tempDir } from './owned.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Starts the run: returns log(msg), which writes `[  12.3 s] msg` on stderr; installs the exit and
 * signal handlers (`keep`: leave temp directories); gives up after `maxSeconds`.
 */
export function startRun({ keep = false, maxSeconds }) {
  const begin = performance.now();
  const log = (msg) => process.stderr.write(`[${((performance.now() - begin) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
  ownExit({ keep, onSignal: (sig) => log(`${sig}: stopping`) });
  if (os.cpus().length < 2) log('warning: fewer than 2 CPUs: the proxy and the load share a core');
  setTimeout(() => {
    log(`still running ${maxSeconds} s after start (--max-seconds): giving up`);
    process.exit(2);
  }, maxSeconds * 1000).unref();
  return log;
}

/** `x` rounded to `d` decimals, or null when it is no finite number. */
export const round1 = (x, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);

/** The median of the finite numbers of `xs` (the mean of the middle two for an even count), or null. */
export function median(xs) {
  const s = xs.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The machine line of a result: date, CPUs, memory, kernel, the tools' versions, the commit, the load. */
export function machine() {
  const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? os.cpus()[0]?.model ?? null;
  let commit = null;
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  return {
    date: new Date().toISOString(),
    nproc: os.cpus().length,
    cpu,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    ...versions(),
    commit,
    loadavg: os.loadavg().map((x) => round1(x, 2)),
  };
}

/**
 * The Node backend (bench/lib/backend.js) on core `cpu`, serving `count` ports; it exits by itself
 * `maxSeconds` after start. Resolves {pid, ports, stop()}.
 */
export async function startBackend({ cpu, count = 3, maxSeconds, dir = tempDir('flagman-bench-backend-') }) {
  const child = spawnPinned(cpu, process.execPath, [path.join(root, 'bench/lib/backend.js'), String(count), String(maxSeconds)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    cwd: dir,
  });
  const { ports } = await firstLine(child, child.stdout, (l) => (l.startsWith('{') ? JSON.parse(l) : null), { what: 'backend' });
  // The gaps of its event loop, when asked for (backend.js, FLAGMAN_BENCH_BACKEND_GAPS).
  const gaps = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const m = /^gap (\S+) (\S+)$/.exec(line);
    if (m) gaps.push({ at: Number(m[1]), ms: Number(m[2]) });
  });
  return { pid: child.pid, ports, gaps: (from, to) => gaps.filter((g) => g.at >= from && g.at <= to), stop: () => stopChild(child) };
}
