// Starts flagman (`bin/flagman run -c FILE`, or `node dist/cli/main.js …`) as a child process we own by PID, and
// turns its stderr JSON lines into timestamped events (arrival time in this process, from
// performance.now(), plus the line itself).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';

/** The node options bin/flagman passes (its `young=` and `exec node` lines). */
export function launcherNodeArgs(launcher) {
  const text = fs.readFileSync(launcher, 'utf8');
  const young = /^young=(\S+)$/m.exec(text)?.[1];
  const rest = /^exec node \$young (.*) "\$main" "\$@"$/m.exec(text)?.[1];
  if (young === undefined || rest === undefined) throw new Error(`${launcher}: its node options could not be read`);
  return [young, ...rest.split(/\s+/).filter(Boolean)];
}

/** The script bin/flagman runs. */
export function launcherMain(launcher) {
  return path.resolve(path.dirname(fs.realpathSync(launcher)), '../dist/cli/main.js');
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
  // `cli` is the `flagman` command (bin/flagman, a launcher that execs node with its V8 options) or
  // a .js file run by node as it is. Node options the launcher cannot pass on (NODE_OPTIONS refuses
  // --cpu-prof) start node directly, with the launcher's own options first.
  let command = [cli];
  if (cli.endsWith('.js')) command = [process.execPath, ...nodeArgs, cli];
  else if (nodeArgs.length > 0) command = [process.execPath, ...launcherNodeArgs(cli), ...nodeArgs, launcherMain(cli)];
  const argv = [...prefix, ...command, 'run', '-c', configFile];
  const proc = spawn(argv[0], argv.slice(1), {
    stdio: ['ignore', stdout, 'pipe'],
    env: { ...process.env, ...env },
    cwd,
  });
  onSpawn(proc); // the caller keeps the PID from the start, so it can always stop what it started
  const events = [];
  const waiters = new Set();
  const listeners = new Set();
  let exited = null;
  const exitP = new Promise((resolve) => proc.once('exit', (code, signal) => resolve((exited = { code, signal }))));
  readline.createInterface({ input: proc.stderr }).on('line', (line) => {
    const at = performance.now();
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      e = { msg: line };
    }
    e.$at = at;
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
