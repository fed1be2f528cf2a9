#!/usr/bin/env node
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { int, parseOptions } from './lib/cli.js';
import { assertKnown, flagman, namedPortServer } from './lib/contenders.js';
import { runH2load } from './lib/h2load.js';
import { haproxyCommand } from './lib/haproxy.js';
import { ensureTools } from './lib/install.js';
import { nginxCommand } from './lib/nginx.js';
import { firstLine, spawnPinned, stopChild, tempDir } from './lib/owned.js';
import { foreignWindow, ticksPerSecond, treeCpuTicks, treeRssKB } from './lib/proc.js';
import { table } from './lib/stats.js';
import { KEY_KINDS, makeCertificate, resumption } from './lib/tls-tools.js';
import { runWrk } from './lib/wrk.js';
import { machine, median, round1, startBackend, startRun } from './lib/run.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const _now = () => performance.now();

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

/** name → {describe, tool, key (certificate), path, payload, close (a new connection per request)} */
const CASES = {
  'h1-100B': { describe: 'HTTPS HTTP/1.1 keep-alive, 100-byte response', tool: 'wrk', key: 'ecdsa', path: '/100', payload: 100 },
  'h1-64KiB': { describe: 'HTTPS HTTP/1.1 keep-alive, 64 KiB response', tool: 'wrk', key: 'ecdsa', path: '/64k', payload: 65536 },
  'hs-ecdsa': {
    describe: 'a full TLS handshake per request (Connection: close), ECDSA P-256 certificate, 100 B',
    tool: 'wrk',
    key: 'ecdsa',
    path: '/100',
    payload: 100,
    close: true,
  },
  'hs-rsa': {
    describe: 'a full TLS handshake per request (Connection: close), RSA-2048 certificate, 100 B',
    tool: 'wrk',
    key: 'rsa',
    path: '/100',
    payload: 100,
    close: true,
  },
  'h2-100B': { describe: 'HTTP/2 over TLS (h2load), 100-byte response', tool: 'h2load', key: 'ecdsa', path: '/100', payload: 100 },
  'h2-64KiB': { describe: 'HTTP/2 over TLS (h2load), 64 KiB response', tool: 'h2load', key: 'ecdsa', path: '/64k', payload: 65536 },
};

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
  --help`;

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
  },
  HELP,
);

const list = (v, tbl) =>
  v
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : Object.keys(tbl).filter((k) => !tbl[k].optional);
const cfg = {
  rounds: int('rounds', opt.rounds, 1),
  duration: int('duration', opt.duration, 1),
  warmup: int('warmup', opt.warmup),
  connections: int('connections', opt.connections, 1),
  h2Clients: int('h2-clients', opt['h2-clients'], 1),
  h2Streams: int('h2-streams', opt['h2-streams'], 1),
  only: list(opt.only, PROXIES),
  cases: list(opt.cases, CASES),
  proxyCpu: int('proxy-cpu', opt['proxy-cpu']),
  loadCpu: int('load-cpu', opt['load-cpu']),
  maxSeconds: int('max-seconds', opt['max-seconds'], 10),
  cli: path.resolve(opt.cli),
  baseCli: opt['base-cli'] === undefined ? null : path.resolve(opt['base-cli']),
};
try {
  assertKnown('proxy', cfg.only, PROXIES);
  assertKnown('case', cfg.cases, CASES);
} catch (err) {
  console.error(err.message);
  process.exit(2);
}
if (!fs.existsSync(cfg.cli)) {
  console.error(`${cfg.cli} not found: build first (npm run build)`);
  process.exit(2);
}
if (os.cpus().length < 2) console.error('warning: fewer than 2 CPUs: proxy and load share a core');

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
    c.tool === 'h2load'
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

  if (cfg.warmup > 0) {
    log(`warm-up: ${cfg.warmup} s per case and proxy`);
    for (const cn of cfg.cases) for (const name of cfg.only) await measure(name, started[CASES[cn].key][name], cn, cfg.warmup, backend);
  }
  const runs = [];
  const per = cfg.cases.length * cfg.only.length * (cfg.duration + 0.5);
  for (let r = 1; r <= cfg.rounds; r++) {
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
  for (const k of keys) for (const name of cfg.only) await started[k][name].stop();
  await backend.stop();
  return { mach, runs, resumed };
}

// Medians over rounds per case × proxy, and the median of per-round ratios against HAProxy and nginx.
function aggregate(runs) {
  const rows = [];
  for (const cn of cfg.cases) {
    for (const name of cfg.only) {
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

function print({ mach, runs, resumed }) {
  const rows = aggregate(runs);
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
    { key: 'errors', title: 'errors' },
  ];
  const shown = rows.map((r) => ({
    ...r,
    p99: f(r.p99, 2),
    cpuUs: f(r.cpuUs),
    rssMB: f(r.rssMB),
    ...Object.fromEntries(
      ['cpuVsHaproxy', 'cpuVsNginx', 'rpsVsHaproxy', 'rpsVsNginx', 'p99VsHaproxy', 'p99VsNginx'].map((k) => [k, f(r[k], 2)]),
    ),
  }));
  console.log(`\nflagman bench/tls.js — ${mach.date}`);
  console.log(
    `machine: ${mach.nproc} CPUs (${mach.cpu}), ${mach.memGiB} GiB, Linux ${mach.kernel}; node ${mach.node} (OpenSSL ${process.versions.openssl}), haproxy ${mach.haproxy}, nginx ${mach.nginx}, wrk ${mach.wrk}, h2load ${mach.h2load}, openssl ${mach.openssl}; commit ${mach.commit}`,
  );
  console.log(
    `run: ${cfg.rounds} interleaved rounds × ${cfg.duration} s per case and proxy; wrk -t1 -c${cfg.connections}, h2load -t1 -c${cfg.h2Clients} -m${cfg.h2Streams}, on cpu ${cfg.loadCpu} with the backend; proxy on cpu ${cfg.proxyCpu}`,
  );
  console.log(
    'figures: medians over rounds; ratios: median of the per-round ratios; req/s per core = 10^6 ÷ CPU µs/req (hs-*: handshakes)\n',
  );
  for (const name of cfg.only) console.log(`  ${name.padEnd(13)} ${PROXIES[name].describe}`);
  for (const cn of cfg.cases) console.log(`  ${cn.padEnd(13)} ${CASES[cn].describe}`);
  console.log('');
  console.log(table(cols, shown));
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
  return rows;
}

let code = 2;
try {
  const r = await run();
  const rows = print(r);
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
    },
    rows,
    resumption: r.resumed,
  };
  if (opt.json) fs.writeFileSync(opt.json, `${JSON.stringify({ ...result, runs: r.runs }, null, 1)}\n`);
  console.log(`\n${JSON.stringify(result)}`);
  code = 0;
} catch (err) {
  log(`error: ${err.stack ?? err.message}`);
  code = 2;
}
await delay(10);
process.exit(code);
