#!/usr/bin/env node
// TLS termination next to HAProxy and nginx. Build first:
//
//   npm run build && node bench/tls.js            # 3 interleaved rounds × 9 cases × 3 proxies × 5 s
//   node bench/tls.js --paced 1000                 # and then each keep-alive case at 1,000 req/s offered
//   node bench/tls.js --help                       # every option
//
// Each proxy terminates TLS on 127.0.0.1 (pinned to --proxy-cpu) in front of the Node backend. The
// rounds drive it as fast as it answers (wrk, h2load, openssl s_time on --load-cpu): CPU µs per
// request, req/s, handshakes (full, resumed, and wrk's mix of the two); their p99 is each proxy's queue at saturation. With --paced R a second phase offers
// every proxy the SAME R req/s (bench/lib/load.js startPacedLoad, in this process pinned to
// --load-cpu: latency from each request's scheduled time, no coordinated omission) over HTTPS
// keep-alive (lib/http.js KeepAliveClient, tls) and HTTP/2 (lib/h2-client.js H2Client), 100 B and
// 64 KiB: p50/p99/p99 per second at equal load, ratios to HAProxy and nginx, the proxy's CPU %.
// Output: tables and one JSON line. Exit code 0, or 2 on an error (no pass mark). Traffic goes to
// 127.0.0.1 only; processes are stopped by PID; temp directories are removed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { commaList, defaultNames, int, parseOptions, requireBuilt } from './lib/cli.js';
import { assertKnown, flagman, namedPortServer } from './lib/contenders.js';
import { runH2load } from './lib/h2load.js';
import { runSTime } from './lib/s-time.js';
import { haproxyCommand } from './lib/haproxy.js';
import { ensureTools } from './lib/install.js';
import { nginxCommand } from './lib/nginx.js';
import { H2Client } from './lib/h2-client.js';
import { KeepAliveClient } from './lib/http.js';
import { failureSummary, p99PerSecond, startPacedLoad } from './lib/load.js';
import { firstLine, spawnPinned, stopChild, tempDir } from './lib/owned.js';
import { foreignWindow, ticksPerSecond, treeCpuTicks, treeRssKB } from './lib/proc.js';
import { summary, table } from './lib/stats.js';
import { KEY_KINDS, makeCertificate, resumption } from './lib/tls-tools.js';
import { runWrk } from './lib/wrk.js';
import { machine, median, round1, startBackend, startRun } from './lib/run.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const now = () => performance.now();

/** name → {describe, optional, start(ctx)}: ctx.tls is {cert, key, pem} of the certificate to serve. */
const PROXIES = {
  'flagman-tls': {
    describe: 'flagman, realistic config (bench/lib/flagman-configs.js) with `tls: {cert, key}` on its frontend',
    start: (ctx) => flagman('realistic-tls', { ...ctx, configOptions: ctx.tls }),
  },
  haproxy: {
    describe: "HAProxy as bench/proxies.js runs it, `bind … ssl crt PEM alpn h2,http/1.1`, TLS at HAProxy's defaults",
    start: (ctx) => namedPortServer('haproxy', (dir, o) => haproxyCommand(dir, { ...o, tls: ctx.tls }), ctx),
  },
  nginx: {
    describe: "nginx as bench/proxies.js runs it, `listen … ssl http2`, ssl_protocols TLSv1.2 TLSv1.3, TLS at nginx's defaults",
    start: (ctx) => namedPortServer('nginx', (dir, o) => nginxCommand(dir, { ...o, tls: ctx.tls }), ctx),
  },
  // What Node's own TLS and HTTP/2 stack costs, with no proxying: the part of flagman's figures that
  // is Node's.
  'node-h2': {
    describe:
      "opt-in yardstick: a bare node:http2 secure server (allowHTTP1) answering each case's body itself, no backend (lib/h2-origin.js)",
    optional: true,
    start: async ({ cpu, tls }) => {
      const script = path.join(root, 'bench/lib/h2-origin.js');
      const child = spawnPinned(cpu, process.execPath, [script, tls.cert, tls.key, String(cfg.maxSeconds + 60)], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      const { port } = await firstLine(child, child.stdout, (l) => (l.startsWith('{') ? JSON.parse(l) : null), { what: 'h2-origin' });
      return { pid: child.pid, port, stop: () => stopChild(child) };
    },
  },
  'flagman-base': {
    describe: 'flagman-tls run by --base-cli (another build, to compare a change against)',
    optional: true,
    start: (ctx) => {
      if (ctx.baseCli === null)
        throw new Error('flagman-base needs --base-cli PATH (the flagman command or dist/cli/main.js of another build)');
      return flagman('realistic-tls', { ...ctx, cli: ctx.baseCli, configOptions: ctx.tls });
    },
  },
};

/**
 * name → {describe, tool, key (certificate), path, payload, close (a new connection per request),
 * paced (the client of the paced phase: h1 or h2; none for the handshake cases)}
 */
const CASES = {
  'h1-100B': {
    describe: 'HTTPS HTTP/1.1 keep-alive, 100-byte response',
    tool: 'wrk',
    key: 'ecdsa',
    path: '/100',
    payload: 100,
    paced: 'h1',
  },
  'h1-64KiB': {
    describe: 'HTTPS HTTP/1.1 keep-alive, 64 KiB response',
    tool: 'wrk',
    key: 'ecdsa',
    path: '/64k',
    payload: 65536,
    paced: 'h1',
  },
  'hs-ecdsa': {
    describe:
      "a new TLS connection per request (wrk, Connection: close; wrk offers its last connection's session), ECDSA P-256 certificate, 100 B",
    tool: 'wrk',
    key: 'ecdsa',
    path: '/100',
    payload: 100,
    close: true,
  },
  'hs-rsa': {
    describe: 'a new TLS connection per request (wrk, as hs-ecdsa), RSA-2048 certificate, 100 B',
    tool: 'wrk',
    key: 'rsa',
    path: '/100',
    payload: 100,
    close: true,
  },
  // What the wrk cases mix, apart: wrk resumes as often as a proxy lets its last session resume,
  // which differs between them (bench/RESULTS.md, "TLS handshakes: what the clients resume").
  'hs-full-ecdsa': {
    describe: 'a full TLS handshake per connection (openssl s_time -new, 4 clients, one HTTP/1.0 request each), ECDSA P-256',
    tool: 's_time',
    mode: 'new',
    key: 'ecdsa',
    path: '/100',
    payload: 100,
  },
  'hs-full-rsa': {
    describe: 'a full TLS handshake per connection (as hs-full-ecdsa), RSA-2048',
    tool: 's_time',
    mode: 'new',
    key: 'rsa',
    path: '/100',
    payload: 100,
  },
  'hs-resumed-ecdsa': {
    describe: 'a resumed TLS handshake per connection (openssl s_time -reuse: each client offers its first session), ECDSA P-256',
    tool: 's_time',
    mode: 'reuse',
    key: 'ecdsa',
    path: '/100',
    payload: 100,
  },
  'h2-100B': {
    describe: 'HTTP/2 over TLS (h2load), 100-byte response',
    tool: 'h2load',
    key: 'ecdsa',
    path: '/100',
    payload: 100,
    paced: 'h2',
  },
  'h2-64KiB': {
    describe: 'HTTP/2 over TLS (h2load), 64 KiB response',
    tool: 'h2load',
    key: 'ecdsa',
    path: '/64k',
    payload: 65536,
    paced: 'h2',
  },
};

/** The paced phase's client per protocol (startPacedLoad's makeClient), one request in flight on each. */
const PACED_CLIENTS = {
  h1: { describe: 'HTTPS HTTP/1.1 keep-alive connections', make: (port, o) => new KeepAliveClient(port, { ...o, tls: true }) },
  // Windows of 16 MiB, as h2load's are large: with HTTP/2's default 65,535 bytes a 64 KiB answer
  // would wait a WINDOW_UPDATE from this client for its last byte.
  h2: {
    describe: 'HTTP/2 sessions over TLS, one stream at a time, 16 MiB windows',
    make: (port, o) => new H2Client(port, { ...o, window: 2 ** 24 }),
  },
};
/** Unmeasured seconds at the start of each paced run: the connections are opened (handshakes) and settle. */
const PACED_LEAD_S = 1;

const HELP = `usage: node bench/tls.js [options]
  --rounds N         interleaved rounds (default 3, at least 1)
  --duration S       seconds per run (default 5)
  --warmup S         unmeasured seconds per case and proxy before round 1 (default 2)
  --connections N    wrk connections (default 50; the handshake cases too)
  --h2-clients N     h2load connections (default 20)
  --h2-streams N     h2load concurrent streams per connection (default 10)
  --only LIST        proxies, comma-separated (default ${Object.keys(PROXIES)
    .filter((k) => !PROXIES[k].optional)
    .join(', ')}; also: node-h2, flagman-base)
  --cases LIST       cases, comma-separated (default all): ${Object.keys(CASES).join(', ')}
  --proxy-cpu N      the core the proxy is pinned to (default 1)
  --load-cpu N       the core of the load tool and the backend (default 0)
  --json FILE        also write every figure (all rounds) as JSON to FILE
  --no-install       do not apt-get anything (fail if a tool is missing)
  --cli PATH         the flagman command (default bin/flagman; a .js file is run with node as it is)
  --base-cli PATH    the command of another build, run by the opt-in proxy flagman-base
  --keep             keep the temp directories
  --max-seconds S    overall bound (default 1800)
  --help

paced phase (off by default): the same offered rate for every proxy, so their latencies compare
  --paced R          after the rounds, offer R req/s to each proxy in each case of --cases that
                     keeps its connections (h1-100B, h1-64KiB, h2-100B, h2-64KiB), interleaved per
                     round as the rounds are; latency from each request's scheduled time (no
                     coordinated omission). 0 = off (default). Suggested: --paced 1000. The load
                     runs in this process, pinned to --load-cpu beside the backend: on a 2-core
                     EPYC VM it keeps 2,000 req/s over HTTPS keep-alive (100 B and 64 KiB, 15-35 %
                     of its core) and HTTP/2 with 100 B (about 40 %), but not HTTP/2 with 64 KiB
                     (node's HTTP/2 client: about 1,000-1,900 of 2,000 at 60 % of the core, the
                     rest the backend's). A row whose achieved req/s was 5 % or more off the
                     offered rate in a round is marked *: its latencies are the load's, not the
                     proxy's. "load loop p99" and "loop max" (this process's event-loop delay) are
                     the load's own lateness, whatever the proxy: h2 rows' p99 is mostly it (node's
                     HTTP/2 client costs 1.5-3 times the CPU per request of the h1 one, and stalls
                     more: 25-80 ms p99 at 1,000 req/s through every proxy alike)
  --paced-seconds S  measured seconds per paced run (default 10), after ${PACED_LEAD_S} s unmeasured
  --paced-clients N  paced connections sharing the rate (default 20), each with one request in flight:
                     h1 cases, N HTTPS keep-alive connections; h2 cases, N HTTP/2 sessions (H2Client),
                     one stream at a time each. N sessions rather than fewer with concurrent streams:
                     at an offered rate below saturation few requests are in flight at once
                     (rate × latency, about 2 at 2,000 req/s and 1 ms), so streams would seldom
                     overlap anyway, and the same N connections as h2load's -c keep the proxy's
                     per-connection work alike in both phases and in both protocols
  --only-paced       the paced phase only: no warm-up at full speed and no rounds of wrk/h2load`;

const opt = parseOptions(
  {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    'h2-clients': { type: 'string', default: '20' },
    'h2-streams': { type: 'string', default: '10' },
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
    paced: { type: 'string', default: '0' },
    'paced-seconds': { type: 'string', default: '10' },
    'paced-clients': { type: 'string', default: '20' },
    'only-paced': { type: 'boolean', default: false },
  },
  HELP,
);

const cfg = {
  rounds: int('rounds', opt.rounds, 1),
  duration: int('duration', opt.duration, 1),
  warmup: int('warmup', opt.warmup),
  connections: int('connections', opt.connections, 1),
  h2Clients: int('h2-clients', opt['h2-clients'], 1),
  h2Streams: int('h2-streams', opt['h2-streams'], 1),
  only: commaList(opt.only, defaultNames(PROXIES)),
  cases: commaList(opt.cases, defaultNames(CASES)),
  proxyCpu: int('proxy-cpu', opt['proxy-cpu']),
  loadCpu: int('load-cpu', opt['load-cpu']),
  maxSeconds: int('max-seconds', opt['max-seconds'], 10),
  cli: path.resolve(opt.cli),
  baseCli: opt['base-cli'] === undefined ? null : path.resolve(opt['base-cli']),
  paced: int('paced', opt.paced),
  pacedSeconds: int('paced-seconds', opt['paced-seconds'], 1),
  pacedClients: int('paced-clients', opt['paced-clients'], 1),
  onlyPaced: opt['only-paced'],
};
try {
  assertKnown('proxy', cfg.only, PROXIES);
  assertKnown('case', cfg.cases, CASES);
  if (cfg.onlyPaced && cfg.paced === 0) throw new Error('--only-paced needs --paced R');
  if (cfg.paced > 0 && !cfg.cases.some((cn) => CASES[cn].paced))
    throw new Error(`--paced: no case of --cases keeps its connections (${Object.keys(CASES).filter((cn) => CASES[cn].paced)})`);
} catch (err) {
  console.error(err.message);
  process.exit(2);
}
requireBuilt(cfg.cli);

const log = startRun({ keep: opt.keep, maxSeconds: cfg.maxSeconds });

try {
  if (!opt['no-install']) ensureTools(['haproxy', 'nginx', 'wrk', 'h2load', 'openssl', 'taskset'], log);
} catch (err) {
  log(`cannot install the tools: ${err.message}`);
  process.exit(2);
}

/** One HTTPS request (HTTP/1.1, certificate not checked: it is self-signed) through `port`, checking status and length. */
async function check(port, c) {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: c.path, servername: 'localhost', rejectUnauthorized: false, agent: false },
      (res) => {
        let n = 0;
        res.on('data', (d) => (n += d.length));
        res.on('end', () =>
          res.statusCode === 200 && n === c.payload
            ? resolve()
            : reject(new Error(`${c.path}: status ${res.statusCode}, ${n} bytes (want 200, ${c.payload})`)),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

// Files of the load tools live apart from the configs: flagman watches its config file's folder.
let loadDir = null;

async function measure(name, s, caseName, seconds, backend) {
  const c = CASES[caseName];
  const foreign = foreignWindow(() => [process.pid, backend.pid, s.pid]);
  const p0 = treeCpuTicks(s.pid);
  loadDir ??= tempDir('flagman-bench-load-');
  const w =
    c.tool === 's_time'
      ? await runSTime({ port: s.port, path: c.path, seconds, mode: c.mode, cpu: cfg.loadCpu })
      : c.tool === 'h2load'
        ? await runH2load({
            dir: loadDir,
            port: s.port,
            path: c.path,
            seconds,
            clients: cfg.h2Clients,
            streams: cfg.h2Streams,
            cpu: cfg.loadCpu,
          })
        : await runWrk({
            dir: loadDir,
            port: s.port,
            path: c.path,
            seconds,
            connections: cfg.connections,
            cpu: cfg.loadCpu,
            scheme: 'https',
            headers: c.close ? ['Connection: close'] : [],
          });
  const cpuS = (treeCpuTicks(s.pid) - p0) / ticksPerSecond();
  const cpuUs = w.requests === 0 ? null : (cpuS * 1e6) / w.requests;
  return {
    config: name,
    case: caseName,
    requests: w.requests,
    seconds: round1(w.seconds, 3),
    rps: round1(w.rps),
    p50: w.p50,
    p99: w.p99,
    max: w.max,
    errors: w.errors,
    cpuUs: round1(cpuUs),
    perCore: cpuUs ? round1(1e6 / cpuUs, 0) : null,
    corePct: round1((cpuS / w.seconds) * 100),
    rssMB: round1(treeRssKB(s.pid) / 1024),
    otherCpuPct: foreign(),
    resumedPct: w.resumedPct === undefined || w.resumedPct === null ? null : round1(w.resumedPct, 0),
  };
}

/**
 * One paced run: `cfg.paced` req/s offered to `s` for PACED_LEAD_S unmeasured seconds, then
 * `cfg.pacedSeconds` measured: achieved req/s, errors, latencies from the schedule, the proxy's CPU %
 * and this process's (the load's) over the measured window, and the p99 of this process's event-loop
 * delay and its max: a request the load sends or reads late by that much is late by it whatever the
 * proxy does.
 */
async function measurePaced(name, s, caseName, backend) {
  const c = CASES[caseName];
  const load = startPacedLoad(s.port, {
    clients: cfg.pacedClients,
    rate: cfg.paced,
    path: c.path,
    makeClient: PACED_CLIENTS[c.paced].make,
  });
  await delay(PACED_LEAD_S * 1000);
  load.take();
  const foreign = foreignWindow(() => [process.pid, backend.pid, s.pid]);
  const p0 = treeCpuTicks(s.pid);
  const u0 = process.cpuUsage();
  const loop = monitorEventLoopDelay({ resolution: 2 });
  loop.enable();
  const t0 = now();
  await delay(cfg.pacedSeconds * 1000);
  const w = await load.stop();
  loop.disable();
  const wall = (now() - t0) / 1000;
  const cpuS = (treeCpuTicks(s.pid) - p0) / ticksPerSecond();
  const u = process.cpuUsage(u0);
  const lat = summary(w.latencies);
  const rps = w.ok / w.seconds;
  return {
    config: name,
    case: caseName,
    offered: cfg.paced,
    requests: w.requests,
    ok: w.ok,
    seconds: round1(w.seconds, 3),
    rps: round1(rps),
    // Off schedule: 5 % or more short (the load's core could not keep up), or above (it was catching
    // up on a stall before the window).
    missed: Math.abs(rps - cfg.paced) >= 0.05 * cfg.paced,
    errors: w.failed,
    failures: w.failures,
    p50: lat.p50,
    p99: lat.p99,
    max: lat.max,
    p99s: round1(p99PerSecond(w, cfg.pacedSeconds), 2), // the window ends after pacedSeconds: its whole seconds
    corePct: round1((cpuS / wall) * 100),
    loadPct: round1(((u.user + u.system) / 1e6 / wall) * 100),
    loopP99: round1(loop.percentile(99) / 1e6, 2),
    loopMax: round1(loop.max / 1e6, 2),
    otherCpuPct: foreign(),
  };
}

async function run() {
  const mach = machine();
  log(
    `machine: ${mach.nproc} × ${mach.cpu}, Linux ${mach.kernel}, node ${mach.node}, haproxy ${mach.haproxy}, nginx ${mach.nginx}, wrk ${mach.wrk}, h2load ${mach.h2load}, openssl ${mach.openssl}`,
  );
  const certDir = tempDir('flagman-bench-certs-');
  const keys = [...new Set(cfg.cases.map((cn) => CASES[cn].key))];
  if (!keys.includes('ecdsa')) keys.unshift('ecdsa'); // the resumption check uses it
  const certs = Object.fromEntries(keys.map((k) => [k, makeCertificate(certDir, k)]));
  log(`certificates: ${keys.map((k) => KEY_KINDS[k].describe).join(', ')} in ${certDir}`);
  const backend = await startBackend({ cpu: cfg.loadCpu, maxSeconds: cfg.maxSeconds + 60 });
  log(`backend: pid ${backend.pid}, ports ${backend.ports.join(', ')} (cpu ${cfg.loadCpu})`);
  // started[key][name]: each proxy once per certificate.
  const started = {};
  for (const k of keys) {
    started[k] = {};
    for (const name of cfg.only) {
      const dir = tempDir(`flagman-bench-tls-${name}-${k}-`);
      started[k][name] = await PROXIES[name].start({
        dir,
        backendPorts: backend.ports,
        cpu: cfg.proxyCpu,
        cli: cfg.cli,
        baseCli: cfg.baseCli,
        tls: certs[k],
      });
      log(`${name} (${k}): pid ${started[k][name].pid}, port ${started[k][name].port}`);
    }
  }
  for (const cn of cfg.cases)
    for (const name of cfg.only)
      await check(started[CASES[cn].key][name].port, CASES[cn]).catch((err) => {
        throw new Error(`${name}: sanity request failed: ${err.message}`);
      });
  log('every proxy answers every case over HTTPS');

  const resumed = cfg.only.map((name) => {
    const port = started.ecdsa[name].port;
    const r13 = resumption(certDir, port, 'tls1_3');
    const r12 = resumption(certDir, port, 'tls1_2');
    log(
      `${name}: session resumed, TLS 1.3 ${r13.reused ? 'yes' : 'no'}, TLS 1.2 ${r12.reused ? 'yes' : 'no'} (${r13.cipher}, ${r12.cipher})`,
    );
    return { config: name, tls13: r13.reused, tls12: r12.reused, cipher13: r13.cipher, cipher12: r12.cipher };
  });

  if (cfg.warmup > 0 && !cfg.onlyPaced) {
    log(`warm-up: ${cfg.warmup} s per case and proxy`);
    for (const cn of cfg.cases) for (const name of cfg.only) await measure(name, started[CASES[cn].key][name], cn, cfg.warmup, backend);
  }
  const runs = [];
  const per = cfg.cases.length * cfg.only.length * (cfg.duration + 0.5);
  for (let r = 1; r <= cfg.rounds && !cfg.onlyPaced; r++) {
    log(`round ${r}/${cfg.rounds} (about ${Math.round(per)} s)`);
    for (const cn of cfg.cases) {
      for (const name of cfg.only) {
        const m = await measure(name, started[CASES[cn].key][name], cn, cfg.duration, backend);
        m.round = r;
        runs.push(m);
        log(
          `  ${cn.padEnd(8)} ${name.padEnd(12)} ${String(Math.round(m.rps)).padStart(6)} req/s  p99 ${m.p99} ms  ${m.cpuUs ?? '-'} µs/req  core ${m.corePct}%  other ${m.otherCpuPct}%${m.errors ? `  ERRORS ${m.errors}` : ''}`,
        );
      }
    }
  }
  const paced = [];
  const pacedCases = cfg.paced > 0 ? cfg.cases.filter((cn) => CASES[cn].paced) : [];
  if (pacedCases.length > 0) {
    // The load is this process: on the load core, beside the backend, as wrk and h2load are.
    execFileSync('taskset', ['-apc', String(cfg.loadCpu), String(process.pid)], { stdio: 'ignore' });
    const perPaced = pacedCases.length * cfg.only.length * (cfg.pacedSeconds + PACED_LEAD_S + 0.2);
    for (let r = 1; r <= cfg.rounds; r++) {
      log(`paced round ${r}/${cfg.rounds}: ${cfg.paced} req/s offered (about ${Math.round(perPaced)} s)`);
      for (const cn of pacedCases) {
        for (const name of cfg.only) {
          const m = await measurePaced(name, started[CASES[cn].key][name], cn, backend);
          m.round = r;
          paced.push(m);
          log(
            `  ${cn.padEnd(8)} ${name.padEnd(12)} ${String(Math.round(m.rps)).padStart(6)} req/s${m.missed ? ' OFF-SCHEDULE' : ''}  p50 ${m.p50} p99 ${m.p99} p99/s ${m.p99s} max ${m.max} ms  core ${m.corePct}%  load ${m.loadPct}% (loop p99 ${m.loopP99} max ${m.loopMax} ms)  other ${m.otherCpuPct}%${m.errors ? `  ERRORS ${m.errors} (${failureSummary(m)})` : ''}`,
          );
        }
      }
    }
  }
  for (const k of keys) for (const name of cfg.only) await started[k][name].stop();
  await backend.stop();
  return { mach, runs, resumed, paced };
}

/**
 * The runs of proxy `name` in case `cn` and two helpers over them: ratio(other, key), the median of
 * the per-round ratios of `key` to proxy `other`'s (null for itself or one not run), and med(key, d),
 * the median over rounds rounded to `d` decimals.
 */
function perRow(runs, cn, name) {
  const mine = runs.filter((m) => m.case === cn && m.config === name);
  const ratio = (other, key) => {
    if (other === name || !cfg.only.includes(other)) return null;
    const rs = mine.map((m) => {
      const o = runs.find((x) => x.case === cn && x.config === other && x.round === m.round);
      return o && m[key] !== null && o[key] ? m[key] / o[key] : null;
    });
    return round1(median(rs), 2);
  };
  const med = (key, d = 1) => round1(median(mine.map((m) => m[key])), d);
  return { mine, ratio, med };
}

// Medians over rounds per case × proxy, and the median of per-round ratios against HAProxy and nginx.
function aggregate(runs) {
  const rows = [];
  for (const cn of cfg.cases) {
    for (const name of cfg.only) {
      const { mine, ratio, med } = perRow(runs, cn, name);
      rows.push({
        case: cn,
        config: name,
        rps: med('rps', 0),
        p50: med('p50', 2),
        p99: med('p99', 2),
        cpuUs: med('cpuUs'),
        perCore: med('perCore', 0),
        corePct: med('corePct', 0),
        rssMB: round1(Math.max(...mine.map((m) => m.rssMB ?? 0))) || null,
        errors: mine.reduce((a, m) => a + m.errors, 0),
        otherCpuPct: med('otherCpuPct', 0),
        resumedPct: CASES[cn].tool === 's_time' ? med('resumedPct', 0) : null,
        cpuVsHaproxy: ratio('haproxy', 'cpuUs'),
        cpuVsNginx: ratio('nginx', 'cpuUs'),
        rpsVsHaproxy: ratio('haproxy', 'rps'),
        rpsVsNginx: ratio('nginx', 'rps'),
        p99VsHaproxy: ratio('haproxy', 'p99'),
        p99VsNginx: ratio('nginx', 'p99'),
      });
    }
  }
  return rows;
}

// The paced phase's rows: medians over rounds, errors summed, `missed` when any round was off schedule.
function aggregatePaced(paced) {
  const rows = [];
  for (const cn of cfg.cases.filter((c) => CASES[c].paced)) {
    for (const name of cfg.only) {
      const { mine, ratio, med } = perRow(paced, cn, name);
      if (mine.length === 0) continue;
      rows.push({
        case: cn,
        config: name,
        offered: cfg.paced,
        rps: med('rps', 0),
        missed: mine.some((m) => m.missed),
        errors: mine.reduce((a, m) => a + m.errors, 0),
        p50: med('p50', 2),
        p99: med('p99', 2),
        p99s: med('p99s', 2),
        max: round1(Math.max(...mine.map((m) => m.max ?? 0)), 2),
        p99VsHaproxy: ratio('haproxy', 'p99'),
        p99VsNginx: ratio('nginx', 'p99'),
        p99sVsHaproxy: ratio('haproxy', 'p99s'),
        p99sVsNginx: ratio('nginx', 'p99s'),
        corePct: med('corePct', 0),
        loadPct: med('loadPct', 0),
        loopP99: med('loopP99', 2),
        loopMax: round1(Math.max(...mine.map((m) => m.loopMax ?? 0)), 2),
        otherCpuPct: med('otherCpuPct', 0),
      });
    }
  }
  return rows;
}

function printPaced(paced) {
  const rows = aggregatePaced(paced);
  const f = (x, d) => (x === null || x === undefined ? '-' : x.toFixed(d));
  console.log(
    `\npaced: ${cfg.paced} req/s offered to every proxy, ${cfg.rounds} interleaved rounds × ${cfg.pacedSeconds} s (after ${PACED_LEAD_S} s unmeasured), ${cfg.pacedClients} clients sharing the rate, each one request in flight (h1: ${PACED_CLIENTS.h1.describe}; h2: ${PACED_CLIENTS.h2.describe}), in this process on cpu ${cfg.loadCpu} with the backend`,
  );
  console.log(
    "latency: from each request's scheduled time to its response (2xx only), median over rounds (max: the largest); p99/s med: the median of the window's per-second p99s (by scheduled time), which one stall cannot set; ratios: per round, then the median; errors: every request not answered 2xx, all rounds; core %: the proxy's CPU, % of one core; load %: this process's (the load's); load loop p99, loop max: this process's event-loop delay (ms; max: the largest round's), by which the load itself sends or reads late whatever the proxy: one stall of D ms delays about R × D ms worth of requests, so a few stalls as long as loop max can set p99 while loop p99 (one sample per stall) stays low; req/s marked * when a round's was 5 % or more off the offered rate: short, the load's core could not keep the schedule (or a stall not caught up with when the window ended); above, it was catching up on a stall before the window; either way that row's latencies are not the proxy's alone\n",
  );
  const cols = [
    { key: 'case', title: 'case', align: 'left' },
    { key: 'config', title: 'proxy', align: 'left' },
    { key: 'offered', title: 'offered' },
    { key: 'rps', title: 'req/s' },
    { key: 'errors', title: 'errors' },
    { key: 'p50', title: 'p50 ms' },
    { key: 'p99', title: 'p99 ms' },
    { key: 'p99s', title: 'p99/s med' },
    { key: 'max', title: 'max ms' },
    { key: 'p99VsHaproxy', title: 'p99×haproxy' },
    { key: 'p99VsNginx', title: 'p99×nginx' },
    { key: 'p99sVsHaproxy', title: 'p99/s×haproxy' },
    { key: 'p99sVsNginx', title: 'p99/s×nginx' },
    { key: 'corePct', title: 'core %' },
    { key: 'loadPct', title: 'load %' },
    { key: 'loopP99', title: 'load loop p99' },
    { key: 'loopMax', title: 'loop max' },
    { key: 'otherCpuPct', title: 'other cpu%' },
  ];
  const shown = rows.map((r) => ({
    ...r,
    rps: `${r.rps ?? '-'}${r.missed ? '*' : ''}`,
    ...Object.fromEntries(['p50', 'p99', 'p99s', 'max', 'loopP99', 'loopMax'].map((k) => [k, f(r[k], 2)])),
    ...Object.fromEntries(['p99VsHaproxy', 'p99VsNginx', 'p99sVsHaproxy', 'p99sVsNginx'].map((k) => [k, f(r[k], 2)])),
  }));
  console.log(table(cols, shown));
  return rows;
}

function print({ mach, runs, resumed, paced }) {
  const rows = cfg.onlyPaced ? [] : aggregate(runs);
  const f = (x, d = 1) => (x === null || x === undefined ? '-' : x.toFixed(d));
  const cols = [
    { key: 'case', title: 'case', align: 'left' },
    { key: 'config', title: 'proxy', align: 'left' },
    { key: 'rps', title: 'req/s' },
    { key: 'p99', title: 'p99 ms' },
    { key: 'cpuUs', title: 'CPU µs/req' },
    { key: 'perCore', title: 'req/s per core' },
    { key: 'cpuVsHaproxy', title: 'CPU×haproxy' },
    { key: 'cpuVsNginx', title: 'CPU×nginx' },
    { key: 'rpsVsHaproxy', title: 'req/s×haproxy' },
    { key: 'rpsVsNginx', title: 'req/s×nginx' },
    { key: 'p99VsHaproxy', title: 'p99×haproxy' },
    { key: 'p99VsNginx', title: 'p99×nginx' },
    { key: 'corePct', title: 'core %' },
    { key: 'rssMB', title: 'RSS MB' },
    { key: 'otherCpuPct', title: 'other cpu%' },
    { key: 'resumedPct', title: 'resumed %' },
    { key: 'errors', title: 'errors' },
  ];
  const shown = rows.map((r) => ({
    ...r,
    p99: f(r.p99, 2),
    cpuUs: f(r.cpuUs),
    rssMB: f(r.rssMB),
    resumedPct: f(r.resumedPct, 0),
    ...Object.fromEntries(
      ['cpuVsHaproxy', 'cpuVsNginx', 'rpsVsHaproxy', 'rpsVsNginx', 'p99VsHaproxy', 'p99VsNginx'].map((k) => [k, f(r[k], 2)]),
    ),
  }));
  console.log(`\nflagman bench/tls.js — ${mach.date}`);
  console.log(
    `machine: ${mach.nproc} CPUs (${mach.cpu}), ${mach.memGiB} GiB, Linux ${mach.kernel}; node ${mach.node} (OpenSSL ${process.versions.openssl}), haproxy ${mach.haproxy}, nginx ${mach.nginx}, wrk ${mach.wrk}, h2load ${mach.h2load}, openssl ${mach.openssl}; commit ${mach.commit}`,
  );
  console.log(
    `run: ${cfg.onlyPaced ? `paced phase only (--only-paced), proxy on cpu ${cfg.proxyCpu}` : `${cfg.rounds} interleaved rounds × ${cfg.duration} s per case and proxy; wrk -t1 -c${cfg.connections}, h2load -t1 -c${cfg.h2Clients} -m${cfg.h2Streams}, on cpu ${cfg.loadCpu} with the backend; proxy on cpu ${cfg.proxyCpu}`}`,
  );
  console.log(
    'figures: medians over rounds; ratios: median of the per-round ratios; req/s per core = 10^6 ÷ CPU µs/req (hs-*: handshakes)\n',
  );
  for (const name of cfg.only) console.log(`  ${name.padEnd(13)} ${PROXIES[name].describe}`);
  for (const cn of cfg.cases) console.log(`  ${cn.padEnd(13)} ${CASES[cn].describe}`);
  console.log('');
  if (!cfg.onlyPaced) console.log(table(cols, shown));
  console.log('\nsession resumption by default (openssl s_client -sess_out, then -sess_in; ECDSA certificate):\n');
  const yes = (b) => (b ? 'Reused' : 'New');
  console.log(
    table(
      [
        { key: 'config', title: 'proxy', align: 'left' },
        { key: 'tls13', title: 'TLS 1.3', align: 'left' },
        { key: 'tls12', title: 'TLS 1.2', align: 'left' },
        { key: 'cipher13', title: 'cipher (1.3)', align: 'left' },
        { key: 'cipher12', title: 'cipher (1.2)', align: 'left' },
      ],
      resumed.map((r) => ({ ...r, tls13: yes(r.tls13), tls12: yes(r.tls12) })),
    ),
  );
  const pacedRows = paced.length > 0 ? printPaced(paced) : [];
  return { rows, pacedRows };
}

let code = 2;
try {
  const r = await run();
  const { rows, pacedRows } = print(r);
  const result = {
    mode: 'tls',
    machine: r.mach,
    options: {
      rounds: cfg.rounds,
      duration: cfg.duration,
      connections: cfg.connections,
      h2Clients: cfg.h2Clients,
      h2Streams: cfg.h2Streams,
      proxyCpu: cfg.proxyCpu,
      loadCpu: cfg.loadCpu,
      paced: cfg.paced,
      pacedSeconds: cfg.pacedSeconds,
      pacedClients: cfg.pacedClients,
      onlyPaced: cfg.onlyPaced,
    },
    rows,
    resumption: r.resumed,
    paced: pacedRows,
  };
  if (opt.json) fs.writeFileSync(opt.json, `${JSON.stringify({ ...result, runs: r.runs, pacedRuns: r.paced }, null, 1)}\n`);
  console.log(`\n${JSON.stringify(result)}`);
  code = 0;
} catch (err) {
  log(`error: ${err.stack ?? err.message}`);
  code = 2;
}
await delay(10);
process.exit(code);
