#!/usr/bin/env node
// Overload: a backend of fixed capacity behind many more clients than it can serve at once, through
// flagman with a per-server `maxconn` and its backend's queue, through HAProxy with `server …
// maxconn` and `timeout queue`, and through both without a limit (flagman's default), where the
// requests pile up inside the backend instead. Build first:
//
//   npm run build && node bench/overload.js           # 3 interleaved rounds × 4 contenders × 10 s
//   node bench/overload.js --rounds 2 --duration 5    # shorter
//   node bench/overload.js --help                     # every option
//
// The backend (bench/lib/slow-backend.js) serves 5 requests at once, 25 ms each: 200 req/s at
// most; a request beyond 5 waits inside it. It reports what it saw itself: the most requests inside
// at once and their latency there. The load is wrk -t1 -c200 (keep-alive) on 127.0.0.1. Per run:
// served req/s (2xx), p50/p99 (wrk's histogram of every response: non-2xx are counted and shown
// beside them, so a run where they are not 0 is told), non-2xx and socket errors, the proxy's CPU
// (utime+stime of its process tree, /proc/PID/stat) and "other cpu%" (processes not the bench's).
// The goal is judged on per-round ratios, flagman-maxconn ÷ haproxy-maxconn of the same round.
//
// Output: a table, the goal met / not met, one JSON line. Exit code 0 when met, 1 when not, 2 on an
// error. Traffic goes to 127.0.0.1 only; ports are picked free; processes are stopped by PID.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { int, parseOptions, requireBuilt } from './lib/cli.js';
import { flagman, namedPortServer } from './lib/contenders.js';
import { haproxyCommand } from './lib/haproxy.js';
import { ensureTools } from './lib/install.js';
import { firstLine, ownExit, spawnPinned, stopChild, tempDir } from './lib/owned.js';
import { foreignWindow, loadavg1, ticksPerSecond, treeCpuTicks } from './lib/proc.js';
import { machine, median, round1 } from './lib/run.js';
import { table } from './lib/stats.js';
import { runWrk } from './lib/wrk.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const now = () => performance.now();

const HELP = `usage: node bench/overload.js [options]
  --rounds N         interleaved rounds (default 3)
  --duration S       seconds per wrk run (default 10)
  --warmup S         unmeasured seconds per contender before round 1 (default 2)
  --connections N    wrk connections (default 200)
  --workers N        requests the backend serves at once (default 5)
  --service-ms MS    time the backend takes per request (default 25)
  --maxconn N        the server's maxconn in flagman-maxconn and haproxy-maxconn (default: --workers)
  --queue-timeout T  timeouts.queue / timeout queue (default 5s)
  --only LIST        contenders, comma-separated (default all): ${['flagman-maxconn', 'haproxy-maxconn', 'flagman', 'haproxy'].join(', ')}
  --proxy-cpu N      the core the proxy is pinned to (default 1)
  --load-cpu N       the core of wrk and the backend (default 0)
  --json FILE        also write every run as JSON to FILE
  --no-install       do not apt-get anything (fail if a tool is missing)
  --cli PATH         the flagman command (default bin/flagman)
  --keep             keep the temp directories
  --max-seconds S    overall bound (default 1800)
  --help`;

const opt = parseOptions(
  {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '200' },
    workers: { type: 'string', default: '5' },
    'service-ms': { type: 'string', default: '25' },
    maxconn: { type: 'string' },
    'queue-timeout': { type: 'string', default: '5s' },
    only: { type: 'string' },
    'proxy-cpu': { type: 'string', default: '1' },
    'load-cpu': { type: 'string', default: '0' },
    json: { type: 'string' },
    'no-install': { type: 'boolean', default: false },
    cli: { type: 'string', default: path.join(root, 'bin/flagman') },
    keep: { type: 'boolean', default: false },
    'max-seconds': { type: 'string', default: '1800' },
  },
  HELP,
);

const cfg = {
  rounds: int('rounds', opt.rounds, 1),
  duration: int('duration', opt.duration, 1),
  warmup: int('warmup', opt.warmup),
  connections: int('connections', opt.connections, 1),
  workers: int('workers', opt.workers, 1),
  serviceMs: int('service-ms', opt['service-ms'], 1),
  maxconn: int('maxconn', opt.maxconn ?? opt.workers, 1),
  queueTimeout: opt['queue-timeout'],
  proxyCpu: int('proxy-cpu', opt['proxy-cpu']),
  loadCpu: int('load-cpu', opt['load-cpu']),
  maxSeconds: int('max-seconds', opt['max-seconds'], 10),
  cli: path.resolve(opt.cli),
};
if (!/^\d+(ms|s)$/.test(cfg.queueTimeout)) {
  console.error(`--queue-timeout: expected e.g. 5s or 500ms, got ${cfg.queueTimeout}`);
  process.exit(2);
}

// name → {describe, start(ctx)}: ctx as bench/lib/contenders.js's (dir, backendPorts, cpu, cli).
const limits = { maxconn: cfg.maxconn, queueTimeout: cfg.queueTimeout };
const CONTENDERS = {
  'flagman-maxconn': {
    describe: `flagman, minimal config, server maxconn ${cfg.maxconn}, timeouts.queue ${cfg.queueTimeout} (the queue unbounded)`,
    start: (ctx) => flagman('minimal-maxconn', { ...ctx, configOptions: limits }),
  },
  'haproxy-maxconn': {
    describe: `HAProxy as in proxies.js, server … maxconn ${cfg.maxconn}, timeout queue ${cfg.queueTimeout}`,
    start: (ctx) => namedPortServer('haproxy', (dir, o) => haproxyCommand(dir, { ...o, ...limits }), ctx),
  },
  flagman: {
    describe: 'flagman, minimal config, no maxconn (the default): every request goes to the backend',
    start: (ctx) => flagman('minimal', ctx),
  },
  haproxy: {
    describe: 'HAProxy as in proxies.js, no maxconn',
    start: (ctx) => namedPortServer('haproxy', haproxyCommand, ctx),
  },
};
const names = opt.only
  ? opt.only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  : Object.keys(CONTENDERS);
for (const n of names) {
  if (!CONTENDERS[n]) {
    console.error(`unknown contender ${n}; known: ${Object.keys(CONTENDERS).join(', ')}`);
    process.exit(2);
  }
}
requireBuilt(cfg.cli);

const T_BEGIN = now();
const log = (msg) => process.stderr.write(`[${((now() - T_BEGIN) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
ownExit({ keep: opt.keep, onSignal: (sig) => log(`${sig}: stopping`) });
setTimeout(() => {
  log(`still running ${cfg.maxSeconds} s after start (--max-seconds): giving up`);
  process.exit(2);
}, cfg.maxSeconds * 1000).unref();

async function startBackend() {
  const script = path.join(root, 'bench/lib/slow-backend.js');
  const child = spawnPinned(
    cfg.loadCpu,
    process.execPath,
    [script, String(cfg.workers), String(cfg.serviceMs), String(cfg.maxSeconds + 60)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const { port, statsPort } = await firstLine(child, child.stdout, (l) => (l.startsWith('{') ? JSON.parse(l) : null), {
    what: 'slow backend',
  });
  return { pid: child.pid, port, statsPort, stop: () => stopChild(child) };
}

/** One GET to 127.0.0.1:`port``urlPath`, no keep-alive: {status, body}. */
async function get(port, urlPath) {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath}: no answer within 15 s`)));
    req.on('error', reject);
  });
}

const backendStats = async (backend, reset = false) => JSON.parse((await get(backend.statsPort, reset ? '/stats?reset=1' : '/stats')).body);

/** Waits until nothing is inside the backend (requests of the previous run drained), at most 20 s. */
async function drained(backend) {
  const deadline = now() + 20_000;
  for (;;) {
    const s = await backendStats(backend);
    if (s.inside === 0) return;
    if (now() > deadline) throw new Error(`the backend still has ${s.inside} requests inside 20 s after a run`);
    await delay(100);
  }
}

let wrkDir = null;

async function measure(name, s, backend, seconds) {
  await drained(backend);
  await backendStats(backend, true);
  const foreign = foreignWindow(() => [process.pid, backend.pid, s.pid]);
  const p0 = treeCpuTicks(s.pid);
  wrkDir ??= tempDir('flagman-bench-wrk-');
  const w = await runWrk({ dir: wrkDir, port: s.port, path: '/', seconds, connections: cfg.connections, cpu: cfg.loadCpu, timeoutS: 10 });
  const cpuS = (treeCpuTicks(s.pid) - p0) / ticksPerSecond();
  const other = foreign();
  const b = await backendStats(backend);
  const non2xx = w.errorDetail.status;
  const served = w.requests - non2xx;
  return {
    config: name,
    requests: w.requests,
    seconds: round1(w.seconds, 3),
    servedRps: round1(served / w.seconds),
    p50: w.p50,
    p99: w.p99,
    max: w.max,
    non2xx,
    errors: w.errors - non2xx,
    errorDetail: w.errors - non2xx ? w.errorDetail : undefined,
    backendMaxInside: b.maxInside,
    backendServed: b.served,
    backendP50: b.latencyMs.p50,
    backendP99: b.latencyMs.p99,
    corePct: round1((cpuS / w.seconds) * 100),
    cpuUs: served > 0 ? round1((cpuS * 1e6) / served) : null,
    otherCpuPct: other,
    loadavg1: loadavg1(),
  };
}

async function run() {
  const mach = machine();
  log(
    `machine: ${mach.nproc} × ${mach.cpu}, Linux ${mach.kernel}, node ${mach.node}, haproxy ${mach.haproxy}, wrk ${mach.wrk}; load ${mach.loadavg.join(' ')}`,
  );
  const backend = await startBackend();
  log(
    `backend: pid ${backend.pid}, port ${backend.port}: ${cfg.workers} at once × ${cfg.serviceMs} ms = ${round1((cfg.workers * 1000) / cfg.serviceMs, 0)} req/s at most (cpu ${cfg.loadCpu})`,
  );
  const started = {};
  for (const name of names) {
    const dir = tempDir(`flagman-bench-${name}-`);
    started[name] = await CONTENDERS[name].start({ dir, backendPorts: [backend.port], cpu: cfg.proxyCpu, cli: cfg.cli });
    const r = await get(started[name].port, '/');
    if (r.status !== 200 || r.body.length !== 100) throw new Error(`${name}: sanity request got ${r.status}, ${r.body.length} bytes`);
    log(`${name}: pid ${started[name].pid}, port ${started[name].port}, answers`);
  }
  if (cfg.warmup > 0) {
    log(`warm-up: ${cfg.warmup} s per contender`);
    for (const name of names) await measure(name, started[name], backend, cfg.warmup);
  }
  const runs = [];
  for (let r = 1; r <= cfg.rounds; r++) {
    log(`round ${r}/${cfg.rounds}`);
    for (const name of names) {
      const m = await measure(name, started[name], backend, cfg.duration);
      m.round = r;
      runs.push(m);
      log(
        `  ${name.padEnd(16)} ${String(Math.round(m.servedRps)).padStart(5)} served/s  p50 ${m.p50} p99 ${m.p99} ms  non-2xx ${m.non2xx}  errors ${m.errors}  backend max ${m.backendMaxInside} inside, p99 ${m.backendP99} ms  core ${m.corePct}%  other ${m.otherCpuPct}%  load ${m.loadavg1}`,
      );
    }
  }
  for (const name of names) await started[name].stop();
  await backend.stop();
  return { mach, runs };
}

// Medians over rounds per contender; flagman-maxconn's ratios to haproxy-maxconn taken per round.
function aggregate(runs) {
  const rows = names.map((name) => {
    const mine = runs.filter((m) => m.config === name);
    const med = (k, d = 1) => round1(median(mine.map((m) => m[k])), d);
    return {
      config: name,
      backendMaxInside: Math.max(...mine.map((m) => m.backendMaxInside)),
      backendP50: med('backendP50'),
      backendP99: med('backendP99'),
      servedRps: med('servedRps'),
      p50: med('p50', 2),
      p99: med('p99', 2),
      non2xx: mine.reduce((a, m) => a + m.non2xx, 0),
      errors: mine.reduce((a, m) => a + m.errors, 0),
      corePct: med('corePct'),
      cpuUs: med('cpuUs'),
      otherCpuPct: med('otherCpuPct', 0),
    };
  });
  let goal = null;
  if (names.includes('flagman-maxconn') && names.includes('haproxy-maxconn')) {
    const perRound = [];
    for (let r = 1; r <= cfg.rounds; r++) {
      const f = runs.find((m) => m.round === r && m.config === 'flagman-maxconn');
      const h = runs.find((m) => m.round === r && m.config === 'haproxy-maxconn');
      perRound.push({
        round: r,
        served: h.servedRps ? round1(f.servedRps / h.servedRps, 3) : null,
        p99: h.p99 ? round1(f.p99 / h.p99, 3) : null,
      });
    }
    const served = round1(median(perRound.map((x) => x.served)), 3);
    const p99 = round1(median(perRound.map((x) => x.p99)), 3);
    const servedOk = served !== null && served >= 0.95;
    const p99Ok = p99 !== null && p99 <= 1.2;
    goal = {
      what: 'flagman-maxconn ÷ haproxy-maxconn, per round: served req/s ≥ 0.95 and p99 ≤ 1.2 (median of the rounds)',
      perRound,
      served,
      p99,
      roundsMet: perRound.filter((x) => x.served >= 0.95 && x.p99 <= 1.2).length,
      met: servedOk && p99Ok,
    };
  }
  return { rows, goal };
}

function print({ mach, runs }) {
  const { rows, goal } = aggregate(runs);
  const f = (x, d = 1) => (x === null || x === undefined ? '-' : x.toFixed(d));
  console.log(`\nflagman bench/overload.js — ${mach.date}`);
  console.log(
    `machine: ${mach.nproc} CPUs (${mach.cpu}), Linux ${mach.kernel}; node ${mach.node}, haproxy ${mach.haproxy}, wrk ${mach.wrk}; commit ${mach.commit}; load average at start ${mach.loadavg.join(' ')}`,
  );
  console.log(
    `run: backend ${cfg.workers} at once × ${cfg.serviceMs} ms (${round1((cfg.workers * 1000) / cfg.serviceMs, 0)} req/s at most); wrk -t1 -c${cfg.connections} keep-alive, ${cfg.rounds} interleaved rounds × ${cfg.duration} s; proxy on cpu ${cfg.proxyCpu}, wrk and backend on cpu ${cfg.loadCpu}`,
  );
  console.log(
    "figures: medians over rounds; backend max: the most requests inside the backend at once in any round; p50/p99: wrk's histogram (every response; non-2xx shown beside)\n",
  );
  for (const name of names) console.log(`  ${name.padEnd(16)} ${CONTENDERS[name].describe}`);
  console.log('');
  const cols = [
    { key: 'config', title: 'contender', align: 'left' },
    { key: 'backendMaxInside', title: 'backend max' },
    { key: 'backendP50', title: 'backend p50 ms' },
    { key: 'backendP99', title: 'backend p99 ms' },
    { key: 'servedRps', title: 'served req/s' },
    { key: 'p50', title: 'p50 ms' },
    { key: 'p99', title: 'p99 ms' },
    { key: 'non2xx', title: 'non-2xx' },
    { key: 'errors', title: 'errors' },
    { key: 'corePct', title: 'proxy core %' },
    { key: 'cpuUs', title: 'proxy µs/served' },
    { key: 'otherCpuPct', title: 'other cpu%' },
  ];
  console.log(
    table(
      cols,
      rows.map((r) => ({
        ...r,
        backendP50: f(r.backendP50),
        backendP99: f(r.backendP99),
        servedRps: f(r.servedRps),
        p50: f(r.p50, 1),
        p99: f(r.p99, 1),
        corePct: f(r.corePct),
        cpuUs: f(r.cpuUs, 0),
      })),
    ),
  );
  if (goal) {
    console.log('');
    console.log(
      `${goal.met ? 'MET' : 'NOT MET'}  ${goal.what}: served ×${goal.served}, p99 ×${goal.p99}; per round: ${goal.perRound.map((x) => `${x.round}: ×${x.served} / ×${x.p99}`).join(', ')}; ${goal.roundsMet}/${goal.perRound.length} rounds meet both`,
    );
  }
  return { rows, goal };
}

let code = 2;
try {
  if (!opt['no-install']) ensureTools(['haproxy', 'wrk', 'taskset'], log);
  const r = await run();
  const { rows, goal } = print(r);
  const result = {
    bench: 'overload',
    machine: r.mach,
    options: {
      rounds: cfg.rounds,
      duration: cfg.duration,
      connections: cfg.connections,
      workers: cfg.workers,
      serviceMs: cfg.serviceMs,
      maxconn: cfg.maxconn,
      queueTimeout: cfg.queueTimeout,
    },
    rows,
    goal,
  };
  if (opt.json) fs.writeFileSync(opt.json, `${JSON.stringify({ ...result, runs: r.runs }, null, 1)}\n`);
  console.log(`\n${JSON.stringify(result)}`);
  code = goal === null ? 0 : goal.met ? 0 : 1;
} catch (err) {
  log(`error: ${err.stack ?? err.message}`);
  code = 2;
}
await delay(10);
process.exit(code);
