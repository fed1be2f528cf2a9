#!/usr/bin/env node
// A fleet steered by one write (docs/fleet.md): how long from an etcd put of MAINT to the moment the
// last of three flagman hosts has applied it? Everything runs on this machine, on 127.0.0.1:
//   - one etcd (/usr/bin/etcd, --etcd), one member, its own temp data dir, client and peer ports free;
//   - three flagman proxies (bin/flagman run), each with its own temp dir and flags directory, the
//     rule flag("MAINT") > 0 → a `respond` 503 maintenance backend, else the Node backend;
//   - three `flagman sync etcd --prefix /flagman/bench/flags/ -d FLAGS`, one per proxy.
// Then --flips puts of MAINT, 1 and 0 in turn, through etcd's JSON gateway (POST /v3/kv/put, one
// keep-alive connection: etcdctl's own process start would dominate). For each flip:
//   last host   put sent → arrival here of the last of the three proxies' `flag.change` line for it
//               (performance.now() when the line is read: the pipe and this event loop included);
//   first host  the same for the first of the three;
//   (log time)  put sent (Date.now()) → the latest `time` field of those lines (ms resolution): the
//               proxy's own clock, without the pipe to here;
//   file mtime  put sent → the latest `mtime` of the flag file in those lines (the sync's write; the
//               kernel's file timestamps can be a tick coarse);
//   renamed     put sent → the last of the three renames of the flag file, as this process's own
//               inotify watch on each flags directory sees it (fs.watch, arrival here);
//   each host   the same two stages per host (n = 3 × flips): put → that host's rename seen, and
//               rename seen → that host's flag.change read (the proxy's watcher, reads, the swap);
//   sync logged put sent → arrival of the last of the syncs' `sync.applied` lines (logged after the
//               rename and the sync's own ledger file, so it may come after the proxy's line);
//   put RTT     the put's round trip.
// Before the flips, 20 careful writes of a flag file with no put (temp file, fsync, rename, fsync of
// the directory, as the sync writes) show what the disk alone costs a flip.
// The next flip waits for all three, then a random 20–50 ms gap so that flips never batch.
// --verify: after each flip, one GET to each proxy, which must answer 503 for MAINT 1, else 200.
// Prints a table with PASS/FAIL against --target-ms (p99 of "last host", default 100), then one JSON
// line. Exit code 0 on PASS, 1 on FAIL (or a miss, or a mismatch), 2 on an error. Bounded by
// --max-seconds; every process it started is stopped by PID at the end, on an error and on SIGINT.
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import { int, parseOptions, requireBuilt } from './lib/cli.js';
import { FLAGMAN_CONFIGS } from './lib/flagman-configs.js';
import { jsonLines, startFlagman } from './lib/flagman.js';
import { KeepAliveClient } from './lib/http.js';
import { adopt, freePort, spawnOwned, stopChild, tempDir } from './lib/owned.js';
import { machine, round1, startBackend, startRun } from './lib/run.js';
import { summary, table } from './lib/stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const now = () => performance.now();
const PREFIX = '/flagman/bench/flags/';
const HOSTS = 3;

const HELP = `usage: node bench/fleet.js [options]
  --flips N          measured puts of MAINT, 1 and 0 in turn (default 100)
  --warmup N         unmeasured flips first (default 4)
  --verify           after each flip, one GET to each proxy: 503 for MAINT 1, else 200
  --timeout-ms MS    a flip not applied by all three within MS is a miss (default 5000)
  --target-ms MS     the goal: p99 of put → last host (default 100)
  --cli PATH         the flagman command (default bin/flagman)
  --etcd PATH        the etcd server (default /usr/bin/etcd)
  --json FILE        also write every figure and sample as JSON to FILE
  --max-seconds S    overall bound (default 180)
  --keep             keep the temp directories
  --help`;

const opt = parseOptions(
  {
    flips: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '4' },
    verify: { type: 'boolean', default: false },
    'timeout-ms': { type: 'string', default: '5000' },
    'target-ms': { type: 'string', default: '100' },
    cli: { type: 'string', default: path.join(root, 'bin/flagman') },
    etcd: { type: 'string', default: '/usr/bin/etcd' },
    json: { type: 'string' },
    'max-seconds': { type: 'string', default: '180' },
    keep: { type: 'boolean', default: false },
  },
  HELP,
);
const cfg = {
  flips: int('flips', opt.flips, 1),
  warmup: int('warmup', opt.warmup),
  verify: opt.verify,
  timeoutMs: int('timeout-ms', opt['timeout-ms'], 1),
  targetMs: int('target-ms', opt['target-ms'], 1),
  maxSeconds: int('max-seconds', opt['max-seconds'], 10),
  cli: path.resolve(opt.cli),
  etcd: opt.etcd,
};
requireBuilt(cfg.cli, path.join(root, 'dist/cli/main.js'), cfg.etcd);

const log = startRun({ keep: opt.keep, maxSeconds: cfg.maxSeconds });
const deadline = now() + cfg.maxSeconds * 1000 - 10_000; // flips stop early, leaving time to stop it all

/** This environment without ETCD_* and ETCDCTL_*: etcd refuses a flag a variable also sets, and the sync reads ETCDCTL_*. */
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^ETCD(CTL)?_/.test(k)) env[k] = v;
  return env;
}

// ---------------------------------------------------------------------------------------------
// etcd and its JSON gateway.

/** One etcd member on 127.0.0.1 (ports from freePort()), its data in a temp dir; resolves once /health says true. */
async function startEtcd() {
  const dataDir = tempDir('flagman-bench-etcd-');
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child = spawnOwned(
    cfg.etcd,
    [
      '--name=bench',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=bench=${peer}`,
      '--initial-cluster-state=new',
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=warn',
      `--quota-backend-bytes=${64 * 1024 * 1024}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: cleanEnv() },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c) => {
    stderr = (stderr + c).slice(-8000);
  });
  const t0 = now();
  while (now() - t0 < 30_000) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`etcd exited (${child.exitCode ?? child.signalCode}):\n${stderr}`);
    try {
      const res = await fetch(`${client}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok && (await res.json()).health === 'true') return { child, endpoint: client, clientPort, stderr: () => stderr };
    } catch {
      // not listening yet, or no leader yet
    }
    await delay(100);
  }
  throw new Error(`etcd not healthy on ${client} within 30 s:\n${stderr}`);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** POST /v3/kv/put of key = value on one keep-alive connection; resolves once etcd answered (its revision). */
function put(port, key, value) {
  const body = JSON.stringify({ key: Buffer.from(key).toString('base64'), value: Buffer.from(value).toString('base64') });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/v3/kv/put',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`etcd put: HTTP ${res.statusCode}: ${text}`));
          else resolve(Number(JSON.parse(text).header?.revision));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('etcd put: no answer within 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------
// The fleet: three hosts, each a proxy and its sync.

/** Host `i`: its proxy, then its sync; `onChange(i, e)` and `onApplied(i, e)` get their events. */
async function startHost(i, appPort, etcd, { onChange, onApplied, onRenamed }) {
  const dir = tempDir(`flagman-bench-fleet-${i}-`);
  const flagsDir = path.join(dir, 'flags');
  fs.mkdirSync(flagsDir, { mode: 0o755 });
  const configFile = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(configFile, FLAGMAN_CONFIGS.maintenance.yaml({ ports: [appPort] }));
  const proxy = await startFlagman(cfg.cli, configFile, { onSpawn: adopt, cwd: dir, env: {} });
  proxy.onEvent((e) => {
    if (e.event === 'flag.change' && e.flag === 'MAINT') onChange(i, e);
    else if (e.level >= 40) log(`host ${i} proxy: ${e.msg ?? JSON.stringify(e)}`);
  });
  const sync = spawnOwned(cfg.cli, ['sync', 'etcd', '--endpoints', etcd.endpoint, '--prefix', PREFIX, '-d', flagsDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: cleanEnv(),
    cwd: dir,
  });
  const listed = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`host ${i}: sync listed nothing within 30 s`)), 30_000);
    sync.once('exit', (code, signal) => reject(new Error(`host ${i}: sync exited (${code ?? signal})`)));
    jsonLines(sync.stderr, (e) => {
      if (e.event === 'sync.resync') {
        clearTimeout(timer);
        resolve(e);
      } else if (e.event === 'sync.applied') onApplied(i, e);
      else if (e.level >= 40 || e.event === undefined) log(`host ${i} sync: ${e.msg ?? JSON.stringify(e)}`);
    });
  });
  await listed;
  // The bench's own inotify watch on the flags directory: when the sync's rename landed, as seen here.
  const watcher = fs.watch(flagsDir, (type, name) => {
    if (type === 'rename' && name === 'MAINT') onRenamed(i, now());
  });
  const client = await new KeepAliveClient(proxy.port, { path: '/fleet', timeoutMs: 5000 }).connect();
  return { i, dir, proxy, sync, client, watcher };
}

/**
 * What a careful flag write costs on this disk, with no flip: `n` times, as the sync writes a flag
 * (src/flags/write.ts: temp file, fsync, rename, fsync of the directory), in a temp dir of the same
 * file system. {renamed, whole}: ms to the rename done, and to the directory's fsync done.
 */
function calibrateWrite(n = 20) {
  const dir = tempDir('flagman-bench-fleet-write-');
  const renamed = [];
  const whole = [];
  for (let k = 0; k < n; k++) {
    const t0 = now();
    const tmp = path.join(dir, '.MAINT.tmp');
    const fd = fs.openSync(tmp, 'w', 0o644);
    fs.writeSync(fd, String(k % 2));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, path.join(dir, 'MAINT'));
    renamed.push(now() - t0);
    const dfd = fs.openSync(dir, 'r');
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
    whole.push(now() - t0);
  }
  return { renamed: summary(renamed), whole: summary(whole) };
}

// ---------------------------------------------------------------------------------------------
// The flips.

const mach = machine();
log(`machine: ${mach.nproc} × ${mach.cpu}, Linux ${mach.kernel}, node ${mach.node}; commit ${mach.commit}; load ${mach.loadavg.join(' ')}`);

let current = null; // the flip in flight: {value, t0, t0Wall, changes: Map, applied: Map, done}
let latest = null; // the last flip started: a sync may log sync.applied after every proxy applied it
const stray = { changes: 0 };

function onChange(i, e) {
  const f = current;
  if (f === null || e.value !== f.value || f.changes.has(i)) {
    stray.changes++;
    return;
  }
  f.changes.set(i, e);
  if (f.changes.size === HOSTS) f.done();
}

function onApplied(i, e) {
  const f = latest;
  if (f !== null && e.flags?.includes('MAINT') && !f.applied.has(i)) f.applied.set(i, e);
}

function onRenamed(i, at) {
  const f = current;
  if (f !== null && !f.renamed.has(i)) f.renamed.set(i, at);
}

const samples = [];
let diskWrite = null;
let misses = 0;
let mismatches = 0;
let verified = 0;
let truncated = false;
let code = 0;
let etcd = null;
let backend = null;
const hosts = [];

/** One put of MAINT = value; resolves with the sample once all hosts applied it, or null (a miss). */
async function flip(value) {
  let done;
  const all = new Promise((resolve) => {
    done = resolve;
  });
  const f = { value, changes: new Map(), applied: new Map(), renamed: new Map(), done, t0: 0, t0Wall: 0 };
  current = f;
  latest = f;
  f.t0Wall = performance.timeOrigin + now();
  f.t0 = now();
  await put(etcd.clientPort, `${PREFIX}MAINT`, String(value));
  const tPut = now();
  const ac = new AbortController();
  const timer = delay(Math.max(0, cfg.timeoutMs - (tPut - f.t0)), 'timeout', { signal: ac.signal }).catch(() => null);
  const outcome = await Promise.race([all, timer]);
  ac.abort();
  current = null;
  if (outcome === 'timeout') return null;
  const changes = [...f.changes.values()];
  const arrivals = changes.map((e) => e.$at - f.t0);
  // Per host, on the same clock (this process's): put → rename seen, and rename seen → flag.change read.
  const stages = [...f.changes].map(([i, e]) => {
    const r = f.renamed.get(i);
    return r === undefined ? null : { toRename: r - f.t0, renameToApplied: e.$at - r };
  });
  return {
    flip: f,
    stages,
    value,
    last: Math.max(...arrivals),
    first: Math.min(...arrivals),
    logTime: Math.max(...changes.map((e) => Date.parse(e.time))) - f.t0Wall,
    mtime: Math.max(...changes.map((e) => e.mtime ?? Number.NaN)) - f.t0Wall,
    renamed: f.renamed.size === HOSTS ? Math.max(...f.renamed.values()) - f.t0 : null,
    syncLogged: null, // set at the end: a sync's line may come after every proxy's
    rtt: tPut - f.t0,
  };
}

/** One GET to each proxy: 503 for MAINT 1, else 200; counts mismatches. */
async function verify(value) {
  for (const h of hosts) {
    const r = await h.client.get();
    verified++;
    if (r.status !== (value === 1 ? 503 : 200)) {
      mismatches++;
      log(`host ${h.i}: MAINT ${value} but the proxy answered ${r.status}`);
    }
  }
}

try {
  etcd = await startEtcd();
  log(`etcd on ${etcd.endpoint} (pid ${etcd.child.pid})`);
  // MAINT starts at 0 in etcd, so each sync's listing writes it and every proxy starts from it.
  await put(etcd.clientPort, `${PREFIX}MAINT`, '0');
  backend = await startBackend({ cpu: null, count: 1, maxSeconds: cfg.maxSeconds + 60 });
  for (let i = 0; i < HOSTS; i++) hosts.push(await startHost(i, backend.ports[0], etcd, { onChange, onApplied, onRenamed }));
  log(
    `${HOSTS} hosts: proxies ${hosts.map((h) => `${h.proxy.pid}:${h.proxy.port}`).join(', ')}; syncs ${hosts.map((h) => h.sync.pid).join(', ')}`,
  );
  // Every proxy must show MAINT 0 from the listing before the first flip.
  for (const h of hosts)
    await h.proxy.waitEvent((e) => e.event === 'flag.change' && e.flag === 'MAINT' && e.value === 0, { timeout: 15_000 });

  diskWrite = calibrateWrite();
  stray.changes = 0; // the listing's MAINT 0 above is no stray
  let value = 0;
  for (let n = 0; n < cfg.warmup + cfg.flips; n++) {
    if (now() > deadline) {
      truncated = true;
      log(`--max-seconds: stopping after ${samples.length} measured flips`);
      break;
    }
    value = 1 - value;
    const s = await flip(value);
    if (s === null) {
      misses++;
      log(`flip ${n + 1} (MAINT ${value}): not applied by all ${HOSTS} hosts within ${cfg.timeoutMs} ms`);
    } else if (n >= cfg.warmup) samples.push(s);
    if (cfg.verify) await verify(value);
    await delay(20 + Math.random() * 30);
  }
} catch (err) {
  log(`failed: ${err.stack ?? err}`);
  code = 2;
} finally {
  for (const h of hosts) {
    h.client.close();
    h.watcher.close();
  }
  await Promise.all(hosts.map((h) => stopChild(h.sync)));
  await Promise.all(hosts.map((h) => h.proxy.stop()));
  if (backend) await backend.stop();
  if (etcd) await stopChild(etcd.child);
  agent.destroy();
}

const perHost = (k) => samples.flatMap((s) => s.stages.filter((x) => x !== null).map((x) => x[k]));
for (const s of samples) {
  const applied = [...s.flip.applied.values()];
  if (applied.length === HOSTS) s.syncLogged = Math.max(...applied.map((e) => e.$at - s.flip.t0));
  delete s.flip;
}
const pick = (k) => samples.map((s) => s[k]).filter((x) => x !== null && Number.isFinite(x));
const figures = {
  last: summary(pick('last')),
  first: summary(pick('first')),
  logTime: summary(pick('logTime')),
  mtime: summary(pick('mtime')),
  renamed: summary(pick('renamed')),
  syncLogged: summary(pick('syncLogged')),
  hostToRename: summary(perHost('toRename')),
  hostRenameToApplied: summary(perHost('renameToApplied')),
  rtt: summary(pick('rtt')),
};
const pass = code === 0 && samples.length > 0 && misses === 0 && mismatches === 0 && figures.last.p99 <= cfg.targetMs;
if (code === 0 && !pass) code = 1;
const endLoad = machine().loadavg;

const row = (what, s) => ({ what, n: s.n, p50: round1(s.p50), p90: round1(s.p90), p99: round1(s.p99), max: round1(s.max) });
console.log(
  `\nflagman bench/fleet.js — ${mach.date}; node ${mach.node}; commit ${mach.commit}; load ${mach.loadavg.join(' ')} → ${endLoad.join(' ')}`,
);
console.log(
  `1 etcd, ${HOSTS} proxies, ${HOSTS} syncs (prefix ${PREFIX}), all on this machine; ${samples.length} flips of MAINT measured (${cfg.warmup} warm-up), 20–50 ms apart\n`,
);
console.log(
  table(
    [
      { key: 'what', title: 'ms from the put sent', align: 'left' },
      { key: 'n', title: 'n' },
      { key: 'p50', title: 'p50' },
      { key: 'p90', title: 'p90' },
      { key: 'p99', title: 'p99' },
      { key: 'max', title: 'max' },
    ],
    [
      row('→ last host applied (its flag.change read here)', figures.last),
      row('→ first host applied', figures.first),
      row('→ last host applied (the line\'s own "time", ms)', figures.logTime),
      row('→ last flag file written (its mtime)', figures.mtime),
      row('→ last flag file renamed (inotify here)', figures.renamed),
      row('→ last sync.applied read here', figures.syncLogged),
      row('each host: put → its rename seen', figures.hostToRename),
      row('each host: rename seen → its flag.change read', figures.hostRenameToApplied),
      row('put round trip', figures.rtt),
      ...(diskWrite
        ? [row('(no put) flag write: temp, fsync, rename', diskWrite.renamed), row('(no put) the same + fsync of the dir', diskWrite.whole)]
        : []),
    ],
  ),
);
console.log(
  `\nmisses ${misses}, stray flag.change lines ${stray.changes}${cfg.verify ? `, verify: ${mismatches} mismatches in ${verified} requests` : ''}${truncated ? ', stopped early (--max-seconds)' : ''}`,
);
console.log(
  `goal: p99 put → last host ≤ ${cfg.targetMs} ms: ${figures.last.p99 ?? '-'} ms: ${pass ? 'PASS' : 'FAIL'}${misses || mismatches ? ' (misses or mismatches)' : ''}`,
);
const result = {
  bench: 'fleet',
  machine: mach,
  loadEnd: endLoad,
  options: cfg,
  figures,
  diskWrite,
  misses,
  mismatches: cfg.verify ? mismatches : null,
  verified: cfg.verify ? verified : null,
  stray: stray.changes,
  truncated,
  pass,
};
console.log(JSON.stringify(result));
if (opt.json) fs.writeFileSync(opt.json, `${JSON.stringify({ ...result, samples }, null, 1)}\n`);
process.exit(code);
