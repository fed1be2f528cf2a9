#!/usr/bin/env node
// A bad day in production, one fault after the other, against the built flagman: each fault for a
// few seconds under load from keep-alive clients in this process, then removed (where it can be),
// then N requests that must all succeed, and each fault's own check. Build first:
//
//   npm run build && node bench/chaos.js          # every fault, about 2–3 min
//   node bench/chaos.js --only stalled-reader      # one fault (or a comma-separated list)
//   node bench/chaos.js --help                     # every option
//
// Faults (bench/README.md says what each row checks): stdout-full, stderr-full, stalled-reader,
// fd-exhaustion, worker-kill, shutdown-deadline, slow-reader, busy-config-dir, flags-dir-loop; and
// those that worked before, as a regression table: backend-restart, sighup-storm, config-emptied,
// flags-dir-removed, flags-1000.
//
// Prints two tables, `fault | requests | failed | recovered | failures | detail`, then one JSON line
// with every figure. Exit code 0 when every fault recovered, 1 when one did not, 2 on an error.
// Traffic goes to 127.0.0.1 only; every flagman starts afresh in a temp directory; processes are
// stopped by PID (a worker is killed by the PID /status gives, once checked to be flagman's child).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { adminStatus, request, timedFlagWrite, waitFor } from '../test/helpers/e2e.js';
import { int, parseOptions } from './lib/cli.js';
import { startFlagman } from './lib/flagman.js';
import { failureSummary, startLoad } from './lib/load.js';
import { adopt, firstLine, freePort, ownExit, spawnOwned, stopChild, tempDir } from './lib/owned.js';
import { cpuWindow, foreignWindow, loadavg1, memory, processTree } from './lib/proc.js';
import { table } from './lib/stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const now = () => performance.now();

const FAULTS = [
  'stdout-full',
  'stderr-full',
  'stalled-reader',
  'fd-exhaustion',
  'worker-kill',
  'shutdown-deadline',
  'slow-reader',
  'busy-config-dir',
  'flags-dir-loop',
];
const REGRESSIONS = ['backend-restart', 'sighup-storm', 'config-emptied', 'flags-dir-removed', 'flags-1000'];

const HELP = `usage: node bench/chaos.js [options]
  --only LIST       faults to run, comma-separated (default: all):
                    ${FAULTS.join(', ')},
                    ${REGRESSIONS.join(', ')}
  --cli PATH        flagman to run (default bin/flagman, the command users run; a .js file is run with this node)
  --clients N       keep-alive clients of the load (default 20; fd-exhaustion uses 100)
  --seconds S       how long each fault lasts under load (default 3)
  --recover N       requests that must all succeed once a fault is removed (default 200)
  --append-rate R   busy-config-dir: lines/s appended beside the config (default 4800)
  --max-seconds S   bound on the whole run (default 300)
  --json FILE       also write the JSON line to FILE
  --keep            keep the temp directories
  --help`;

const opt = parseOptions(
  {
    only: { type: 'string' },
    // The command, not dist/cli/main.js: that loads its ~150 modules at once, and under fd-exhaustion's
    // `ulimit -n 64` Node's module loader runs out of descriptors before flagman starts (the bundle
    // the command runs is a few files).
    cli: { type: 'string', default: path.join(root, 'bin/flagman') },
    clients: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '3' },
    recover: { type: 'string', default: '200' },
    'append-rate': { type: 'string', default: '4800' },
    'max-seconds': { type: 'string', default: '300' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
  HELP,
);
const cfg = {
  cli: path.resolve(opt.cli),
  clients: int('clients', opt.clients, 1),
  seconds: int('seconds', opt.seconds, 1),
  recover: int('recover', opt.recover, 1),
  appendRate: int('append-rate', opt['append-rate'], 1),
  maxSeconds: int('max-seconds', opt['max-seconds'], 10),
};
cfg.only = opt.only
  ? opt.only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  : [...FAULTS, ...REGRESSIONS];
for (const name of cfg.only) {
  if (!FAULTS.includes(name) && !REGRESSIONS.includes(name)) {
    console.error(`--only: unknown fault ${name} (known: ${[...FAULTS, ...REGRESSIONS].join(', ')})`);
    process.exit(2);
  }
}
if (!fs.existsSync(cfg.cli)) {
  console.error(`${cfg.cli} not found (build first: npm run build)`);
  process.exit(2);
}
ownExit({ keep: opt.keep });
const T0 = now();
const log = (m) => process.stderr.write(`[chaos ${((now() - T0) / 1000).toFixed(1).padStart(5)} s] ${m}\n`);
setTimeout(() => {
  log(`over the ${cfg.maxSeconds} s bound: stopping`);
  process.exit(2);
}, cfg.maxSeconds * 1000).unref();

const SECOND = 1000;
const loadMs = cfg.seconds * SECOND;
const n = (x) => (typeof x === 'number' ? x.toLocaleString('en-US') : String(x));
const mb = (kb) => (kb === null || kb === undefined ? '-' : (kb / 1024).toFixed(0));

// ---------------------------------------------------------------------------------------------
// Servers, flagman, and the checks every fault shares.

/** The bench backend (bench/lib/backend.js, 100-byte answers), on `port` when given. */
async function startBackend(port = null) {
  const args = [path.join(root, 'bench/lib/backend.js'), '1', String(cfg.maxSeconds + 60)];
  if (port !== null) args.push(String(port));
  const child = spawnOwned(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const { ports } = await firstLine(child, child.stdout, (l) => (l.startsWith('{') ? JSON.parse(l) : null), { what: 'backend' });
  return { child, port: ports[0] };
}

/**
 * A backend in this process for the faults that need a slow one: GET /hold/… answers after
 * `holdMs`, /slow/… sends its head and 7 bytes at once and the rest after `holdMs`, /big/… sends
 * 16 MiB.
 */
async function startSlowBackend(holdMs = 3000) {
  const big = Buffer.alloc(16 * 1024 * 1024, 'b');
  const held = new Set();
  const server = http.createServer((req, res) => {
    req.resume();
    res.on('error', () => {});
    if (req.url.startsWith('/big/')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': big.length });
      res.end(big);
      return;
    }
    held.add(res);
    res.on('close', () => held.delete(res));
    if (req.url.startsWith('/slow/')) {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 14 });
      res.write('partial');
    }
    setTimeout(() => {
      if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 14 });
      res.end(req.url.startsWith('/slow/') ? '.......' : 'held 3 s ok..\n');
    }, holdMs).unref();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    held,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** flagman.yaml: MAINT > 0 → a 503 maintenance page, /big/… → `big`, anything else → `app`. */
function configText({
  app,
  big = null,
  access = true,
  workers = 1,
  timeouts = null,
  health = null,
  rescan = '1s',
  web = '127.0.0.1:0',
  admin = '127.0.0.1:0',
}) {
  return `# written by bench/chaos.js
${workers > 1 ? `workers: ${workers}\n` : ''}flags: { dir: ./flags, rescan: ${rescan} }
admin: { listen: "${admin}" }
log: { access: ${access ? 'on' : 'off'} }
${timeouts ? `timeouts: { ${timeouts} }\n` : ''}frontends:
  web:
    listen: ["${web}"]
    rules:
      - when: flag("MAINT") > 0
        use: maintenance
${big === null ? '' : '      - when: request.path.startsWith("/big/")\n        use: big\n'}      - use: app
backends:
  app:
${health ? `    health: { ${health} }\n` : ''}    servers:
      app1: { address: "127.0.0.1:${app}" }
${big === null ? '' : `  big:\n    servers:\n      big1: { address: "127.0.0.1:${big}" }\n`}  maintenance:
    respond: { status: 503, body: "maintenance\\n" }
`;
}

/** A fresh folder with flagman.yaml and flags/MAINT (0). */
function configFolder(options) {
  const dir = tempDir('flagman-chaos-');
  const flagsDir = path.join(dir, 'flags');
  fs.mkdirSync(flagsDir, { mode: 0o755 });
  fs.writeFileSync(path.join(flagsDir, 'MAINT'), '0\n');
  const configFile = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(configFile, configText(options));
  return { dir, flagsDir, configFile };
}

/**
 * Starts flagman on a fresh folder (see configText for the options; `stdout`: 'ignore', 'pipe' or
 * an fd; `prefix`: a command that execs it). Known up by its `start` event on stderr.
 */
async function launch({ stdout = 'ignore', prefix = [], ...options }) {
  const folder = configFolder({ app: shared.port, ...options });
  const fm = await startFlagman(cfg.cli, folder.configFile, { cwd: folder.dir, stdout, prefix, onSpawn: adopt });
  return Object.assign(fm, folder, {
    port: fm.events.find((e) => e.event === 'listen' && e.frontend === 'web')?.port,
    adminPort: fm.events.find((e) => e.event === 'listen' && e.admin)?.port,
    waitFlag: (flag, value, o) =>
      fm.waitEvent((e) => e.event === 'flag.change' && e.flag === flag && (value === undefined || e.value === value), o),
  });
}

/** Starts flagman with its stderr on /dev/full: ports chosen here, known up when /status answers. */
async function launchBlind(options) {
  const [web, admin] = [await freePort(), await freePort()];
  const folder = configFolder({ app: shared.port, web: `127.0.0.1:${web}`, admin: `127.0.0.1:${admin}`, ...options });
  const command = cfg.cli.endsWith('.js') ? [process.execPath, cfg.cli] : [cfg.cli];
  const full = fs.openSync('/dev/full', 'w');
  let proc;
  try {
    proc = spawnOwned(command[0], [...command.slice(1), 'run', '-c', folder.configFile], {
      cwd: folder.dir,
      stdio: ['ignore', 'ignore', full],
    });
  } finally {
    fs.closeSync(full);
  }
  const f = {
    ...folder,
    proc,
    pid: proc.pid,
    port: web,
    adminPort: admin,
    get exited() {
      return proc.exitCode === null && proc.signalCode === null ? null : { code: proc.exitCode, signal: proc.signalCode };
    },
    stop: async (graceMs = 5000) => {
      await stopChild(proc, graceMs);
      return f.exited;
    },
  };
  await waitFor(
    async () => {
      if (f.exited) throw new Error(`flagman exited early (${f.exited.code ?? f.exited.signal})`);
      return request(admin, { path: '/status' }).then(
        (r) => r.status === 200,
        () => false,
      );
    },
    { timeout: 20_000, what: 'the admin endpoint' },
  ).catch((err) => {
    throw new Error(`${err.message} (flagman ${f.exited ? `exited: ${f.exited.code ?? f.exited.signal}` : 'running'})`);
  });
  return f;
}

/** SIGTERM (SIGKILL after `graceMs`): {code, signal, ms, before} (before: it had exited by itself). */
async function stopTimed(f, graceMs = 5000) {
  const before = f.exited !== null;
  const t0 = now();
  const r = await f.stop(graceMs);
  return { code: r?.code ?? null, signal: r?.signal ?? null, ms: Math.round(now() - t0), before };
}
/** Exited 0 on SIGTERM, within `maxMs`. */
const cleanExit = (e, maxMs = 5000) => !e.before && e.code === 0 && e.ms < maxMs;
function exitText(e) {
  if (e.before) return `EXITED by itself (${e.code ?? e.signal}) before SIGTERM`;
  return e.code === 0 ? `exit 0 ${n(e.ms)} ms after SIGTERM` : `exit ${e.code ?? e.signal} ${n(e.ms)} ms after SIGTERM`;
}

/** /status, or null when it does not answer. */
const status = (f) => adminStatus(f).catch(() => null);

/** `cfg.clients` keep-alive clients on flagman's port for `ms`, then stopped; resolves with the stats. */
async function loadFor(f, ms = loadMs, options = {}) {
  const load = startLoad(f.port, { clients: cfg.clients, ...options });
  await delay(ms);
  return load.stop();
}

/**
 * After a fault is removed: waits (up to `withinMs`) for a request to succeed, then sends
 * `cfg.recover` requests on 4 keep-alive connections, which must all succeed. `path(seq)`.
 */
async function recover(f, { withinMs = 15_000, path: p = () => '/100' } = {}) {
  const t0 = now();
  let first = null;
  while (first === null && now() - t0 < withinMs && !f.exited) {
    const r = await request(f.port, { path: '/100' }).catch(() => null);
    if (r?.status === 200) first = now() - t0;
    else await delay(50);
  }
  if (f.exited) return { ok: false, text: `flagman EXITED (${f.exited.code ?? f.exited.signal})` };
  if (first === null) return { ok: false, text: `no request answered 200 within ${n(withinMs)} ms` };
  let seq = 0;
  const s = await startLoad(f.port, { clients: 4, limit: cfg.recover, path: () => p(seq++) }).done;
  const ok = s.ok === cfg.recover;
  return {
    ok,
    firstMs: Math.round(first),
    text: ok ? `${n(cfg.recover)}/${n(cfg.recover)} ok` : `${n(s.ok)}/${n(cfg.recover)} ok (${failureSummary(s)})`,
  };
}

/** Access-log lines (stdout a pipe) whose raw text includes `needle`, parsed, as they come. */
function accessLines(stream, needle) {
  const lines = [];
  readline.createInterface({ input: stream }).on('line', (l) => {
    if (!l.includes(needle)) return;
    try {
      lines.push(JSON.parse(l));
    } catch {
      lines.push({ raw: l });
    }
  });
  return lines;
}

/** A flag write applied (ms from the write to its flag.change event), or null within 5 s. */
const flagApplies = (f, value) => timedFlagWrite(f, 'MAINT', value).catch(() => null);

/**
 * MAINT set to 1 must send requests to the maintenance page (503), and back to 0 to the app:
 * {ok, text}. The flag store works as before the fault.
 */
async function flagRoundTrip(f) {
  const on = await flagApplies(f, 1);
  const during = on === null ? null : (await request(f.port, { path: '/100' }).catch(() => null))?.status;
  const off = await flagApplies(f, 0);
  const ok = on !== null && during === 503 && off !== null;
  return {
    ok,
    text: ok
      ? `MAINT 1/0 applied in ${on}/${off} ms`
      : `MAINT 1: ${on === null ? 'not applied' : `${on} ms, answer ${during}`}; MAINT 0: ${off === null ? 'not applied' : `${off} ms`}`,
  };
}

/** The row of a fault: what the load saw, whether it recovered, and why. */
function row(name, stats, recovered, detail, extra = {}) {
  return {
    fault: name,
    requests: stats?.requests ?? 0,
    failed: stats?.failed ?? 0,
    recovered,
    failures: stats ? failureSummary(stats) : '',
    detail,
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// The faults.

const run = {};

// 1. The access log (stdout) on a full disk: every line dropped and counted, serving goes on.
run['stdout-full'] = async (name) => {
  const full = fs.openSync('/dev/full', 'w');
  let f;
  try {
    f = await launch({ stdout: full });
  } finally {
    fs.closeSync(full);
  }
  try {
    const stats = await loadFor(f);
    const rec = await recover(f);
    // Every request's line is dropped: the count reaches the requests once the last batch is tried.
    const s = await waitFor(
      async () => {
        const st = await status(f);
        return st && st.logs?.access?.dropped === st.frontends.web.requests && st;
      },
      { timeout: 3000, what: 'every line counted' },
    ).catch(() => status(f));
    const told = f.events.find((e) => e.event === 'log.dropped');
    const exit = await stopTimed(f);
    const dropped = s?.logs?.access?.dropped;
    const counted = dropped !== undefined && dropped === s?.frontends.web.requests;
    const recovered = rec.ok && counted && told !== undefined && cleanExit(exit);
    const detail = `${dropped === undefined ? 'no logs.access in /status' : `${n(dropped)} of ${n(s?.frontends.web.requests)} access lines dropped and counted`}; log.dropped ${told ? told.reason : 'not told'}; ${exitText(exit)}; after: ${rec.text}`;
    return row(name, stats, recovered, detail, { dropped, exit });
  } finally {
    await f.stop(1000);
  }
};

// 2. The event log (stderr) on a full disk: flagman starts, serves and stops all the same.
run['stderr-full'] = async (name) => {
  const f = await launchBlind({});
  try {
    const stats = await loadFor(f);
    const rec = await recover(f);
    const s = await status(f);
    const exit = await stopTimed(f);
    const dropped = s?.logs?.events?.dropped;
    const recovered = rec.ok && dropped > 0 && cleanExit(exit);
    const detail = `${dropped === undefined ? 'no logs.events in /status' : `${n(dropped)} event lines dropped and counted`}; ${exitText(exit)}; after: ${rec.text}`;
    return row(name, stats, recovered, detail, { dropped, exit });
  } finally {
    await f.stop(1000);
  }
};

// 3. A reader of stdout that stops for a while, then reads again: memory stays bounded (VmRSS
// sampled every 100 ms), and lines flow again once it reads.
run['stalled-reader'] = async (name) => {
  const f = await launch({ stdout: 'pipe' });
  const after = [];
  let tail = '';
  f.proc.stdout.on('data', (chunk) => {
    const text = tail + chunk.toString('latin1');
    const cut = text.lastIndexOf('\n') + 1;
    for (const l of text.slice(0, cut).split('\n')) if (l.includes('/after-')) after.push(l);
    tail = text.slice(cut);
  });
  // Lines of about 2 KB: the pipe and its reader's buffer are full within a few hundred requests.
  const long = `/${'x'.repeat(2000)}`;
  try {
    const warm = await loadFor(f, SECOND, { path: () => long }); // warm-up, read
    const before = memory(f.pid).rssKB;
    f.proc.stdout.pause(); // nobody reads from here on
    let max = before;
    const sampler = setInterval(() => (max = Math.max(max, memory(f.pid).rssKB ?? 0)), 100);
    const stats = await loadFor(f, loadMs, { path: () => long });
    clearInterval(sampler);
    const stalled = memory(f.pid).rssKB;
    const s = await status(f);
    const from = f.events.length;
    f.proc.stdout.resume();
    const t0 = now();
    // Told at most once every 10 s after log.dropped: waited for beside the requests after.
    const told = f
      .waitEvent((e) => e.event === 'log.recovered', { from, timeout: 12_000 })
      .then(
        () => Math.round(now() - t0),
        () => null,
      );
    const rec = await recover(f, { path: (i) => `/after-${i}` });
    const lines = await waitFor(() => after.length >= cfg.recover, { timeout: 10_000, what: 'the lines after' }).then(
      () => after.length,
      () => after.length,
    );
    const back = await told;
    const exit = await stopTimed(f);
    const recovered = rec.ok && lines === cfg.recover && cleanExit(exit);
    const rate = (st, ms) => n(Math.round((st.ok * SECOND) / ms));
    const detail = `${rate(warm, SECOND)} req/s read, ${rate(stats, loadMs)} req/s stalled; VmRSS ${mb(before)} MB before, max ${mb(max)} MB while stalled (${mb(stalled)} at its end); ${n(s?.logs?.access?.dropped ?? '?')} lines dropped; read again: ${back === null ? 'no log.recovered' : `log.recovered after ${n(back)} ms`}, ${lines}/${cfg.recover} lines of the requests after; ${exitText(exit)}; after: ${rec.text}`;
    return row(name, stats, recovered, detail, { rssKB: { before, max, stalled }, dropped: s?.logs?.access?.dropped, exit });
  } finally {
    await f.stop(1000);
  }
};

// 4. Descriptor exhaustion: ulimit -n 64 and 100 concurrent clients. Afterwards requests succeed
// and a flag write applies by file-system events (the rescan is 30 s, so only events apply it).
run['fd-exhaustion'] = async (name) => {
  const f = await launch({
    prefix: ['sh', '-c', 'ulimit -n 64 && exec "$@"', 'sh'],
    access: false,
    rescan: '30s',
    health: 'type: tcp, interval: 500ms, timeout: 2s',
  });
  try {
    const stats = await loadFor(f, loadMs, { clients: 100 });
    const drained = await waitFor(async () => (await status(f))?.process?.connections === 0, {
      timeout: 10_000,
      what: 'connections closed',
    }).then(
      () => true,
      () => false,
    );
    const rec = await recover(f);
    const events = await waitFor(async () => (await status(f))?.watcher.mode === 'events', {
      timeout: 15_000,
      what: 'the watcher on events',
    }).then(
      () => true,
      () => false,
    );
    const flag = await flagRoundTrip(f);
    const s = await status(f);
    const blamed = f.events.filter((e) => e.event === 'server.state').length;
    const recovered = rec.ok && events && flag.ok;
    const p = s?.process ?? {};
    const detail = `fdLimit ${p.fdLimit}, maxConnections ${p.maxConnections}, ${n(p.refusedConnections)} refused at accept; ${drained ? 'connections back to 0' : 'connections not back to 0'}; watcher ${s?.watcher.mode}; ${flag.text}; app1 failures ${s?.backends.app.servers.app1.failures}, ${blamed} server.state events; after: ${rec.text}`;
    return row(name, stats, recovered, detail, { process: p, watcher: s?.watcher.mode });
  } finally {
    await f.stop(1000);
  }
};

// 5. A worker SIGKILLed under load (workers: 2): /status counters against the responses received.
run['worker-kill'] = async (name) => {
  const f = await launch({ workers: 2 });
  try {
    const workers = await waitFor(
      async () => {
        const w = (await status(f))?.workers;
        return w?.length === 2 && w.every((p) => p !== null) && w;
      },
      { timeout: 10_000, what: 'two workers' },
    );
    const victim = workers[0];
    if (!processTree(f.pid).includes(victim)) throw new Error(`worker ${victim} is not a child of flagman ${f.pid}`);
    const load = startLoad(f.port, { clients: cfg.clients });
    await delay(Math.max(1000, loadMs / 2));
    const ok0 = load.stats.ok;
    const t0 = now();
    await delay(500);
    const rate = (load.stats.ok - ok0) / (now() - t0); // responses a ms just before the kill
    const from = f.events.length;
    process.kill(victim, 'SIGKILL');
    const exit = await f.waitEvent((e) => e.event === 'worker.exit', { from, timeout: 10_000 }).catch(() => null);
    const start = await f.waitEvent((e) => e.event === 'worker.start', { from, timeout: 10_000 }).catch(() => null);
    await delay(Math.max(1000, loadMs / 2));
    const stats = await load.stop();
    // The counters settle once every worker has sent its last report (every 100 ms).
    let counted = null;
    await waitFor(
      async () => {
        const c = (await status(f))?.frontends.web.requests ?? null;
        const same = c !== null && c === counted;
        counted = c;
        await delay(250);
        return same;
      },
      { timeout: 5000, what: 'the counters settled' },
    ).catch(() => {});
    const got =
      stats.ok +
      Object.entries(stats.failures)
        .filter(([k]) => /^\d+$/.test(k))
        .reduce((a, [, v]) => a + v, 0);
    const lost = got - counted;
    // docs/workers.md: a worker killed outright loses at most its last 100 ms of counts. Allowed, as in the
    // e2e test: two such windows of both workers' traffic, doubled again for a timer that runs late
    // on a loaded machine (before incremental reports ~4.5 windows were lost).
    const allowed = Math.ceil(4 * rate * 100);
    const after = (await status(f))?.workers ?? [];
    const rec = await recover(f);
    const replaced = after.length === 2 && after.every((p) => p !== null) && !after.includes(victim);
    const recovered = rec.ok && lost <= allowed && counted <= stats.requests && replaced && exit !== null && start !== null;
    const detail = `${n(got)} responses received, ${n(counted)} counted by /status: ${n(lost)} lost (allowed: 400 ms of traffic, ${n(allowed)}); worker ${victim} ${exit ? `exit ${exit.signal ?? exit.code}` : 'exit not seen'}, ${start ? 'replaced' : 'not replaced'} (workers ${after.join(', ')}); after: ${rec.text}`;
    return row(name, stats, recovered, detail, { received: got, counted, lost, allowed });
  } finally {
    await f.stop(1000);
  }
};

// 6. The shutdown deadline: timeouts.shutdown 1s, requests held 3 s by the server, SIGTERM. Each
// request cut must have its access line with reason "shutdown", and flagman exits 0.
run['shutdown-deadline'] = async (name) => {
  const slow = await startSlowBackend(3000);
  const f = await launch({ app: slow.port, stdout: 'pipe', timeouts: 'shutdown: 1s' });
  try {
    const lines = accessLines(f.proc.stdout, '"reason"');
    const ended = new Promise((resolve) => f.proc.stdout.once('end', resolve));
    const outcome = new Map();
    // Half the clients wait for a head (/hold), half get a head and 7 bytes, then wait (/slow).
    const load = startLoad(f.port, {
      clients: cfg.clients,
      path: (c, seq) => `/${c % 2 ? 'slow' : 'hold'}/${c}-${seq}`,
      onResult: (p, o) => outcome.set(p, o),
    });
    // The first round answered (3 s), the second held by the server.
    await waitFor(() => load.stats.ok >= cfg.clients && slow.held.size === cfg.clients, {
      timeout: 15_000,
      what: 'a round answered, the next held',
    });
    await delay(300);
    const stopping = load.stop(); // nothing new from here; those in flight end with the cut
    const exit = await stopTimed(f, 10_000);
    const stats = await stopping;
    await Promise.race([ended, delay(2000)]);
    const cut = [...outcome].filter(([, o]) => o !== 'ok').map(([p]) => p);
    const shut = new Set(lines.filter((l) => l.reason === 'shutdown').map((l) => l.path));
    const missing = cut.filter((p) => !shut.has(p));
    const recovered = cut.length > 0 && missing.length === 0 && cleanExit(exit, 10_000);
    const detail = `${cut.length} requests cut, ${shut.size} access lines with reason shutdown${missing.length ? `, ${missing.length} cut without one (${missing.slice(0, 3).join(' ')})` : ''}; ${exitText(exit)}`;
    return row(name, stats, recovered, detail, { cut: cut.length, shutdownLines: shut.size, missing: missing.length, exit });
  } finally {
    await f.stop(1000);
    await slow.close();
  }
};

// 7. Clients that stop reading a large response: cut after about timeouts.server, reason
// "client timeout", while the others are served.
run['slow-reader'] = async (name) => {
  const timeoutMs = 2000;
  const slow = await startSlowBackend();
  const f = await launch({ big: slow.port, stdout: 'pipe', timeouts: `server: ${timeoutMs / 1000}s` });
  const readers = [];
  try {
    const lines = accessLines(f.proc.stdout, '/big/');
    const t0 = now();
    const load = startLoad(f.port, { clients: cfg.clients });
    // Three clients ask for 16 MiB and read none of it.
    for (let i = 0; i < 3; i++) {
      const s = net.connect(f.port, '127.0.0.1');
      s.on('error', () => {});
      s.write(`GET /big/${i} HTTP/1.1\r\nHost: bench.local\r\n\r\n`);
      s.pause();
      readers.push(s);
    }
    await waitFor(() => lines.length === 3, { timeout: timeoutMs + 15_000, what: 'the slow readers cut' }).catch(() => {});
    await delay(Math.max(0, loadMs - (now() - t0)));
    const stats = await load.stop();
    const ms = lines.map((l) => l.ms).sort((a, b) => a - b);
    const rec = await recover(f);
    const good =
      lines.length === 3 && lines.every((l) => l.reason === 'client timeout' && l.ms >= timeoutMs * 0.9 && l.ms <= timeoutMs + 2500);
    const recovered = rec.ok && good;
    const detail = `timeouts.server ${timeoutMs} ms: ${lines.length}/3 slow readers cut, reason ${[...new Set(lines.map((l) => l.reason ?? 'none'))].join('/') || '-'}, after ${ms.map((x) => n(Math.round(x))).join(', ') || '-'} ms, ${lines.map((l) => `${n(l.bytes)} B`).join(', ')} sent; after: ${rec.text}`;
    return row(name, stats, recovered, detail, { cutMs: ms });
  } finally {
    for (const s of readers) s.destroy();
    await f.stop(1000);
    await slow.close();
  }
};

/** `node bench/lib/appender.js FILE RATE SECONDS` until it exits: resolves with its {writes, seconds, rate}. */
function appendFor(file, seconds) {
  const child = spawnOwned(process.execPath, [path.join(root, 'bench/lib/appender.js'), file, String(cfg.appendRate), String(seconds)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve) => child.once('close', () => resolve(out.startsWith('{') ? JSON.parse(out) : null)));
}

// 8. A busy file next to the config: ~4,800 appends/s to a log in the config's folder. flagman's
// CPU (utime+stime of its process) idle without the appends, then with them; then load.
run['busy-config-dir'] = async (name) => {
  const f = await launch({});
  try {
    await delay(SECOND); // start-up work done
    const pids = () => [process.pid, f.pid];
    const idleCpu = cpuWindow(f.pid);
    const idleForeign = foreignWindow(pids);
    await delay(loadMs);
    const idle = { cpu: idleCpu(), foreign: idleForeign() };
    // The appends go on through the idle window with them and the load after it.
    const appended = appendFor(path.join(f.dir, 'app.log'), (2 * loadMs) / SECOND + 0.5);
    await delay(250);
    const busyCpu = cpuWindow(f.pid);
    const busyForeign = foreignWindow(pids);
    await delay(loadMs);
    const busy = { cpu: busyCpu(), foreign: busyForeign() };
    const stats = await loadFor(f);
    const a = await appended;
    // An edit of the config file is still seen and reloaded.
    const from = f.events.length;
    fs.appendFileSync(f.configFile, '# edited by bench/chaos.js\n');
    const reload = await f.waitEvent((e) => e.event === 'reload', { from, timeout: 5000 }).catch(() => null);
    const rec = await recover(f);
    // The appends must not wake flagman: at most a few points of a core over idle (a watch of the
    // whole folder made it ~25).
    const quiet = idle.cpu !== null && busy.cpu !== null && busy.cpu - idle.cpu < 5;
    const recovered = rec.ok && reload !== null && quiet;
    const detail = `flagman CPU idle ${idle.cpu}%, ${busy.cpu}% with ${n(a?.rate)} appends/s beside the config (other processes ${idle.foreign}%, ${busy.foreign}% of a core); config edit ${reload ? `reloaded (generation ${reload.generation})` : 'not reloaded'}; after: ${rec.text}`;
    return row(name, stats, recovered, detail, {
      idleCpuPct: idle.cpu,
      appendCpuPct: busy.cpu,
      appendRate: a?.rate,
      foreign: [idle.foreign, busy.foreign],
    });
  } finally {
    await f.stop(1000);
  }
};

// 9. The flags directory unreadable: replaced by a symlink to itself (a loop) while serving.
// /status must never list it as a flag; restored, flags apply again.
run['flags-dir-loop'] = async (name) => {
  const f = await launch({ rescan: '500ms' });
  const away = `${f.flagsDir}.away`;
  try {
    const load = startLoad(f.port, { clients: cfg.clients });
    await delay(500);
    fs.renameSync(f.flagsDir, away);
    fs.symlinkSync('flags', f.flagsDir); // flags -> flags
    let listed = false;
    let problem = null;
    const values = new Set();
    for (const end = now() + loadMs; now() < end; await delay(200)) {
      const s = await status(f);
      if (!s) continue;
      if ('flags' in s.flags) listed = true;
      problem = s.watcher.problem ?? problem;
      values.add(s.flags.MAINT?.value);
    }
    fs.unlinkSync(f.flagsDir);
    fs.renameSync(away, f.flagsDir);
    await delay(500);
    const stats = await load.stop();
    const cleared = await waitFor(async () => (await status(f))?.watcher.problem === null, {
      timeout: 15_000,
      what: 'watcher.problem cleared',
    }).then(
      () => true,
      () => false,
    );
    const flag = await flagRoundTrip(f);
    const rec = await recover(f);
    const recovered = rec.ok && !listed && problem !== null && cleared && flag.ok;
    const detail = `during: ${listed ? 'the directory LISTED as a flag "flags"' : 'no flag "flags"'}, MAINT ${[...values].join('/')}, watcher.problem ${problem === null ? 'never set' : JSON.stringify(problem.replaceAll(f.dir, '…'))}; restored: problem ${cleared ? 'cleared' : 'NOT cleared'}, ${flag.text}; after: ${rec.text}`;
    return row(name, stats, recovered, detail, { listed, problem });
  } finally {
    if (fs.lstatSync(f.flagsDir, { throwIfNoEntry: false })?.isSymbolicLink()) fs.unlinkSync(f.flagsDir);
    if (fs.existsSync(away)) fs.renameSync(away, f.flagsDir);
    await f.stop(1000);
  }
};

// ---------------------------------------------------------------------------------------------
// Faults that worked before: the regression table.

// The backend SIGKILLed under load, restarted on its port a second later (tcp health checks).
run['backend-restart'] = async (name) => {
  const b = await startBackend();
  const f = await launch({ app: b.port, health: 'type: tcp, interval: 250ms, timeout: 1s, rise: 2, fall: 2' });
  let again = null;
  try {
    const load = startLoad(f.port, { clients: cfg.clients });
    await delay(SECOND);
    b.child.kill('SIGKILL');
    await delay(Math.max(SECOND, loadMs - 2 * SECOND));
    again = await startBackend(b.port);
    const t0 = now();
    const up = await waitFor(async () => (await status(f))?.backends.app.servers.app1.state === 'up', {
      timeout: 10_000,
      what: 'app1 up',
    }).then(
      () => Math.round(now() - t0),
      () => null,
    );
    await delay(500);
    const stats = await load.stop();
    const rec = await recover(f);
    const states = f.events.filter((e) => e.event === 'server.state').map((e) => e.state ?? e.to);
    const recovered = rec.ok && up !== null;
    const detail = `app1 ${['up', ...states].join(' → ')}; up ${up === null ? 'NOT within 10 s' : `${n(up)} ms`} after the restart; after: ${rec.text}`;
    return row(name, stats, recovered, detail, { upMs: up });
  } finally {
    await f.stop(1000);
    await stopChild(b.child, 1000);
    if (again) await stopChild(again.child, 1000);
  }
};

// 200 SIGHUPs in 2 s under load: reloads, no request lost, still there.
run['sighup-storm'] = async (name) => {
  const f = await launch({});
  try {
    const g0 = (await status(f))?.config.generation;
    const load = startLoad(f.port, { clients: cfg.clients });
    await delay(500);
    const t0 = now();
    for (let i = 0; i < 200; i++) {
      await delay(t0 + i * 10 - now());
      f.proc.kill('SIGHUP');
    }
    const sent = Math.round(now() - t0);
    await delay(SECOND);
    const stats = await load.stop();
    const s = await status(f);
    const failedReloads = f.events.filter((e) => e.event === 'reload.failed').length;
    const rec = await recover(f);
    const recovered = rec.ok && f.exited === null && failedReloads === 0 && s?.config.lastReload.ok === true;
    const detail = `200 SIGHUPs in ${n(sent)} ms: generation ${g0} → ${s?.config.generation}, ${failedReloads} failed reloads, ${f.exited ? 'EXITED' : 'running'}; after: ${rec.text}`;
    return row(name, stats, recovered, detail, { generation: [g0, s?.config.generation] });
  } finally {
    await f.stop(1000);
  }
};

// The config file emptied under load (the old config keeps serving), then restored.
run['config-emptied'] = async (name) => {
  const f = await launch({});
  try {
    const text = fs.readFileSync(f.configFile, 'utf8');
    const load = startLoad(f.port, { clients: cfg.clients });
    await delay(500);
    let from = f.events.length;
    fs.writeFileSync(f.configFile, '');
    const failed = await f.waitEvent((e) => e.event === 'reload.failed', { from, timeout: 5000 }).catch(() => null);
    await delay(Math.max(500, loadMs - 2 * SECOND));
    from = f.events.length;
    fs.writeFileSync(f.configFile, text);
    const reloaded = await f.waitEvent((e) => e.event === 'reload', { from, timeout: 5000 }).catch(() => null);
    await delay(500);
    const stats = await load.stop();
    const s = await status(f);
    const rec = await recover(f);
    const recovered = rec.ok && failed !== null && reloaded !== null && s?.config.lastReload.ok === true;
    const detail = `emptied: ${
      failed
        ? `reload.failed (${String(failed.error ?? failed.msg)
            .replaceAll(`${f.dir}/`, '')
            .slice(0, 60)})`
        : 'no reload.failed'
    }; restored: ${reloaded ? `reloaded (generation ${reloaded.generation})` : 'NOT reloaded'}, lastReload.ok ${s?.config.lastReload.ok}; after: ${rec.text}`;
    return row(name, stats, recovered, detail);
  } finally {
    await f.stop(1000);
  }
};

// The flags directory removed under load, then created again with MAINT 0.
run['flags-dir-removed'] = async (name) => {
  const f = await launch({});
  try {
    const load = startLoad(f.port, { clients: cfg.clients });
    await delay(500);
    fs.rmSync(f.flagsDir, { recursive: true, force: true });
    await delay(Math.max(SECOND, loadMs / 2));
    const during = await status(f);
    fs.mkdirSync(f.flagsDir, { mode: 0o755 });
    fs.writeFileSync(path.join(f.flagsDir, 'MAINT'), '0\n');
    await delay(SECOND);
    const stats = await load.stop();
    const flag = await flagRoundTrip(f);
    const rec = await recover(f);
    const recovered = rec.ok && flag.ok;
    const detail = `while gone: MAINT ${during?.flags.MAINT?.value ?? 'unset'}, watcher.problem ${JSON.stringify(during?.watcher.problem?.replaceAll(f.dir, '…') ?? null)}; recreated: ${flag.text}; after: ${rec.text}`;
    return row(name, stats, recovered, detail);
  } finally {
    fs.mkdirSync(f.flagsDir, { recursive: true });
    await f.stop(1000);
  }
};

// 1,000 flag files created, then deleted, under load.
run['flags-1000'] = async (name) => {
  const f = await launch({});
  try {
    const names = Array.from({ length: 1000 }, (_, i) => `CHAOS_${String(i).padStart(4, '0')}`);
    const count = async () => Object.keys((await status(f))?.flags ?? {}).length;
    const load = startLoad(f.port, { clients: cfg.clients });
    await delay(500);
    let t0 = now();
    for (const x of names) fs.writeFileSync(path.join(f.flagsDir, x), '1\n');
    const seen = await waitFor(async () => (await count()) === 1001, { timeout: 15_000, what: '1,001 flags' }).then(
      () => Math.round(now() - t0),
      () => null,
    );
    t0 = now();
    for (const x of names) fs.unlinkSync(path.join(f.flagsDir, x));
    const gone = await waitFor(async () => (await count()) === 1, { timeout: 15_000, what: 'MAINT alone' }).then(
      () => Math.round(now() - t0),
      () => null,
    );
    await delay(500);
    const stats = await load.stop();
    const flag = await flagRoundTrip(f);
    const rec = await recover(f);
    const recovered = rec.ok && seen !== null && gone !== null && flag.ok;
    const detail = `1,000 created: in /status after ${seen === null ? 'NOT within 15 s' : `${n(seen)} ms`}; deleted: gone after ${gone === null ? `NOT within 15 s (${await count()} left)` : `${n(gone)} ms`}; ${flag.text}; after: ${rec.text}`;
    return row(name, stats, recovered, detail, { seenMs: seen, goneMs: gone });
  } finally {
    await f.stop(1000);
  }
};

// ---------------------------------------------------------------------------------------------

function machine() {
  let commit = null;
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? os.cpus()[0]?.model ?? null;
  return {
    date: new Date().toISOString(),
    nproc: os.cpus().length,
    cpu,
    kernel: os.release(),
    node: process.version,
    commit,
    loadavg1: loadavg1(),
  };
}

const COLS = [
  { key: 'fault', title: 'fault', align: 'left' },
  { key: 'requests', title: 'requests' },
  { key: 'failed', title: 'failed' },
  { key: 'recoveredText', title: 'recovered', align: 'left' },
  { key: 'failures', title: 'failures', align: 'left' },
  { key: 'detail', title: 'detail', align: 'left' },
];

const shared = await startBackend();
const mach = machine();
log(
  `flagman ${path.relative(root, cfg.cli) || cfg.cli} at ${mach.commit}; ${cfg.clients} clients, ${cfg.seconds} s per fault; ${cfg.only.length} faults`,
);
const rows = [];
for (const name of cfg.only) {
  const t0 = now();
  log(`${name} …`);
  let r;
  try {
    r = await run[name](name);
  } catch (err) {
    r = row(name, null, false, `error: ${err.message.split('\n')[0]}`);
  }
  r.seconds = Math.round((now() - t0) / 100) / 10;
  r.recoveredText = r.recovered ? 'yes' : 'NO';
  log(`${name}: ${n(r.requests)} requests, ${n(r.failed)} failed, recovered ${r.recoveredText}; ${r.detail} (${r.seconds} s)`);
  rows.push(r);
}
await stopChild(shared.child, 1000);

const print = (title, names) => {
  const mine = rows.filter((r) => names.includes(r.fault));
  if (mine.length === 0) return;
  console.log(`\n${title}`);
  console.log(
    table(
      COLS,
      mine.map((r) => ({ ...r, requests: n(r.requests), failed: n(r.failed) })),
    ),
  );
};
print(
  `faults (${cfg.clients} keep-alive clients, ${cfg.seconds} s each; recovered: then ${cfg.recover} requests all succeed, and the fault's own check)`,
  FAULTS,
);
print('regressions: faults that worked before', REGRESSIONS);
const line = JSON.stringify({
  bench: 'chaos',
  machine: mach,
  options: cfg,
  rows: rows.map(({ recoveredText, ...r }) => r),
  seconds: Math.round((now() - T0) / 100) / 10,
});
console.log(line);
if (opt.json) fs.writeFileSync(opt.json, `${line}\n`);
process.exit(rows.every((r) => r.recovered) ? 0 : 1);
