#!/usr/bin/env node
// Issue 4: "no filesystem call on the request path". Runs flagman (the realistic config of
// bench/proxies.js: 5 CEL rules, flags read by them, access log on, 3 servers) under strace, first
// idle for --seconds, then under wrk load for the same --seconds, and counts the file-system,
// read and write syscalls of each window: all of them, and those on the flags directory (strace -y prints
// the path behind every fd). The flags are re-read by the 1 s rescan in both windows alike, so
// the load window may add none: PASS when it adds fewer than 10 flag-file calls per 1,000 requests
// (the rescan's jitter, a few calls a second) — one per request would add 1,000. Build first:
//
//   npm run build && node bench/no-fs-on-request-path.js [--seconds 10] [--connections 20]
//
// Output: a table per syscall (idle, load, added per 1,000 requests), PASS/FAIL, one JSON line.
// Exit code 0 on PASS, 1 on FAIL, 2 on an error. Loopback only; ports picked free; PIDs ours.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startFlagman } from './lib/flagman.js';
import { writeFlagmanConfig } from './lib/flagman-configs.js';
import { ensureTools, versions } from './lib/install.js';
import { adopt, firstLine, ownExit, spawnPinned, stopChild, tempDir } from './lib/owned.js';
import { processTree } from './lib/proc.js';
import { table } from './lib/stats.js';
import { runWrk } from './lib/wrk.js';
import { int, parseOptions } from './lib/cli.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const opt = parseOptions(
  {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '20' },
    config: { type: 'string', default: 'realistic' },
    cli: { type: 'string', default: path.join(root, 'dist/cli/main.js') },
    'no-install': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
  'usage: node bench/no-fs-on-request-path.js [--seconds S (10)] [--connections N (20)] [--config realistic|minimal] [--no-install] [--keep]',
);
const seconds = int('seconds', opt.seconds, 1);
const connections = int('connections', opt.connections, 1);
const T_BEGIN = performance.now();
const log = (msg) => process.stderr.write(`[${((performance.now() - T_BEGIN) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
ownExit({ keep: opt.keep, onSignal: (sig) => log(`${sig}: stopping`) });
setTimeout(() => {
  log('still running after 10 minutes: giving up');
  process.exit(2);
}, 600_000).unref();

// The syscalls counted: every call that names a path (%file: open, stat, access, readlink,
// inotify_add_watch …), fstat, and every read and write variant (on sockets too: those are the
// request path's own, and show how many syscalls a request costs).
const TRACE = 'trace=%file,%fstat,read,pread64,readv,preadv,preadv2,getdents64,write,writev,pwrite64,sendmsg,sendto,recvfrom,recvmsg';

async function main() {
  if (!opt['no-install']) ensureTools(['strace', 'wrk', 'taskset'], log);
  const dir = tempDir('flagman-bench-strace-');
  const backend = spawnPinned(0, process.execPath, [path.join(root, 'bench/lib/backend.js'), '3', '900'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const { ports } = await firstLine(backend, backend.stdout, (l) => (l.startsWith('{') ? JSON.parse(l) : null), { what: 'backend' });
  const file = writeFlagmanConfig(dir, opt.config, ports);
  const flagsDir = path.join(dir, 'flags');
  // Not in `dir`: flagman watches its config file's folder, and every line strace wrote there would
  // wake the watcher, whose reads strace would write down: a loop.
  // wrk's Lua script goes there too, for the same reason.
  const outDir = tempDir('flagman-bench-trace-');
  const traceFile = path.join(outDir, 'strace.txt');
  const f = await startFlagman(path.resolve(opt.cli), file, {
    prefix: ['strace', '-f', '-qq', '-ttt', '-y', '-e', TRACE, '-e', 'signal=none', '-o', traceFile],
    onSpawn: (child) => {
      adopt(child);
      // strace (6.1) leaves its tracee running when it is killed itself: on any way out, first kill
      // what strace started (flagman, by PID, found under strace's own), then strace.
      process.prependListener('exit', () => {
        for (const p of processTree(child.pid).slice(1).reverse()) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      });
    },
    cwd: dir,
    startTimeoutMs: 60_000,
  });
  const pid = f.started.pid; // flagman's own PID (strace's child), from its start event
  const port = f.events.find((e) => e.event === 'listen' && e.frontend === 'web')?.port;
  log(`flagman pid ${pid} under strace, port ${port}; settling 3 s`);
  await delay(3000);

  const idle = { from: Date.now() / 1000 };
  log(`idle window: ${seconds} s`);
  await delay(seconds * 1000);
  idle.to = Date.now() / 1000;

  const load = { from: Date.now() / 1000 };
  log(`load window: wrk -c${connections} for ${seconds} s on GET /100`);
  const w = await runWrk({ dir: outDir, port, path: '/100', seconds, connections, cpu: 0 });
  load.to = Date.now() / 1000;
  log(`${w.requests} requests (${Math.round(w.rps)} req/s under strace), ${w.errors} errors`);

  process.kill(pid, 'SIGTERM'); // flagman stops; strace exits with it and closes the trace
  await new Promise((resolve) => (f.exited ? resolve() : f.proc.once('exit', resolve)));
  await stopChild(backend);

  // "PID EPOCH.USEC name(args…" — resumed halves ("<... read resumed>") are not new calls.
  const re = /^\d+\s+(\d+\.\d+)\s+([a-z0-9_]+)\((.*)$/;
  const counts = new Map();
  const bump = (name, win, kind) => {
    const row = counts.get(name) ?? { syscall: name, idleAll: 0, idleFlags: 0, loadAll: 0, loadFlags: 0 };
    row[`${win}${kind}`]++;
    counts.set(name, row);
  };
  // The paths named (in quotes, or behind an fd as <path>) by the calls that touch the file system,
  // per window: sockets, pipes and inotify/event fds are not paths.
  const paths = { idle: new Map(), load: new Map() };
  const pathRe = /"(\/[^"]*)"|<(\/[^>]*)>/g;
  for (const line of fs.readFileSync(traceFile, 'utf8').split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const t = Number(m[1]);
    const win = t >= idle.from && t < idle.to ? 'idle' : t >= load.from && t < load.to ? 'load' : null;
    if (!win) continue;
    bump(m[2], win, 'All');
    const seen = new Set();
    for (const pm of m[3].matchAll(pathRe)) {
      const p = (pm[1] ?? pm[2]).replace(dir, '$DIR');
      if (p === '$DIR' && !pm[1]) continue; // the AT_FDCWD cwd annotation
      if (seen.has(p)) continue;
      seen.add(p);
      paths[win].set(p, (paths[win].get(p) ?? 0) + 1);
    }
    if (m[3].includes(flagsDir)) bump(m[2], win, 'Flags');
  }
  const rows = [...counts.values()].sort((a, b) => b.loadAll - a.loadAll);
  const per1k = (a, b) => (w.requests ? Math.round(((a - b) / w.requests) * 1000 * 100) / 100 : null);
  for (const r of rows) {
    r.addedPer1kReq = per1k(r.loadAll, r.idleAll);
    r.flagsAddedPer1kReq = per1k(r.loadFlags, r.idleFlags);
  }
  const sum = (k) => rows.reduce((a, r) => a + r[k], 0);
  const idleFlags = sum('idleFlags');
  const loadFlags = sum('loadFlags');
  const nonRead = (k) => rows.filter((r) => !/read|getdents|write|send|recv/.test(r.syscall)).reduce((a, r) => a + r[k], 0);
  const flagsPer1k = per1k(loadFlags, idleFlags);
  // The rescan's passes fall a little differently in the two windows: allow that jitter, nothing
  // that grows with the request count (one call per request would add thousands).
  // Judged per request: one flag-file call per request would add 1,000 per 1,000 requests. The
  // rescan's own calls vary with time, not with requests: under load a pass is split into more
  // steps (it yields to requests), and each step first checks the directory's real path (4 stat
  // calls), which added 2-4 calls a second in the load window (bench/RESULTS.md).
  const pass = w.requests > 0 && (loadFlags - idleFlags) / (w.requests / 1000) < 10;

  console.log(
    `\nflagman bench/no-fs-on-request-path.js — ${new Date().toISOString()}; node ${process.version}, strace ${versions().strace}`,
  );
  console.log(
    `config: ${opt.config}; flags dir ${flagsDir}; windows of ${seconds} s: idle, then wrk -c${connections} GET /100 (${w.requests} requests)\n`,
  );
  console.log(
    table(
      [
        { key: 'syscall', title: 'syscall', align: 'left' },
        { key: 'idleAll', title: 'idle: all' },
        { key: 'loadAll', title: 'load: all' },
        { key: 'addedPer1kReq', title: 'added /1k req' },
        { key: 'idleFlags', title: 'idle: flag files' },
        { key: 'loadFlags', title: 'load: flag files' },
        { key: 'flagsAddedPer1kReq', title: 'flag files added /1k req' },
      ],
      rows,
    ),
  );
  console.log(
    `\nfile-system calls that are not reads or writes (open, stat, fstat, readlink, access, …): idle ${nonRead('idleAll')}, load ${nonRead('loadAll')}`,
  );
  console.log(`calls on the flags directory: idle ${idleFlags}, load ${loadFlags} (the 1 s rescan, in both windows)`);
  const pathList = (win) =>
    [...paths[win]]
      .sort((a, b) => b[1] - a[1])
      .map(([p, n]) => `${n}× ${p}`)
      .join(', ') || 'none';
  console.log(`paths touched while idle: ${pathList('idle')}`);
  console.log(`paths touched under load: ${pathList('load')}`);
  console.log(
    `${pass ? 'PASS' : 'FAIL'}  no file-system call on the request path: flag-file calls added by ${w.requests} requests: ${loadFlags - idleFlags} (${flagsPer1k} per 1,000 requests)`,
  );
  const result = {
    mode: 'strace',
    paths: { idle: Object.fromEntries(paths.idle), load: Object.fromEntries(paths.load) },
    config: opt.config,
    seconds,
    requests: w.requests,
    rps: Math.round(w.rps),
    idleFlagCalls: idleFlags,
    loadFlagCalls: loadFlags,
    flagCallsAddedPer1kReq: flagsPer1k,
    nonReadFsCalls: { idle: nonRead('idleAll'), load: nonRead('loadAll') },
    syscalls: rows,
    pass,
  };
  console.log(`\n${JSON.stringify(result)}`);
  return pass ? 0 : 1;
}

let code = 2;
try {
  code = await main();
} catch (err) {
  log(`error: ${err.stack ?? err.message}`);
}
process.exit(code);
