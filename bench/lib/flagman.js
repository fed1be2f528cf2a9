// Starts flagman (`bin/flagman run -c FILE`, or `node dist/cli/main.js …`) as a child process we own by PID, and
// turns its stderr JSON lines into timestamped events (arrival time in this process, from
// performance.now(), plus the line itself).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';

/**
 * A directory holding a `node` that runs this process's node with `nodeArgs` first: put ahead on the
 * PATH of the `flagman` command (bin/flagman), node options the launcher cannot pass on
 * (NODE_OPTIONS refuses --cpu-prof) reach node, and the launcher still picks its own options for
 * this Node line. `exec`: the PID stays flagman's.
 */
function nodeWithArgs(nodeArgs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-bench-node-'));
  const quote = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;
  fs.writeFileSync(path.join(dir, 'node'), `#!/bin/sh\nexec ${[process.execPath, ...nodeArgs].map(quote).join(' ')} "$@"\n`, {
    mode: 0o755,
  });
  return dir;
}

/**
 * Reads a flagman process's stderr (its event log) as JSON lines: `onEvent(e)` gets each, with
 * `$at`, when the line arrived (performance.now()); a line that is no JSON comes as `{ msg }`.
 */
export function jsonLines(stream, onEvent) {
  readline.createInterface({ input: stream }).on('line', (line) => {
    const at = performance.now();
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      e = { msg: line };
    }
    e.$at = at;
    onEvent(e);
  });
}

/**
 * Spawns `flagman run -c configFile` (`onSpawn(child)` is called at once). Resolves once the
 * `start` event is logged, with
 * {proc, pid, port, events, tSpawn, waitEvent, stop}.
 * `prefix` runs it under another command (['taskset', '-c', '1'] execs node, so `pid` stays flagman's;
 * under a command that forks, such as strace, `pid` is that command's), `nodeArgs` go to node
 * (--cpu-prof …), `stdout` is where the access log goes (default: ignored, i.e. /dev/null).
 */
export async function startFlagman(
  cli,
  configFile,
  { startTimeoutMs = 30_000, env = {}, onSpawn = () => {}, prefix = [], nodeArgs = [], stdout = 'ignore', cwd = undefined } = {},
) {
  const tSpawn = performance.now();
  // `cli` is the `flagman` command (bin/flagman, a launcher that execs the `node` on the PATH with
  // its V8 options) or a .js file run by this process's node as it is.
  let command = [cli];
  let pathEnv = {};
  if (cli.endsWith('.js')) command = [process.execPath, ...nodeArgs, cli];
  else if (nodeArgs.length > 0) {
    const dir = nodeWithArgs(nodeArgs);
    pathEnv = { PATH: `${dir}:${process.env.PATH ?? ''}` };
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  const argv = [...prefix, ...command, 'run', '-c', configFile];
  const proc = spawn(argv[0], argv.slice(1), {
    stdio: ['ignore', stdout, 'pipe'],
    env: { ...process.env, ...pathEnv, ...env },
    cwd,
  });
  onSpawn(proc); // the caller keeps the PID from the start, so it can always stop what it started
  const events = [];
  const waiters = new Set();
  const listeners = new Set();
  let exited = null;
  const exitP = new Promise((resolve) => proc.once('exit', (code, signal) => resolve((exited = { code, signal }))));
  jsonLines(proc.stderr, (e) => {
    events.push(e);
    for (const l of listeners) l(e);
    for (const w of waiters) if (w.match(e)) w.resolve(e);
  });

  /** The first event matching `match` at or after index `from`, waiting up to `timeout` ms. */
  const waitEvent = (match, { from = 0, timeout = 5000 } = {}) => {
    const found = events.slice(from).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = {
        match,
        resolve: (e) => {
          clearTimeout(timer);
          waiters.delete(w);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`flagman: no matching event within ${timeout} ms`));
      }, timeout);
      waiters.add(w);
    });
  };

  /** SIGTERM our child, SIGKILL after `graceMs`; resolves with its exit. */
  const stop = async (graceMs = 5000) => {
    if (exited) return exited;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!exited) proc.kill('SIGKILL');
    }, graceMs);
    const r = await exitP;
    clearTimeout(timer);
    return r;
  };

  const started = await Promise.race([
    waitEvent((e) => e.event === 'start', { timeout: startTimeoutMs }),
    exitP.then((r) => {
      throw new Error(`flagman exited early (${r.code ?? r.signal}):\n${events.map((e) => e.msg ?? JSON.stringify(e)).join('\n')}`);
    }),
  ]).catch(async (err) => {
    await stop(1000);
    throw err;
  });
  const listen = events.find((e) => e.event === 'listen');
  const loaded = events.find((e) => e.event === 'flags.loaded');
  return {
    proc,
    pid: proc.pid,
    port: listen?.port,
    events,
    tSpawn,
    started,
    loaded,
    waitEvent,
    onEvent: (fn) => listeners.add(fn),
    stop,
    get exited() {
      return exited;
    },
  };
}
