#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { assertKnown } from './lib/contenders.js';
import { commaList, int, parseOptions, requireBuilt } from './lib/cli.js';
import { ensurePackageFile, ensureTools } from './lib/install.js';
import { firstLine, spawnPinned, stopChild, tempDir } from './lib/owned.js';
import { foreignWindow, ticksPerSecond, treeCpuTicks, treeRssKB } from './lib/proc.js';
import { table } from './lib/stats.js';
import { NGINX_STREAM_MODULE, STREAM_CASES, STREAM_CONTENDERS } from './lib/stream-contenders.js';
import { BULK_BYTES } from './lib/stream-proto.js';
import { machine, median, round1, startRun } from './lib/run.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const _now = () => performance.now();

const HELP = `usage: node bench/streams.js [options]
  --rounds N         interleaved rounds (default 3, at least 1)
  --duration S       seconds per run (default 5)
  --warmup S         unmeasured seconds per case and proxy before round 1 (default 2)
  --connections N    connections of the load client (default per case: bulk 4, upload 4, echo 32, ws 16)
  --window N         ws: messages in flight per connection (default 16)
  --only LIST        proxies, comma-separated (default all but flagman-base): ${Object.keys(STREAM_CONTENDERS).join(', ')}
  --cases LIST       cases, comma-separated (default all): ${Object.keys(STREAM_CASES).join(', ')}
  --proxy-cpu N      the core the proxy is pinned to (default 1)
  --load-cpu N       the core of the load client and the origin (default 0)
  --json FILE        also write every figure (all rounds) as JSON to FILE
  --no-install       do not apt-get anything (fail if a tool is missing)
  --cli PATH         the flagman command (default bin/flagman; a .js file is run with node as it is)
  --base-cli PATH    the command of another build, run as flagman-base (added to --only's default
                     when given), to measure a change against it in the same run
  --keep             keep the temp directories
  --max-seconds S    overall bound (default 1800)
  --help`;

const opt = parseOptions(
  {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string' },
    window: { type: 'string', default: '16' },
    only: { type: 'string' },
    cases: { type: 'string' },
    'proxy-cpu': { type: 'string', default: '1' },
    'load-cpu': { type: 'string', default: '0' },
    json: { type: 'string' },
    'no-install': { type: 'boolean', default: false },
    cli: { type: 'string', default: path.join(root, 'bin/flagman') },
    'base-cli': { type: 'string' },
    keep: { type: 'boolean', default: false },
    'max-seconds': { type: 'string', default: '1800' },
  },
  HELP,
);

const cfg = {
  rounds: int('rounds', opt.rounds, 1),
  duration: int('duration', opt.duration, 1),
  warmup: int('warmup', opt.warmup),
  connections: opt.connections === undefined ? null : int('connections', opt.connections, 1),
  window: int('window', opt.window, 1),
  only: commaList(
    opt.only,
    Object.keys(STREAM_CONTENDERS).filter((k) => !STREAM_CONTENDERS[k].optional || (k === 'flagman-base' && opt['base-cli'])),
  ),
  cases: commaList(opt.cases, Object.keys(STREAM_CASES)),
  proxyCpu: int('proxy-cpu', opt['proxy-cpu']),
  loadCpu: int('load-cpu', opt['load-cpu']),
  maxSeconds: int('max-seconds', opt['max-seconds'], 10),
  cli: path.resolve(opt.cli),
  baseCli: opt['base-cli'] === undefined ? null : path.resolve(opt['base-cli']),
};
try {
  assertKnown('proxy', cfg.only, STREAM_CONTENDERS);
  assertKnown('case', cfg.cases, STREAM_CASES);
} catch (err) {
  console.error(err.message);
  process.exit(2);
}
requireBuilt(cfg.cli);

const log = startRun({ keep: opt.keep, maxSeconds: cfg.maxSeconds });

try {
  if (!opt['no-install']) {
    const tools = ['taskset'];
    if (cfg.only.includes('haproxy')) tools.push('haproxy');
    if (cfg.only.includes('nginx')) tools.push('nginx');
    ensureTools(tools, log);
    if (cfg.only.includes('nginx')) ensurePackageFile('libnginx-mod-stream', NGINX_STREAM_MODULE, log);
  }
} catch (err) {
  log(`cannot install the tools: ${err.message}`);
  process.exit(2);
}

async function startOrigin() {
  const child = spawnPinned(cfg.loadCpu, process.execPath, [path.join(root, 'bench/lib/stream-origin.js'), String(cfg.maxSeconds + 60)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const ports = await firstLine(child, child.stdout, (l) => (l.startsWith('{') ? JSON.parse(l) : null), { what: 'origin' });
  return { pid: child.pid, ports, stop: () => stopChild(child) };
}

const connectionsOf = (cn) => cfg.connections ?? STREAM_CASES[cn].connections;

/** One load run, pinned to the load core: the client's JSON line. */
async function load(cn, port, seconds, connections = connectionsOf(cn)) {
  const child = spawnPinned(
    cfg.loadCpu,
    process.execPath,
    [path.join(root, 'bench/lib/stream-load.js'), cn, String(port), String(seconds), String(connections), String(cfg.window)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise((resolve) => child.once('exit', (c, sig) => resolve(c ?? sig)));
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`load client (${cn} on ${port}) exited ${code}: ${out}`);
  return JSON.parse(line);
}

// One measured run of case `cn` against a started proxy.
async function measure(name, s, cn, seconds, origin) {
  const foreign = foreignWindow(() => [process.pid, origin.pid, s.pid]);
  const p0 = treeCpuTicks(s.pid);
  const w = await load(cn, s.ports[cn], seconds);
  const p1 = treeCpuTicks(s.pid);
  const cpuS = (p1 - p0) / ticksPerSecond();
  // Bulk and upload count MiB (the bytes moved), the others their units.
  const units = cn === 'bulk' || cn === 'upload' ? w.bytes / BULK_BYTES : w.units;
  return {
    config: name,
    case: cn,
    units: round1(units),
    seconds: round1(w.seconds, 3),
    rate: round1(units / w.seconds),
    p50: w.p50 ?? null,
    p99: w.p99 ?? null,
    errors: w.errors,
    cpuUs: units === 0 ? null : round1((cpuS * 1e6) / units, 2),
    corePct: round1((cpuS / w.seconds) * 100),
    rssMB: round1(treeRssKB(s.pid) / 1024),
    otherCpuPct: foreign(),
  };
}

// A short load of every case through every proxy before anything counts: the tunnels work.
async function sanity(names, started) {
  for (const name of names)
    for (const cn of cfg.cases) {
      const w = await load(cn, started[name].ports[cn], 1, 2);
      if (w.units === 0 || w.errors > 0) throw new Error(`${name}: ${cn} moved nothing (${JSON.stringify(w)})`);
    }
}

async function comparison() {
  const names = cfg.only;
  const mach = machine();
  log(`machine: ${mach.nproc} × ${mach.cpu}, Linux ${mach.kernel}, node ${mach.node}, haproxy ${mach.haproxy}, nginx ${mach.nginx}`);
  const origin = await startOrigin();
  log(`origin: pid ${origin.pid}, ports ${JSON.stringify(origin.ports)} (cpu ${cfg.loadCpu})`);
  const started = {};
  for (const name of names) {
    started[name] = await STREAM_CONTENDERS[name].start({
      dir: tempDir(`flagman-bench-${name}-`),
      origin: origin.ports,
      cpu: cfg.proxyCpu,
      cli: cfg.cli,
      baseCli: cfg.baseCli,
    });
    log(`${name}: pid ${started[name].pid}, ports ${JSON.stringify(started[name].ports)}`);
  }
  await sanity(names, started);
  log('every proxy carries every case');
  if (cfg.warmup > 0) {
    log(`warm-up: ${cfg.warmup} s per case and proxy`);
    for (const cn of cfg.cases) for (const name of names) await measure(name, started[name], cn, cfg.warmup, origin);
  }
  const runs = [];
  const per = cfg.cases.length * names.length * (cfg.duration + 1); // + a load client starting
  for (let r = 1; r <= cfg.rounds; r++) {
    log(`round ${r}/${cfg.rounds} (about ${Math.round(per)} s)`);
    for (const cn of cfg.cases) {
      for (const name of names) {
        const m = await measure(name, started[name], cn, cfg.duration, origin);
        m.round = r;
        runs.push(m);
        log(
          `  ${cn.padEnd(5)} ${name.padEnd(13)} ${String(m.rate).padStart(9)} ${STREAM_CASES[cn].unit}/s  ${m.cpuUs ?? '-'} µs/${STREAM_CASES[cn].unit}  p99 ${m.p99 ?? '-'} ms  core ${m.corePct}%  rss ${m.rssMB} MB  other ${m.otherCpuPct}%${m.errors ? `  ERRORS ${m.errors}` : ''}`,
        );
      }
    }
  }
  for (const name of names) await started[name].stop();
  await origin.stop();
  return { mach, runs, names };
}

// The references a row is divided by, in the same round and case, when they ran.
const REFS = ['haproxy', 'nginx', 'flagman-base'];

function aggregate(runs, names) {
  const rows = [];
  for (const cn of cfg.cases) {
    for (const name of names) {
      const mine = runs.filter((m) => m.case === cn && m.config === name);
      const ratio = (other, key) => {
        if (other === name || !names.includes(other)) return null;
        const rs = mine.map((m) => {
          const o = runs.find((x) => x.case === cn && x.config === other && x.round === m.round);
          return o && m[key] !== null && o[key] ? m[key] / o[key] : null;
        });
        return round1(median(rs), 2);
      };
      const row = {
        case: cn,
        config: name,
        unit: STREAM_CASES[cn].unit,
        rate: round1(median(mine.map((m) => m.rate)), STREAM_CASES[cn].unit === 'MiB' ? 1 : 0),
        cpuUs: round1(median(mine.map((m) => m.cpuUs)), 2),
        p50: round1(median(mine.map((m) => m.p50)), 2),
        p99: round1(median(mine.map((m) => m.p99)), 2),
        corePct: round1(median(mine.map((m) => m.corePct)), 0),
        rssMB: round1(Math.max(...mine.map((m) => m.rssMB ?? 0))) || null,
        errors: mine.reduce((a, m) => a + m.errors, 0),
        otherCpuPct: round1(median(mine.map((m) => m.otherCpuPct)), 0),
      };
      for (const ref of REFS) {
        row[`rateVs_${ref}`] = ratio(ref, 'rate');
        row[`cpuVs_${ref}`] = ratio(ref, 'cpuUs');
        row[`p99Vs_${ref}`] = ratio(ref, 'p99');
      }
      rows.push(row);
    }
  }
  return rows;
}

function print({ mach, runs, names }) {
  const rows = aggregate(runs, names);
  const f = (x, d = 1) => (x === null || x === undefined ? '-' : x.toFixed(d));
  const refs = REFS.filter((r) => names.includes(r));
  const short = { haproxy: 'hap', nginx: 'ngx', 'flagman-base': 'base' };
  const cols = [
    { key: 'case', title: 'case', align: 'left' },
    { key: 'config', title: 'proxy', align: 'left' },
    { key: 'rateShown', title: 'per second', align: 'left' },
    { key: 'cpuShown', title: 'CPU µs/unit', align: 'left' },
    { key: 'p99', title: 'p99 ms' },
    ...refs.flatMap((r) => [
      { key: `rateVs_${r}`, title: `rate×${short[r]}` },
      { key: `cpuVs_${r}`, title: `cpu×${short[r]}` },
    ]),
    { key: 'corePct', title: 'core %' },
    { key: 'rssMB', title: 'RSS MB' },
    { key: 'otherCpuPct', title: 'other cpu%' },
    { key: 'errors', title: 'errors' },
  ];
  const shown = rows.map((r) => {
    const o = { ...r, rateShown: `${r.rate} ${r.unit}`, cpuShown: `${f(r.cpuUs, 2)} /${r.unit}`, p99: f(r.p99, 2), rssMB: f(r.rssMB) };
    for (const ref of refs) {
      o[`rateVs_${ref}`] = f(r[`rateVs_${ref}`], 2);
      o[`cpuVs_${ref}`] = f(r[`cpuVs_${ref}`], 2);
    }
    return o;
  });
  console.log(`\nflagman bench/streams.js — ${mach.date}`);
  console.log(
    `machine: ${mach.nproc} CPUs (${mach.cpu}), ${mach.memGiB} GiB, Linux ${mach.kernel}; node ${mach.node}, haproxy ${mach.haproxy}, nginx ${mach.nginx}; commit ${mach.commit}`,
  );
  console.log(
    `run: ${cfg.rounds} interleaved rounds × ${cfg.duration} s per case and proxy; load client and origin on cpu ${cfg.loadCpu}, proxy on cpu ${cfg.proxyCpu}; connections ${cfg.cases.map((cn) => `${cn} ${connectionsOf(cn)}`).join(', ')}; ws window ${cfg.window}`,
  );
  console.log(
    'figures: medians over rounds; ratios (×hap, ×ngx, ×base): median of the per-round ratios; RSS: the largest end-of-run VmRSS\n',
  );
  for (const cn of cfg.cases) console.log(`  ${cn.padEnd(13)} ${STREAM_CASES[cn].describe} (unit: ${STREAM_CASES[cn].unit})`);
  for (const name of names) console.log(`  ${name.padEnd(13)} ${STREAM_CONTENDERS[name].describe}`);
  console.log('');
  console.log(table(cols, shown));
  return rows;
}

let code = 2;
try {
  const r = await comparison();
  const rows = print(r);
  const result = {
    mode: 'streams',
    machine: r.mach,
    options: { rounds: cfg.rounds, duration: cfg.duration, window: cfg.window, proxyCpu: cfg.proxyCpu, loadCpu: cfg.loadCpu },
    rows,
  };
  if (opt.json) fs.writeFileSync(opt.json, `${JSON.stringify({ ...result, runs: r.runs }, null, 1)}\n`);
  console.log(`\n${JSON.stringify(result)}`);
  code = 0;
} catch (err) {
  log(`error: ${err.stack ?? err.message}`);
}
await delay(10);
process.exit(code);
