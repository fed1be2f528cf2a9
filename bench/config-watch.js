// What a busy file next to the config costs flagman: its CPU idle, idle while another process
// appends to a log file in the config's folder, and per request when flagman's own access log is
// written there (`flagman run >> access.log` in /etc/flagman) against the same load with the log in
// another folder. A watch on the config's whole folder is woken by every one of those writes.
// See bench/README.md.
import { fork, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { int, parseOptions } from './lib/cli.js';
import { startFlagman } from './lib/flagman.js';
import { adopt, firstLine, ownExit, spawnPinned, tempDir } from './lib/owned.js';
import { cpuTicks, foreignWindow, loadavg1, ticksPerSecond } from './lib/proc.js';
import { fmt, table } from './lib/stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const HELP = `usage: node bench/config-watch.js [options]
  --cli PATH          the flagman command to measure (default bin/flagman; a .js file runs with node)
  --base-cli PATH     also measure this one (another build), interleaved round by round
  --rounds N          rounds (default 3)
  --seconds S         each measured window (default 10)
  --append-rate R     lines/s appended to a log file next to the config (default 4800)
  --req-rate R        paced requests/s for the request windows (default 1000; 0 skips them)
  --flags beside|apart  the flags directory next to the config (./flags, the default layout), or
                      in a folder of its own (default beside)
  --cpu N             pin flagman to CPU N, the appender to the other one (default 1; -1: no pinning)
  --keep              keep the temp directories
  --help`;

const opt = parseOptions(
  {
    cli: { type: 'string', default: path.join(root, 'bin/flagman') },
    'base-cli': { type: 'string' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    'append-rate': { type: 'string', default: '4800' },
    'req-rate': { type: 'string', default: '1000' },
    flags: { type: 'string', default: 'beside' },
    cpu: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
  },
  HELP,
);
const cfg = {
  rounds: int('rounds', opt.rounds, 1),
  seconds: int('seconds', opt.seconds, 1),
  appendRate: int('append-rate', opt['append-rate'], 1),
  reqRate: int('req-rate', opt['req-rate']),
  flags: opt.flags,
  cpu: Number(opt.cpu) < 0 ? null : int('cpu', opt.cpu),
};
if (!['beside', 'apart'].includes(cfg.flags)) {
  console.error(`--flags: beside or apart, not ${cfg.flags}`);
  process.exit(2);
}
const builds = [{ name: 'this', cli: path.resolve(opt.cli) }];
if (opt['base-cli']) builds.push({ name: 'base', cli: path.resolve(opt['base-cli']) });
for (const b of builds) {
  if (!fs.existsSync(b.cli)) {
    console.error(`${b.cli} not found (build first: npm run build)`);
    process.exit(2);
  }
}
ownExit({ keep: opt.keep });

const T0 = performance.now();
const log = (msg) => process.stderr.write(`[${((performance.now() - T0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
const otherCpu = cfg.cpu === null ? null : os.cpus().length > 1 ? (cfg.cpu === 0 ? 1 : 0) : cfg.cpu;

function config(app, flagsDir) {
  return `flags: { dir: ${JSON.stringify(flagsDir)}, state: off }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: flag("MAINT") > 0
        use: maintenance
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:${app}" }
  maintenance:
    respond: { status: 503, body: "maintenance\\n" }
`;
}

// The world (bench/lib/world.js): the app server, and the paced keep-alive load.
async function startWorld() {
  const child = adopt(fork(path.join(root, 'bench/lib/world.js'), ['3600'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const inbox = [];
  const waiting = [];
  child.on('message', (m) => {
    const i = waiting.findIndex((w) => w.type === m.type);
    if (i >= 0) waiting.splice(i, 1)[0].resolve(m);
    else inbox.push(m);
  });
  const next = (type) => {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { type, resolve, reject };
      waiting.push(w);
      setTimeout(() => {
        const k = waiting.indexOf(w);
        if (k >= 0) reject(new Error(`world: no ${waiting.splice(k, 1)[0].type} within 30 s`));
      }, 30_000).unref();
    });
  };
  const ready = await next('ready');
  return {
    child,
    appPort: ready.appPort,
    load: async (port, concurrency, rate) => {
      child.send({ type: 'load', port, concurrency, rate });
      await next('loading');
    },
    window: async () => {
      child.send({ type: 'window' });
      return (await next('window')).stats;
    },
    stop: async () => {
      child.send({ type: 'stop' });
      return (await next('stopped')).stats;
    },
    exit: () => child.send({ type: 'exit' }),
  };
}

/** Starts flagman on a fresh config folder; its access log appends to `logFile`. */
async function flagman(build, world, logFile) {
  const etc = tempDir('flagman-cw-etc-');
  let flagsDir = path.join(etc, 'flags');
  if (cfg.flags === 'apart') flagsDir = path.join(tempDir('flagman-cw-flags-'), 'flags');
  fs.mkdirSync(flagsDir, { mode: 0o755 });
  fs.writeFileSync(path.join(flagsDir, 'MAINT'), '0\n');
  const file = path.join(etc, 'flagman.yaml');
  fs.writeFileSync(file, config(world.appPort, cfg.flags === 'apart' ? flagsDir : './flags'));
  const out = fs.openSync(logFile(etc), 'a');
  try {
    const prefix = cfg.cpu === null ? [] : ['taskset', '-c', String(cfg.cpu)];
    const fm = await startFlagman(build.cli, file, { prefix, stdout: out, onSpawn: adopt });
    return { fm, etc };
  } finally {
    fs.closeSync(out);
  }
}

/** flagman's CPU over `fn()`, as % of one core and in ticks; with the CPU other processes used. */
async function cpuOver(pids, pid, fn) {
  const c0 = cpuTicks(pid);
  const t0 = performance.now();
  const foreign = foreignWindow(pids);
  const r = await fn();
  const ticks = cpuTicks(pid) - c0;
  const wall = (performance.now() - t0) / 1000;
  return { ticks, pct: Math.round((ticks / ticksPerSecond() / wall) * 1000) / 10, foreign: foreign(), result: r };
}

async function appendWindow(etc) {
  const child = spawnPinned(
    otherCpu,
    process.execPath,
    [path.join(root, 'bench/lib/appender.js'), path.join(etc, 'app.log'), String(cfg.appendRate), String(cfg.seconds)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return JSON.parse(
    await firstLine(child, child.stdout, (l) => (l.startsWith('{') ? l : null), { timeoutMs: (cfg.seconds + 30) * 1000, what: 'appender' }),
  );
}

const usPerRequest = (ticks, requests) => (requests > 0 ? Math.round(((ticks / ticksPerSecond()) * 1e6) / requests) : null);

/** Paced load on `port`: 1 s of warm-up, then flagman's CPU over `seconds` of it, per request. */
async function requestWindow(world, pids, pid, port) {
  await world.load(port, 4, cfg.reqRate);
  await delay(1000);
  await world.window(); // the warm-up's requests are not counted
  const w = await cpuOver(pids, pid, async () => {
    await delay(cfg.seconds * 1000);
    return world.window();
  });
  await world.stop();
  return {
    requests: w.result.n,
    rps: w.result.rps,
    p99: w.result.p99,
    errors: w.result.errors,
    foreign: w.foreign,
    us: usPerRequest(w.ticks, w.result.n),
  };
}

async function measure(build, world, round) {
  const row = { build: build.name, round };
  const pidsOf = (fm) => () => [process.pid, world.child.pid, fm.pid];
  // flagman's access log appends to access.log in its config folder.
  const { fm, etc } = await flagman(build, world, (d) => path.join(d, 'access.log'));
  try {
    await delay(1000);
    const idle = await cpuOver(pidsOf(fm), fm.pid, () => delay(cfg.seconds * 1000));
    row.idleCpuPct = idle.pct;
    row.idleForeign = idle.foreign;
    const appends = await cpuOver(pidsOf(fm), fm.pid, () => appendWindow(etc));
    row.appendCpuPct = appends.pct;
    row.appendRate = appends.result.rate;
    row.appendForeign = appends.foreign;
    if (cfg.reqRate > 0) {
      row.reqBeside = await requestWindow(world, pidsOf(fm), fm.pid, fm.port);
      row.reqBesideUs = row.reqBeside.us;
    }
  } finally {
    await fm.stop();
  }
  if (cfg.reqRate > 0) {
    const logs = tempDir('flagman-cw-logs-');
    const other = await flagman(build, world, () => path.join(logs, 'access.log'));
    try {
      await delay(1000);
      row.reqApart = await requestWindow(world, pidsOf(other.fm), other.fm.pid, other.fm.port);
      row.reqApartUs = row.reqApart.us;
    } finally {
      await other.fm.stop();
    }
  }
  log(
    `${build.name} round ${round}: idle ${row.idleCpuPct}%, appends ${row.appendRate}/s → ${row.appendCpuPct}%` +
      (cfg.reqRate > 0 ? `, µs/req log beside ${row.reqBesideUs} · apart ${row.reqApartUs}` : ''),
  );
  return row;
}

function machine() {
  let commit = null;
  const r = spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', timeout: 5000 });
  if (r.status === 0) commit = r.stdout.trim();
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
    loadavg1: loadavg1(),
    commit,
  };
}

const median = (xs) => {
  const s = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (s.length === 0) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const mach = machine();
  log(
    `config-watch bench: ${builds.map((b) => `${b.name} = ${path.relative(root, b.cli) || b.cli}`).join(', ')}; ${cfg.rounds} rounds × ${cfg.seconds} s windows; ${cfg.appendRate} appends/s; ${cfg.reqRate} req/s; flags ${cfg.flags}`,
  );
  const world = await startWorld();
  const rows = [];
  let error = null;
  try {
    for (let round = 1; round <= cfg.rounds; round++) {
      // Interleaved, alternating which build goes first: a drift of the machine hits both alike.
      const order = round % 2 ? builds : [...builds].reverse();
      for (const b of order) rows.push(await measure(b, world, round));
    }
  } catch (err) {
    error = String(err?.stack ?? err);
    log(`error: ${error}`);
  } finally {
    world.exit();
  }
  const summary = builds.map((b) => {
    const mine = rows.filter((r) => r.build === b.name);
    const all = (k) => mine.map((r) => r[k]);
    return {
      build: b.name,
      cli: path.relative(root, b.cli) || b.cli,
      idleCpuPct: median(all('idleCpuPct')),
      appendRate: median(all('appendRate')),
      appendCpuPct: median(all('appendCpuPct')),
      reqBesideUs: median(all('reqBesideUs')),
      reqApartUs: median(all('reqApartUs')),
      foreignMax: Math.max(
        0,
        ...mine
          .flatMap((r) => [r.idleForeign, r.appendForeign, r.reqBeside?.foreign, r.reqApart?.foreign])
          .filter((x) => typeof x === 'number'),
      ),
      rounds: {
        idleCpuPct: all('idleCpuPct'),
        appendCpuPct: all('appendCpuPct'),
        reqBesideUs: all('reqBesideUs'),
        reqApartUs: all('reqApartUs'),
      },
    };
  });
  const cols = [
    { key: 'build', title: 'build', align: 'left' },
    { key: 'idle', title: 'idle CPU %' },
    { key: 'appends', title: `CPU % with ${cfg.appendRate} appends/s beside the config` },
    ...(cfg.reqRate > 0
      ? [
          { key: 'beside', title: 'µs/req, access log beside the config' },
          { key: 'apart', title: 'µs/req, access log elsewhere' },
        ]
      : []),
    { key: 'foreign', title: 'other cpu% (max)' },
  ];
  const each = (xs, d = 1) => xs.map((x) => (typeof x === 'number' ? x.toFixed(d) : '-')).join(' · ');
  console.log('');
  console.log(
    `medians of ${cfg.rounds} rounds (each round's figure after it); CPU of flagman's process (/proc/PID/stat), % of one core; ${cfg.reqRate} req/s paced; flags ${cfg.flags}`,
  );
  console.log(
    table(
      cols,
      summary.map((s) => ({
        build: `${s.build} (${s.cli})`,
        idle: `${fmt(s.idleCpuPct)} (${each(s.rounds.idleCpuPct)})`,
        appends: `${fmt(s.appendCpuPct)} (${each(s.rounds.appendCpuPct)}) at ${s.appendRate}/s`,
        beside: `${fmt(s.reqBesideUs, 0)} (${each(s.rounds.reqBesideUs, 0)})`,
        apart: `${fmt(s.reqApartUs, 0)} (${each(s.rounds.reqApartUs, 0)})`,
        foreign: s.foreignMax,
      })),
    ),
  );
  console.log(
    JSON.stringify({
      bench: 'config-watch',
      machine: mach,
      options: cfg,
      summary,
      rows,
      error,
      seconds: Math.round((performance.now() - T0) / 100) / 10,
    }),
  );
  return error ? 2 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
