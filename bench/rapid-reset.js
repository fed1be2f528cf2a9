#!/usr/bin/env node
// What an HTTP/2 rapid reset (CVE-2023-44487) does to the other clients of a TLS frontend: while a
// victim client makes small requests one after the other on its own HTTP/2 connection, an attacker
// opens and at once resets --streams streams on another connection (HEADERS then RST_STREAM, back
// to back, --batch pairs per write: test/helpers/rapid-reset.js). The victim's latency during the
// attack is the stall the attack causes. Build first:
//
//   npm run build && node bench/rapid-reset.js                       # 5 rounds: node, flagman
//   node bench/rapid-reset.js --base-cli /tmp/base/bin/flagman       # and another build of flagman
//   node bench/rapid-reset.js --help                                 # every option
//
// Targets, each started afresh for each run, on 127.0.0.1:0, with the same certificate (a test CA's,
// made with openssl): `node`, a bare node:http2 secure server answering 100 bytes itself
// (bench/lib/h2-origin.js); `flagman`, this build's `flagman` command with one TLS frontend, one
// rule, one server (the bench backend, bench/lib/backend.js, 100 bytes), the access log on (to
// /dev/null) and the admin endpoint on; `flagman-base`, the same config run by --base-cli. The
// server under test is pinned to --server-cpu; the bench, the attacker and the backend to
// --client-cpu. Rounds are interleaved (node, flagman-base, flagman, node, …).
//
// Per run: the victim warms up (200 requests), runs alone for 500 ms, then the attacker process is
// started; the attack window lasts until the attacker has exited (the server closed its connection,
// or --linger ms after its last write). Reported: the victim's latency in the 500 ms before the
// attack (p50, and max: the noise floor of a busy machine) and over the requests that overlapped
// the window (n, p50, p99, max), the server's CPU time in the window, what the attacker saw (streams
// sent, GOAWAY code, connection closed by the server), and for flagman the requests it sent to the
// backend beyond the victim's (from /status) and its h2.rapid_reset events. Exit code 0,
// or 2 on an error. Traffic goes to 127.0.0.1 only; processes are stopped by PID; temp dirs removed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { testCA } from '../test/helpers/certs.js';
import { int, parseOptions } from './lib/cli.js';
import { startFlagman } from './lib/flagman.js';
import { have } from './lib/install.js';
import { adopt, firstLine, ownExit, spawnPinned, stopChild, tempDir } from './lib/owned.js';
import { foreignWindow, ticksPerSecond, treeCpuTicks } from './lib/proc.js';
import { summary, table } from './lib/stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const now = () => performance.now();
const TARGETS = ['node', 'flagman-base', 'flagman'];

const HELP = `usage: node bench/rapid-reset.js [options]
  --rounds N        interleaved rounds (default 5)
  --streams N       streams the attacker opens and resets (default 2000)
  --batch N         HEADERS+RST_STREAM pairs per write (default 100)
  --linger MS       how long the attacker waits for the server to close after its last write (default 500)
  --only LIST       targets, comma-separated (default: node, flagman, and flagman-base with --base-cli)
  --cli PATH        the flagman command (default bin/flagman; a .js file is run with node)
  --base-cli PATH   another build's flagman command (bin/flagman or dist/cli/main.js): target flagman-base
  --server-cpu N    the core the server under test is pinned to (default 1; -1: no pinning)
  --client-cpu N    the core of the bench, the attacker and the backend (default 0; -1: no pinning)
  --json FILE       also write every run as JSON to FILE
  --keep            keep the temp directories
  --help`;

const opt = parseOptions(
  {
    rounds: { type: 'string', default: '5' },
    streams: { type: 'string', default: '2000' },
    batch: { type: 'string', default: '100' },
    linger: { type: 'string', default: '500' },
    only: { type: 'string' },
    cli: { type: 'string', default: path.join(root, 'bin/flagman') },
    'base-cli': { type: 'string' },
    'server-cpu': { type: 'string', default: '1' },
    'client-cpu': { type: 'string', default: '0' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
  HELP,
);
const pin = (name) => (opt[name] === '-1' || !have('taskset') ? null : int(name, opt[name]));
const cfg = {
  rounds: int('rounds', opt.rounds, 1),
  streams: int('streams', opt.streams, 1),
  batch: int('batch', opt.batch, 1),
  linger: int('linger', opt.linger),
  cli: path.resolve(opt.cli),
  baseCli: opt['base-cli'] ? path.resolve(opt['base-cli']) : null,
  serverCpu: pin('server-cpu'),
  clientCpu: pin('client-cpu'),
};
cfg.only = opt.only ? opt.only.split(',').map((s) => s.trim()) : TARGETS.filter((t) => t !== 'flagman-base' || cfg.baseCli !== null);
for (const t of cfg.only) {
  if (!TARGETS.includes(t)) {
    console.error(`--only: unknown target ${t} (known: ${TARGETS.join(', ')})`);
    process.exit(2);
  }
}
if (cfg.only.includes('flagman-base') && cfg.baseCli === null) {
  console.error('--only flagman-base needs --base-cli PATH');
  process.exit(2);
}
ownExit({ keep: opt.keep });
const log = (m) => console.error(`[rapid-reset] ${m}`);
const round1 = (x, d = 1) => (x === null || x === undefined ? null : Math.round(x * 10 ** d) / 10 ** d);
// Every thread of this process (-a), V8's too: pinning the first one alone leaves them on any core.
if (cfg.clientCpu !== null) execFileSync('taskset', ['-apc', String(cfg.clientCpu), String(process.pid)], { stdio: 'ignore' });

function machine() {
  let commit = null;
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? os.cpus()[0]?.model ?? null;
  return { date: new Date().toISOString(), nproc: os.cpus().length, cpu, kernel: os.release(), node: process.version, commit };
}

// ---------------------------------------------------------------------------------------------
// Setup: certificates, the backend, the servers under test.

const certDir = tempDir('flagman-bench-certs-');
const ca = await testCA(certDir);
const site = await ca.leaf('site', ['a.test']);

async function startBackend() {
  const child = spawnPinned(cfg.clientCpu, process.execPath, [path.join(root, 'bench/lib/backend.js'), '1'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const { ports } = await firstLine(child, child.stdout, (l) => (l.startsWith('{') ? JSON.parse(l) : null), { what: 'backend' });
  return { pid: child.pid, port: ports[0], stop: () => stopChild(child) };
}

const flagmanYaml = (backendPort) => `# written by bench/rapid-reset.js
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
log: { access: on }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    tls: { cert: ./site.crt, key: ./site.key }
    rules:
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:${backendPort}" }
`;

/** Starts `target`; resolves with {pid, port, adminPort, stop}. */
async function startTarget(target, backend) {
  if (target === 'node') {
    const child = spawnPinned(cfg.serverCpu, process.execPath, [path.join(root, 'bench/lib/h2-origin.js'), site.cert, site.key], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const { port } = await firstLine(child, child.stdout, (l) => (l.startsWith('{') ? JSON.parse(l) : null), { what: 'h2-origin' });
    return { pid: child.pid, port, adminPort: null, stop: () => stopChild(child) };
  }
  const dir = tempDir(`flagman-bench-${target}-`);
  fs.mkdirSync(path.join(dir, 'flags'));
  fs.copyFileSync(site.cert, path.join(dir, 'site.crt'));
  fs.copyFileSync(site.key, path.join(dir, 'site.key'));
  const file = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(file, flagmanYaml(backend.port));
  const cli = target === 'flagman' ? cfg.cli : cfg.baseCli;
  const fm = await startFlagman(cli, file, {
    cwd: dir,
    prefix: cfg.serverCpu === null ? [] : ['taskset', '-c', String(cfg.serverCpu)],
    onSpawn: adopt,
  });
  const port = fm.events.find((e) => e.event === 'listen' && e.frontend === 'web')?.port;
  const adminPort = fm.events.find((e) => e.event === 'listen' && e.admin)?.port ?? null;
  return { pid: fm.pid, port, adminPort, events: fm.events, stop: () => fm.stop() };
}

/** Requests flagman sent to the backend's server so far (/status), or null. */
function serverRequests(adminPort) {
  if (adminPort === null) return Promise.resolve(null);
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port: adminPort, path: '/status', agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body).backends.app.servers.app1.requests);
          } catch {
            resolve(null);
          }
        });
      })
      .on('error', () => resolve(null));
  });
}

// ---------------------------------------------------------------------------------------------
// The victim: sequential GETs on one HTTP/2 connection, each one's start and end recorded.

function victim(port) {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.caPem, servername: 'a.test' });
  const samples = [];
  const errors = [];
  let goaway = null;
  session.on('error', (err) => errors.push(`session: ${err.message}`));
  session.on('goaway', (code) => (goaway = code));
  const one = () =>
    new Promise((resolve) => {
      const t0 = now();
      const req = session.request({ ':path': '/100', ':authority': 'a.test' });
      let bytes = 0;
      req.on('data', (d) => (bytes += d.length));
      req.on('end', () => {
        samples.push({ t0, t1: now(), ok: bytes === 100 });
        resolve();
      });
      req.on('error', (err) => {
        errors.push(err.message);
        resolve();
      });
      req.end();
    });
  let running = false;
  let loop = null;
  return {
    samples,
    errors,
    get goaway() {
      return goaway;
    },
    async warm(n) {
      for (let i = 0; i < n; i++) await one();
      samples.length = 0;
    },
    start() {
      running = true;
      loop = (async () => {
        while (running && !session.destroyed) await one();
      })();
    },
    async stop() {
      running = false;
      await loop;
      session.close();
    },
  };
}

function attack(port) {
  const args = { port, caFile: ca.ca, servername: 'a.test', streams: cfg.streams, batch: cfg.batch, lingerMs: cfg.linger };
  const child = spawnPinned(cfg.clientCpu, process.execPath, [path.join(root, 'bench/lib/rapid-reset-client.js'), JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return firstLine(child, child.stdout, (l) => (l.startsWith('{') ? JSON.parse(l) : null), { what: 'attacker', timeoutMs: 120_000 }).then(
    async (r) => {
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
      return r;
    },
  );
}

async function run(target, round, backend) {
  const s = await startTarget(target, backend);
  const v = victim(s.port);
  await v.warm(200);
  const hz = ticksPerSecond();
  const foreign = foreignWindow(() => [process.pid, backend.pid, s.pid]);
  v.start();
  await delay(500);
  const tR = now();
  const up0 = await serverRequests(s.adminPort);
  const tA = now();
  const cpu0 = treeCpuTicks(s.pid);
  const a = await attack(s.port);
  const tB = now();
  const cpu1 = treeCpuTicks(s.pid);
  await delay(300);
  await v.stop();
  const up1 = await serverRequests(s.adminPort);
  const other = foreign();
  const events = s.events ?? [];
  await s.stop();
  const quiet = v.samples.filter((x) => x.t1 < tA).map((x) => x.t1 - x.t0);
  const during = v.samples.filter((x) => x.t1 >= tA && x.t0 <= tB);
  const lat = summary(during.map((x) => x.t1 - x.t0));
  // The backend requests that were not the victim's (± the one in flight as /status was read).
  const victims = v.samples.filter((x) => x.t0 >= tR).length;
  const upstream = up0 === null || up1 === null ? null : Math.max(0, up1 - up0 - victims);
  const limits = events.filter((e) => e.event === 'h2.rapid_reset').length;
  return {
    target,
    round,
    quietP50: round1(summary(quiet).p50, 2),
    quietMax: round1(summary(quiet).max),
    n: lat.n,
    p50: lat.p50,
    p99: lat.p99,
    max: lat.max,
    windowMs: Math.round(tB - tA),
    // null when the server was gone before the end (its ticks can no longer be read)
    serverCpuMs: cpu0 === null || cpu1 === null || cpu1 < cpu0 ? null : Math.round(((cpu1 - cpu0) / hz) * 1000),
    sent: a.sent,
    goaway: a.goaway?.code ?? null,
    closed: a.closed,
    upstream,
    limitEvents: target === 'node' ? null : limits,
    victimErrors: v.errors.length + during.filter((x) => !x.ok).length,
    victimGoaway: v.goaway,
    otherCpuPct: other,
  };
}

// ---------------------------------------------------------------------------------------------

const mach = machine();
log(`machine: ${mach.nproc} × ${mach.cpu}, Linux ${mach.kernel}, node ${mach.node}; commit ${mach.commit}`);
log(
  `targets: ${cfg.only.join(', ')}; ${cfg.rounds} rounds; ${cfg.streams} streams, ${cfg.batch} per write; server cpu ${cfg.serverCpu ?? '-'}, clients cpu ${cfg.clientCpu ?? '-'}`,
);
const backend = await startBackend();
const runs = [];
try {
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const target of cfg.only) {
      const r = await run(target, round, backend);
      runs.push(r);
      log(
        `round ${round} ${target}: victim max ${r.max} ms, p99 ${r.p99} ms (n ${r.n}); attacker sent ${r.sent}, goaway ${r.goaway}, closed ${r.closed}; server cpu ${r.serverCpuMs} ms; upstream ${r.upstream ?? '-'}`,
      );
    }
  }
} catch (err) {
  log(`error: ${err.stack ?? err}`);
  await backend.stop();
  process.exit(2);
}
await backend.stop();

const median = (xs) => {
  const s = xs.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const range = (xs) => {
  const s = xs.filter((x) => x !== null && x !== undefined);
  return s.length === 0 ? '-' : `${Math.min(...s)}–${Math.max(...s)}`;
};
const rows = cfg.only.map((target) => {
  const rs = runs.filter((r) => r.target === target);
  const pick = (k) => rs.map((r) => r[k]);
  return {
    target,
    rounds: rs.length,
    quietP50: round1(median(pick('quietP50')), 2),
    quietMax: round1(median(pick('quietMax'))),
    p99: round1(median(pick('p99'))),
    max: round1(median(pick('max'))),
    maxRange: range(pick('max')),
    serverCpuMs: median(pick('serverCpuMs')),
    sent: median(pick('sent')),
    goaway: [...new Set(pick('goaway').map((g) => g ?? '-'))].join('/'),
    closed: `${rs.filter((r) => r.closed).length}/${rs.length}`,
    upstream: median(pick('upstream')),
    limitEvents: target === 'node' ? null : pick('limitEvents').reduce((a, b) => a + b, 0),
    victimErrors: pick('victimErrors').reduce((a, b) => a + b, 0),
    otherCpuPct: range(pick('otherCpuPct')),
  };
});

console.log(
  `\nflagman bench/rapid-reset.js — ${mach.date}; ${mach.nproc} CPUs (${mach.cpu}), node ${mach.node}; commit ${mach.commit}; ${cfg.streams} streams reset, ${cfg.batch} per write; medians of ${cfg.rounds} rounds\n`,
);
console.log(
  table(
    [
      { key: 'target', title: 'target', align: 'left' },
      { key: 'quietP50', title: 'victim p50 before ms' },
      { key: 'quietMax', title: 'max before ms' },
      { key: 'p99', title: 'p99 during ms' },
      { key: 'max', title: 'max during ms' },
      { key: 'maxRange', title: 'max range ms' },
      { key: 'serverCpuMs', title: 'server cpu ms' },
      { key: 'sent', title: 'streams sent' },
      { key: 'goaway', title: 'goaway' },
      { key: 'closed', title: 'closed' },
      { key: 'upstream', title: 'upstream reqs' },
      { key: 'limitEvents', title: 'h2.rapid_reset' },
      { key: 'victimErrors', title: 'victim errors' },
      { key: 'otherCpuPct', title: 'other cpu%' },
    ],
    rows,
  ),
);
const result = {
  bench: 'rapid-reset',
  machine: mach,
  options: {
    rounds: cfg.rounds,
    streams: cfg.streams,
    batch: cfg.batch,
    linger: cfg.linger,
    serverCpu: cfg.serverCpu,
    clientCpu: cfg.clientCpu,
  },
  rows,
};
if (opt.json) fs.writeFileSync(opt.json, `${JSON.stringify({ ...result, runs }, null, 1)}\n`);
console.log(`\n${JSON.stringify(result)}`);
process.exit(0);
