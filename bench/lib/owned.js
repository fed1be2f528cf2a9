// What a bench run owns, so that every way out (normal end, an error, Ctrl-C, SIGTERM) stops exactly
// the processes it started — by PID, never by name — and removes its temp directories.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const children = new Set();
const temps = new Set();
let keepTemps = false;
let installed = false;

function cleanup() {
  for (const c of children) {
    try {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  if (!keepTemps) for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
}

/** Installs the exit and signal handlers once; `keep` leaves temp directories in place. */
export function ownExit({ keep = false, onSignal = () => {} } = {}) {
  keepTemps = keep;
  if (installed) return;
  installed = true;
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      onSignal(sig);
      process.exit(2);
    });
  }
}

/** A new temp directory (mode 0700), removed at exit. */
export function tempDir(prefix = 'flagman-bench-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.add(d);
  return d;
}

/** Spawns `cmd args` and keeps it (by its ChildProcess, hence its PID) for cleanup. */
export function spawnOwned(cmd, args, options = {}) {
  const child = spawn(cmd, args, options);
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.once('error', () => children.delete(child));
  return child;
}

/** Keeps a child spawned elsewhere (bench/lib/flagman.js) for cleanup. */
export function adopt(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** `taskset -c CPU cmd args`: taskset execs the command, so the PID is the command's own. */
export function spawnPinned(cpu, cmd, args, options = {}) {
  if (cpu === null || cpu === undefined) return spawnOwned(cmd, args, options);
  return spawnOwned('taskset', ['-c', String(cpu), cmd, ...args], options);
}

/** Resolves with the first line of `stream` that `match` accepts (its return value), or rejects. */
export function firstLine(child, stream, match, { timeoutMs = 15_000, what = 'process' } = {}) {
  return new Promise((resolve, reject) => {
    const lines = [];
    const rl = readline.createInterface({ input: stream });
    const timer = setTimeout(() => done(new Error(`${what}: not ready within ${timeoutMs} ms\n${lines.join('\n')}`)), timeoutMs);
    const onExit = (code, signal) => done(new Error(`${what} exited early (${code ?? signal})\n${lines.join('\n')}`));
    const done = (err, value) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      rl.off('line', onLine);
      if (err) reject(err);
      else resolve(value);
    };
    const onLine = (line) => {
      lines.push(line);
      const v = match(line);
      if (v !== undefined && v !== null && v !== false) done(null, v);
    };
    rl.on('line', onLine);
    child.once('exit', onExit);
  });
}

/** SIGTERM `child`, SIGKILL after `graceMs`; resolves once it has exited. */
export function stopChild(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A free TCP port on 127.0.0.1 (listen on 0, read it back, close), for servers that need one named. */
export async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
