// End-to-end fixtures: real upstream servers on 127.0.0.1, the built CLI spawned with execa (through
// the `flagman` launcher, as users run it) on a temp config, and a plain HTTP client. Everything
// listens on port 0 and is closed in teardown.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execa } from './execa.js';
import { scaled } from './slow.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cli = path.join(root, 'dist/cli/main.js');
/** The `flagman` command as installed: a shell launcher that execs node with its V8 options. */
export const launcherPath = path.join(root, 'bin/flagman');
/**
 * The `node` the launcher would run: the first on the PATH (bin/flagman runs `node`), or null.
 * Read once per test file; a few directory lookups.
 */
function nodeOnPath() {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, 'node');
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.realpathSync(file);
    } catch {}
  }
  return null;
}

/**
 * The launcher, run on this test's node: as it is when the first `node` on the PATH is that node
 * (test/lines.js puts each pass's node there, npx puts the devDependency's); otherwise through
 * `env` with a PATH that starts with a directory holding a `node` that is this one, so that a run
 * on another node (`/path/to/node node_modules/ava/…`) still tests that node. `env` execs the
 * launcher, which execs node: one process, flagman's PID, whichever way.
 */
function launcherOnThisNode() {
  if (nodeOnPath() === fs.realpathSync(process.execPath)) return [launcherPath];
  // One directory per node binary and user, shared by the test files (made once, then reused).
  const id = createHash('sha256').update(process.execPath).digest('hex').slice(0, 12);
  const dir = path.join(os.tmpdir(), `flagman-test-node-${process.getuid?.() ?? 0}-${id}`);
  fs.mkdirSync(dir, { recursive: true });
  try {
    fs.symlinkSync(process.execPath, path.join(dir, 'node'));
  } catch (err) {
    if (err.code !== 'EEXIST') throw err; // another test file made it
  }
  return ['env', `PATH=${dir}${path.delimiter}${process.env.PATH ?? ''}`, launcherPath];
}

/**
 * The command that runs flagman, as a list: the `flagman` command users run (bin/flagman, the
 * launcher with its V8 options: docs/proxying.md, "Memory"), on this test's node; or the single executable
 * named by FLAGMAN_BIN (README, "A single file"; `npm run test:sea`).
 */
export const flagmanCommand = process.env.FLAGMAN_BIN ? [path.resolve(process.env.FLAGMAN_BIN)] : launcherOnThisNode();

/**
 * Where the flagman processes a test starts keep V8's compiled code (NODE_COMPILE_CACHE, Node 22
 * and later; older lines ignore it): every start skips compiling flagman's modules again. Measured
 * on Node 26 over e2e/flag-state (15 runs, 45 CLI calls): a `flagman run` 0.67 → 0.57 s of CPU, a
 * `flagman get` 0.25 → 0.20 s, the file 25.7 → 21.8 s; the full suite is CPU-bound on 2 cores.
 * Only under test/lines.js, which makes one fresh directory per run, fills it before any test
 * (FLAGMAN_TEST_COMPILE_CACHE) and removes it after: a cold cache makes every process write it at
 * exit, seconds for a dozen stopped at once. A test file run alone gets no cache.
 */
export const flagmanEnv = process.env.FLAGMAN_TEST_COMPILE_CACHE ? { NODE_COMPILE_CACHE: process.env.FLAGMAN_TEST_COMPILE_CACHE } : {};

// Where freePort looks: below the kernel's ephemeral range, which the suite's own outgoing
// connections (thousands a minute) draw from. A port picked inside it (a listen on port 0) could be
// taken by one of them before the process it was picked for binds it: the demo once failed to start
// so, with the address in use, beside the other test files.
const EPHEMERAL_LOW = (() => {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
})();

/** Binds `port` on loopback and closes it again; resolves to whether the bind worked. */
function bindable(port) {
  const s = net.createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A port nothing listens on (bound on loopback, then closed): for configs that need a dead address,
 * and for a process that must be told where to listen. Picked at random below the ephemeral range
 * when there is room there (10,000 ports or more above 1024), else by a listen on port 0.
 */
export async function freePort() {
  const low = 1024;
  if (EPHEMERAL_LOW - low >= 10_000) {
    for (let i = 0; i < 50; i++) {
      const port = low + Math.floor(Math.random() * (EPHEMERAL_LOW - low));
      if (await bindable(port)) return port;
    }
  }
  const s = net.createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/**
 * Polls `check` (sync or async) every 10 ms until it returns something truthy, and resolves with it;
 * rejects naming `what` after `timeout` ms (default 5 s), scaled by the machine's slowness like every
 * wait here: a wait is an upper bound on waiting, never the bound a test asserts. For state
 * that no event announces (the access log's lines as they arrive, a file's content).
 */
export async function waitFor(check, { timeout: asked = 5000, what = 'the condition' } = {}) {
  const timeout = scaled(asked);
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * `promise`, or `value` if it has not settled within `ms` (as given: a bound the test asserts). The
 * timer is cleared once either settles: a timer left pending keeps the test file's process alive,
 * and the slot ava gives a file with it, after its last test has ended (5–10 s each, measured).
 */
export function orAfter(promise, ms, value) {
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(value), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Calls `onLine` with each line of `input` (a child's pipe, a socket). readline re-emits its
 * input's 'error' on itself, where nothing listens: a socket reset under load (ECONNRESET) would be
 * an uncaught exception in the test process. The input's owner still gets its own 'error'.
 */
export function eachLine(input, onLine) {
  const lines = readline.createInterface({ input });
  lines.on('error', () => {});
  lines.on('line', onLine);
  return lines;
}

/** A temp directory removed at teardown. */
export function tempDir(t, prefix = 'flagman-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A copy of the installed package's layout, `bin/flagman` and `dist/bundle/`, in a directory of the
 * test's own; returns that directory (its real path, as the launcher resolves its own). For tests
 * that change the files under a running flagman, or beside the bundle.
 */
export function packageCopy(t, prefix) {
  const home = fs.realpathSync(tempDir(t, prefix));
  fs.mkdirSync(path.join(home, 'bin'));
  fs.copyFileSync(launcherPath, path.join(home, 'bin/flagman'));
  fs.chmodSync(path.join(home, 'bin/flagman'), 0o755);
  fs.cpSync(path.join(root, 'dist/bundle'), path.join(home, 'dist/bundle'), { recursive: true });
  return home;
}

/**
 * Saves `text` as `fm`'s config the way an editor or deploy tool does: a whole new file renamed
 * over it. flagman's watch of the file reloads once; written in place, a loaded machine could
 * read it half-done.
 */
export function saveConfig(fm, text) {
  const tmp = path.join(fm.dir, `.flagman.yaml.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, fm.configFile);
}

/** Listens on 127.0.0.1:`port` again, a server stopped to play one killed; rejects if the port is taken. */
export function listenAgain(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * An upstream on 127.0.0.1:0 that answers `name` (or runs `handler`) and counts its requests.
 * `stop()` kills it (listener and every connection); `start()` brings it back on the same port.
 */
export async function upstream(t, name, handler) {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, headers: req.headers });
    if (handler) return handler(req, res);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-server': name });
      res.end(name);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const port = server.address().port;
  const stop = () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  const start = () => listenAgain(server, port);
  return { server, name, port, seen, stop, start };
}

/**
 * A server that accepts every upgrade with a 101 and ends the connection, recording each upgrade
 * request's headers in `seen`; a plain request gets `plain`.
 */
export async function upgradeRecorder(t) {
  const seen = [];
  const server = http.createServer((_req, res) => res.end('plain'));
  server.on('upgrade', (req, socket) => {
    seen.push(req.headers);
    socket.on('error', () => {});
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: server.address().port, seen };
}

/** Runs `flagman ...args` (flagmanCommand) to completion (never throws on a non-zero exit). */
export function flagmanCli(args, options = {}) {
  return execa(flagmanCommand[0], [...flagmanCommand.slice(1), ...args], {
    reject: false,
    timeout: scaled(20_000),
    ...options,
    env: { ...flagmanEnv, ...options.env },
  });
}

/**
 * At teardown, stops `proc` (an execa child) with SIGTERM, and SIGKILL if it has not exited 5 s
 * (scaled) later. Returns the promise of its result.
 */
export function stopAtTeardown(t, proc) {
  const exited = proc.then((r) => r);
  t.teardown(async () => {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), scaled(5000));
    await exited;
    clearTimeout(timer);
  });
  return exited;
}

/**
 * Follows a flagman process's event log (its stderr, JSON lines): `events` as they came, and
 * `waitEvent(match, { from, timeout })`, which resolves with the first event (already seen after
 * `from`, or future) matching `match`; it rejects after `timeout` ms (default 5 s), scaled by the
 * machine's slowness, or when `match` throws. A line that is no JSON is kept as `{ msg }`.
 */
export function followEvents(stream) {
  const events = [];
  const waiters = new Set();
  eachLine(stream, (line) => {
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      event = { msg: line };
    }
    events.push(event);
    for (const w of waiters) w.offer(event);
  });
  const waitEvent = (match, { from = 0, timeout: asked = 5000 } = {}) => {
    const timeout = scaled(asked);
    let found;
    try {
      found = events.slice(from).find(match);
    } catch (err) {
      return Promise.reject(err);
    }
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const settle = (err, e) => {
        clearTimeout(timer);
        waiters.delete(w);
        if (err) reject(err);
        else resolve(e);
      };
      // A `match` that throws on some event fails this wait, where the test awaits it; thrown in
      // the line handler it would be an uncaught exception.
      const w = {
        offer: (e) => {
          let matched;
          try {
            matched = match(e);
          } catch (err) {
            return settle(err);
          }
          if (matched) settle(null, e);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`no matching event within ${timeout} ms; events:\n${events.map((e) => JSON.stringify(e)).join('\n')}`));
      }, timeout);
      waiters.add(w);
    });
  };
  return { events, waitEvent };
}

/**
 * Starts `flagman run` on a config written to a temp dir (placeholders `{{name}}` replaced from
 * `vars`), waits until every listener is up, and returns its ports and its event stream. `dir`:
 * run in that folder instead (a restart of an earlier instance: its flags and state file stay).
 * `prefix`: a command that execs flagman (e.g. `setpriv --reuid=nobody …`), so its PID stays flagman's.
 * `installed`: the path of a `flagman` command installed from the npm package, run instead of this
 * repository's build, from the temp dir (so nothing of the repository is its working directory).
 */
export async function startFlagman(
  t,
  yaml,
  {
    dir: reuse = null,
    vars = {},
    files = {},
    flags = {},
    env = {},
    captureAccess = false,
    stdoutFile = null,
    launcher = false,
    installed = null,
    nofile = null,
    prefix = [],
  } = {},
) {
  const dir = reuse ?? tempDir(t);
  const flagsDir = path.join(dir, 'flags');
  fs.mkdirSync(flagsDir, { mode: 0o755, recursive: true });
  for (const [name, value] of Object.entries(flags)) fs.writeFileSync(path.join(flagsDir, name), value);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  const text = yaml.replace(/\{\{(\w+)\}\}/g, (_, k) => {
    if (!(k in vars)) throw new Error(`no value for {{${k}}}`);
    return String(vars[k]);
  });
  const configFile = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(configFile, text);
  // `stdoutFile`: the access log goes to that file, as with `flagman run >> access.log`: flagman's
  // stdout is the file itself (execa's `{ file }` would pipe it through this process).
  const stdout = stdoutFile === null ? 'pipe' : fs.openSync(stdoutFile, 'a');
  // `launcher`: through the `flagman` command (bin/flagman), by a symlink as npm installs it.
  let command = flagmanCommand;
  if (launcher) {
    const link = path.join(dir, 'flagman');
    if (!fs.existsSync(link)) fs.symlinkSync(launcherPath, link);
    command = [link];
  }
  if (installed !== null) command = [installed];
  // `nofile`: run under that descriptor limit (`ulimit -n`); the shell execs flagman, same pid.
  if (nofile !== null) command = ['sh', '-c', 'ulimit -n "$0" && exec "$@"', String(nofile), ...command];
  command = [...prefix, ...command];
  const cwd = installed !== null ? dir : undefined;
  const proc = execa(command[0], [...command.slice(1), 'run', '-c', configFile], {
    reject: false,
    cleanup: true,
    buffer: false,
    env: { ...flagmanEnv, ...env },
    stdout,
    cwd,
  });
  if (typeof stdout === 'number') fs.closeSync(stdout); // the child has its own copy
  const { events, waitEvent } = followEvents(proc.stderr);
  // The access log (stdout), parsed only when a test asks for it: load tests write thousands of lines.
  // A line that is no JSON (cut short by a kill) is kept as `{ unparsed }`, for the test to see: a
  // throw here would be an uncaught exception, not a failed assertion.
  const access = [];
  if (captureAccess) {
    eachLine(proc.stdout, (line) => {
      try {
        access.push(JSON.parse(line));
      } catch {
        access.push({ unparsed: line });
      }
    });
  } else proc.stdout?.resume();

  const exited = stopAtTeardown(t, proc);
  const started = await Promise.race([
    // Generous: a loaded 2-core machine running other suites beside this one can take that long.
    waitEvent((e) => e.event === 'start', { timeout: 30_000 }),
    exited.then((r) => {
      throw new Error(`flagman exited early (${r.exitCode}): ${events.map((e) => JSON.stringify(e)).join('\n')}`);
    }),
  ]);
  // With workers every worker reports its listeners and their reports interleave: each port once,
  // in the order first reported (config order, as each worker listens in that order).
  const ports = [...new Set(events.filter((e) => e.event === 'listen' && !e.admin).map((e) => e.port))];
  /** The port of `frontend`'s first listener. */
  const portOf = (frontend) => events.find((e) => e.event === 'listen' && e.frontend === frontend)?.port;
  const adminPort = events.find((e) => e.event === 'listen' && e.admin)?.port ?? null;
  /** Waits for the applied change of `flag` to `value` (undefined: any change), after `from`. */
  const waitFlag = (flag, value, opts) =>
    waitEvent((e) => e.event === 'flag.change' && e.flag === flag && (value === undefined || e.value === value), opts);
  return {
    proc,
    dir,
    flagsDir,
    configFile,
    port: ports[0],
    ports,
    portOf,
    adminPort,
    events,
    access,
    waitEvent,
    waitFlag,
    started,
    exited,
  };
}

/**
 * Writes `value` to flag `name` the way `echo VALUE > flags/NAME` does, and resolves with the ms
 * from the write to flagman applying it: the time its `flag.change` event carries, so how fast the
 * test reads the event log does not count.
 */
export async function timedFlagWrite(fm, name, value) {
  const from = fm.events.length;
  const before = Date.now();
  fs.writeFileSync(path.join(fm.flagsDir, name), `${value}\n`);
  const change = await fm.waitFlag(name, value, { from });
  return Date.parse(change.time) - before;
}

/**
 * Watches what a flagman polls with fs.watchFile (chokidar's polling mode), through the preload
 * test/fixtures/watch-emfile.mjs. `noWatch`: a file whose existence makes every fs.watch fail with
 * EMFILE. Pass `env` to startFlagman; `polled()` is the list of polled paths (settled within
 * ~20 ms of a change).
 */
export function watchProbe(t, { noWatch = null } = {}) {
  const listFile = path.join(tempDir(t), 'polled');
  const env = { NODE_OPTIONS: `--import=${path.join(root, 'test/fixtures/watch-emfile.mjs')}`, FLAGMAN_TEST_POLLED: listFile };
  if (noWatch) env.FLAGMAN_TEST_NO_WATCH = noWatch;
  const polled = () => {
    try {
      return fs.readFileSync(listFile, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  return { env, polled };
}

/** One HTTP request on a fresh connection; resolves with status, headers and the body as a string. */
/** Writes `text` (a raw request, e.g. an upgrade) on a new connection to `port`; resolves with the response head, then closes. */
export function rawHead(port, text) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\r\n\r\n')) {
        s.destroy();
        resolve(buf);
      }
    });
    s.on('error', reject);
  });
}

export function request(port, { method = 'GET', path: p = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A shell command, the way an operator or a script would write a flag. */
export function sh(command, cwd) {
  return execa('sh', ['-c', command], { cwd });
}

/** `GET /status` on the admin port (the config needs `admin: { listen: "127.0.0.1:0" }`), parsed. */
export async function adminStatus(fm) {
  const r = await request(fm.adminPort, { path: '/status' });
  if (r.status !== 200) throw new Error(`/status answered ${r.status}: ${r.body}`);
  return JSON.parse(r.body);
}

/** The p-th percentile (0–100, nearest rank) of a list of numbers; NaN when it is empty. */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * A client in the test process sending GET requests back to back on one keep-alive connection
 * until `stop()`, or until `limit` responses; with `gapMs`, it waits that long after each answer
 * (traffic that only has to be there then costs the suite far less CPU: two clients back to back
 * through the Ansible recipe's test took 7 of its 19 CPU-seconds, 2026-12-08). Each response is
 * labelled by `classify({status, body})`;
 * `stop()` and `done` resolve with `{count, labels: {label: n}, errors: [message], latencies: [ms]}`.
 * Bounded by `maxMs` (default 120 s) in case a test forgets to stop it; a request unanswered for
 * `timeoutMs` (scaled, default 10 s) is an error.
 */
export function keepAliveLoad(
  port,
  { path: p = '/', classify = (r) => String(r.status), maxMs = 120_000, limit = Infinity, timeoutMs = 10_000, gapMs = 0 } = {},
) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const result = { count: 0, labels: {}, errors: [], latencies: [] };
  let stopping = false;
  const deadline = Date.now() + maxMs;
  const one = () =>
    new Promise((resolve) => {
      const started = performance.now();
      const req = http.get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          result.latencies.push(performance.now() - started);
          const label = classify({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() });
          result.labels[label] = (result.labels[label] ?? 0) + 1;
          resolve();
        });
        res.on('error', (err) => {
          result.errors.push(`response: ${err.message}`);
          resolve();
        });
      });
      req.setTimeout(scaled(timeoutMs), () => req.destroy(new Error(`no response within ${scaled(timeoutMs)} ms`)));
      req.on('error', (err) => {
        result.errors.push(err.message);
        resolve();
      });
    });
  const done = (async () => {
    while (!stopping && Date.now() < deadline && result.count < limit) {
      await one();
      result.count++;
      if (gapMs > 0 && !stopping) await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
    agent.destroy();
    return result;
  })();
  return {
    result,
    done,
    stop() {
      stopping = true;
      return done;
    },
  };
}
