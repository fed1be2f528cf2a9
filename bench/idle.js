#!/usr/bin/env node
// Many idle connections: what holding them costs each proxy, and whether an active client feels it.
// For each config (flagman with the realistic config, HAProxy, nginx), one at a time, proxy pinned
// to its core, this process and the backend on the other:
//   1. an active client sends paced GETs of 100 bytes (--rate a second, latency from the time each
//      was due, so a stall is not hidden) for --probe-seconds: p50, p99 with nothing else open;
//   2. --connections idle keep-alive HTTP/1.1 clients connect, each sends one GET and reads its
//      answer (so the proxy holds a real keep-alive connection, as a browser leaves one), then
//      stays silent; the proxy's RSS is read before and after, and its CPU over --idle-seconds;
//   3. the active client again, with the idle ones still open: p99 as a ratio to step 1;
//   4. how many idle connections the proxy kept (its keep-alive timeouts are set to 5 minutes for
//      all three, so none should close during the run).
// Rounds (--rounds) repeat the sequence, configs interleaved; figures are medians over rounds.
// Prints a table and one JSON line.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseOptions, int } from './lib/cli.js';
import { flagman, namedPortServer } from './lib/contenders.js';
import { haproxyCommand } from './lib/haproxy.js';
import { KeepAliveClient } from './lib/http.js';
import { ensureTools } from './lib/install.js';
import { nginxCommand } from './lib/nginx.js';
import { tempDir } from './lib/owned.js';
import { cpuTicks, ticksPerSecond, treeRssKB } from './lib/proc.js';
import { machine, median, startBackend, startRun } from './lib/run.js';
import { fmt, pct, table } from './lib/stats.js';

/**
 * 10,000, or what the descriptor limit holds in every proxy: flagman keeps half its descriptors for
 * server connections (a client connection may need one), HAProxy counts two a connection. A process
 * may raise its soft limit to the hard one, not past it (the bench does not need root).
 */
function defaultConnections() {
  const hard = hardLimit();
  return Number.isFinite(hard) ? Math.min(10_000, Math.floor(hard / 2) - 1000) : 10_000;
}

/** The hard limit on descriptors (NaN: unlimited or unknown). */
function hardLimit() {
  return Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim());
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const HELP = `usage: node bench/idle.js [options]
  --connections N    idle keep-alive HTTP/1.1 clients (default 10000, or fewer when the descriptor
                     limit, ulimit -n, cannot hold that many in every proxy: half the limit less 1000)
  --rate R           the active client's requests a second (default 200)
  --probe-seconds S  each latency probe (default 10)
  --idle-seconds S   how long the idle connections' CPU is measured (default 10)
  --rounds N         interleaved rounds (default 1)
  --only LIST        configs, comma-separated (default all): flagman-real, haproxy, nginx, flagman-base
  --base-cli PATH    another flagman build's command, run as flagman-base (the realistic config)
  --cli PATH         the flagman command (default bin/flagman)
  --proxy-cpu N      the proxy's core (default 1); this process and the backend: --load-cpu (default 0)
  --json FILE        also write every figure as JSON to FILE
  --no-install       do not apt-get anything (fail if a tool is missing)
  --help`;

const opt = parseOptions(
  {
    connections: { type: 'string' },
    rate: { type: 'string', default: '200' },
    'probe-seconds': { type: 'string', default: '10' },
    'idle-seconds': { type: 'string', default: '10' },
    rounds: { type: 'string', default: '1' },
    only: { type: 'string', default: 'flagman-real,haproxy,nginx' },
    'base-cli': { type: 'string' },
    cli: { type: 'string', default: path.join(root, 'bin/flagman') },
    'proxy-cpu': { type: 'string', default: '1' },
    'load-cpu': { type: 'string', default: '0' },
    json: { type: 'string' },
    'no-install': { type: 'boolean', default: false },
  },
  HELP,
);
const cfg = {
  connections: int('connections', opt.connections ?? String(defaultConnections()), 1),
  rate: int('rate', opt.rate, 1),
  probeS: int('probe-seconds', opt['probe-seconds'], 1),
  idleS: int('idle-seconds', opt['idle-seconds'], 1),
  rounds: int('rounds', opt.rounds, 1),
  proxyCpu: int('proxy-cpu', opt['proxy-cpu']),
  loadCpu: int('load-cpu', opt['load-cpu']),
  cli: path.resolve(opt.cli),
  baseCli: opt['base-cli'] === undefined ? null : path.resolve(opt['base-cli']),
};
// An hour bounds the run, whatever its options.
const log = startRun({ maxSeconds: 3600 });

// Room for the idle clients and a margin, in every config: connection caps and keep-alive timeouts
// that would otherwise close or refuse them (HAProxy's maxconn 4096, nginx's 8192 worker
// connections, flagman's 5 s timeouts.idle).
const room = cfg.connections + 500;
const IDLE_TIMEOUT = '5m';
const CONFIGS = {
  'flagman-real': (ctx) => flagman('realistic', { ...ctx, configOptions: { idle: IDLE_TIMEOUT } }),
  'flagman-base': (ctx) => {
    if (cfg.baseCli === null) throw new Error('flagman-base needs --base-cli PATH');
    return flagman('realistic', { ...ctx, cli: cfg.baseCli, configOptions: { idle: IDLE_TIMEOUT } });
  },
  haproxy: (ctx) =>
    namedPortServer(
      'haproxy',
      (dir, o) => {
        const [cmd, args] = haproxyCommand(dir, o);
        // The comparison's config, with room for the idle clients and their keep-alive timeout.
        const file = args[args.length - 1];
        const text = fs
          .readFileSync(file, 'utf8')
          .replace('maxconn 4096', `maxconn ${room}`)
          .replace('timeout http-keep-alive 60s', `timeout http-keep-alive ${IDLE_TIMEOUT}`)
          .replace('timeout client 60s', `timeout client ${IDLE_TIMEOUT}`);
        fs.writeFileSync(file, text);
        return [cmd, args];
      },
      ctx,
    ),
  nginx: (ctx) =>
    namedPortServer(
      'nginx',
      (dir, o) => {
        const [cmd, args] = nginxCommand(dir, o);
        const file = args[args.length - 1];
        const text = fs
          .readFileSync(file, 'utf8')
          .replace('worker_connections 8192;', `worker_connections ${room};`)
          .replace('worker_processes 1;', `worker_processes 1;\nworker_rlimit_nofile ${2 * room};`)
          .replace(
            'keepalive_timeout 60s;\n        client_max_body_size',
            `keepalive_timeout ${IDLE_TIMEOUT};\n        client_max_body_size`,
          );
        fs.writeFileSync(file, text);
        return [cmd, args];
      },
      ctx,
    ),
};

const only = opt.only.split(',').filter(Boolean);
for (const name of only) {
  if (!(name in CONFIGS)) {
    console.error(`--only: unknown config ${name} (known: ${Object.keys(CONFIGS).join(', ')})`);
    process.exit(2);
  }
}

/** Paced GETs on one keep-alive connection: latency of each from when it was due (ms). */
async function probe(port) {
  const c = new KeepAliveClient(port, { path: '/100', timeoutMs: 10_000 });
  await c.connect();
  const gap = 1000 / cfg.rate;
  const start = performance.now();
  const end = start + cfg.probeS * 1000;
  const latencies = [];
  let errors = 0;
  for (let i = 0; ; i++) {
    const due = start + i * gap;
    if (due >= end) break;
    const wait = due - performance.now();
    if (wait > 0) await delay(wait);
    try {
      const r = await c.get();
      if (r.status !== 200) errors++;
      latencies.push(r.tEnd - due);
    } catch {
      errors++;
      if (!c.connected) await c.connect();
    }
  }
  c.close();
  latencies.sort((a, b) => a - b);
  return { n: latencies.length, errors, p50: pct(latencies, 50), p99: pct(latencies, 99), max: latencies.at(-1) ?? null };
}

const REQUEST = Buffer.from('GET /100 HTTP/1.1\r\nHost: bench.local\r\n\r\n', 'latin1');

/** One idle client: connects, sends one GET, reads the 100-byte answer, then holds the connection. */
function idleClient(port, state) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let got = '';
    let answered = false;
    s.setNoDelay(true);
    s.on('connect', () => s.write(REQUEST));
    s.on('data', (d) => {
      if (answered) return;
      got += d.toString('latin1');
      const headEnd = got.indexOf('\r\n\r\n');
      if (headEnd >= 0 && got.length >= headEnd + 4 + 100) {
        answered = true;
        state.open++;
        resolve(s);
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (answered) state.closed++;
      else {
        state.failed++;
        resolve(null);
      }
    });
  });
}

/** Opens `n` idle clients, 200 at a time; resolves {sockets, state}. */
async function openIdle(port, n) {
  const state = { open: 0, closed: 0, failed: 0 };
  const sockets = [];
  for (let i = 0; i < n; i += 200) {
    const batch = await Promise.all(Array.from({ length: Math.min(200, n - i) }, () => idleClient(port, state)));
    for (const s of batch) if (s !== null) sockets.push(s);
  }
  return { sockets, state };
}

async function measure(name, backendPorts) {
  const dir = tempDir(`flagman-bench-idle-${name}-`);
  const ctx = { dir, backendPorts, cpu: cfg.proxyCpu, cli: cfg.cli };
  const p = await CONFIGS[name](ctx);
  try {
    await probe(p.port); // warm-up, not counted
    const quiet = await probe(p.port);
    const rssBefore = treeRssKB(p.pid);
    const opened = performance.now();
    const { sockets, state } = await openIdle(p.port, cfg.connections);
    const openS = (performance.now() - opened) / 1000;
    await delay(2000);
    const ticks0 = cpuTicks(p.pid);
    await delay(cfg.idleS * 1000);
    const idleCpuPct = (((cpuTicks(p.pid) - ticks0) / ticksPerSecond()) * 100) / cfg.idleS;
    const rssIdle = treeRssKB(p.pid);
    const busy = await probe(p.port);
    const kept = state.open - state.closed;
    for (const s of sockets) s.destroy();
    const row = {
      config: name,
      connections: cfg.connections,
      opened: state.open,
      failed: state.failed,
      kept,
      openS,
      rssBeforeMB: rssBefore / 1024,
      rssIdleMB: rssIdle / 1024,
      kbPerConn: state.open > 0 ? (rssIdle - rssBefore) / state.open : null,
      idleCpuPct,
      quiet,
      busy,
      p99Ratio: quiet.p99 > 0 ? busy.p99 / quiet.p99 : null,
    };
    log(
      `${name}: ${state.open} open (${state.failed} failed) in ${fmt(openS)} s; RSS ${fmt(row.rssBeforeMB)} → ${fmt(row.rssIdleMB)} MB; idle CPU ${fmt(idleCpuPct)}%; p99 ${fmt(quiet.p99, 2)} → ${fmt(busy.p99, 2)} ms; kept ${kept}`,
    );
    return row;
  } finally {
    await p.stop();
    await delay(500);
  }
}

async function main() {
  if (!opt['no-install']) ensureTools(['haproxy', 'nginx', 'taskset'], log);
  execFileSync('taskset', ['-cp', String(cfg.loadCpu), String(process.pid)], { stdio: 'ignore' });
  // Each proxy sizes what it takes by its descriptor limit, which the children inherit: the soft
  // limit raised to the hard one.
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${hardLimit()}:${hardLimit()}`], { stdio: 'ignore' });
  } catch {
    log('could not raise the soft descriptor limit to the hard one');
  }
  const mach = machine();
  const backend = await startBackend({ cpu: cfg.loadCpu, maxSeconds: 3600 });
  const rows = [];
  try {
    for (let round = 1; round <= cfg.rounds; round++) {
      log(`round ${round}/${cfg.rounds}`);
      for (const name of only) rows.push({ round, ...(await measure(name, backend.ports)) });
    }
  } finally {
    await backend.stop();
  }
  const summary = only.map((name) => {
    const r = rows.filter((x) => x.config === name);
    return {
      config: name,
      kept: median(r.map((x) => x.kept)),
      failed: median(r.map((x) => x.failed)),
      rssBeforeMB: median(r.map((x) => x.rssBeforeMB)),
      rssIdleMB: median(r.map((x) => x.rssIdleMB)),
      kbPerConn: median(r.map((x) => x.kbPerConn)),
      idleCpuPct: median(r.map((x) => x.idleCpuPct)),
      p99Quiet: median(r.map((x) => x.quiet.p99)),
      p99Idle: median(r.map((x) => x.busy.p99)),
      p99Ratio: median(r.map((x) => x.p99Ratio)),
      errors: r.reduce((n, x) => n + x.quiet.errors + x.busy.errors, 0),
    };
  });
  console.log(`\nflagman bench/idle.js — ${mach.date}`);
  console.log(
    `${cfg.connections} idle keep-alive HTTP/1.1 clients; active client ${cfg.rate} req/s for ${cfg.probeS} s before and while they are open; ${cfg.rounds} round(s); proxy on cpu ${cfg.proxyCpu}\n`,
  );
  const cols = [
    { key: 'config', title: 'config', align: 'left' },
    { key: 'kept', title: 'kept open' },
    { key: 'failed', title: 'failed' },
    { key: 'rssBefore', title: 'RSS before MB' },
    { key: 'rssIdle', title: `RSS with ${cfg.connections} MB` },
    { key: 'kb', title: 'KB/conn' },
    { key: 'cpu', title: 'idle CPU %' },
    { key: 'p99Quiet', title: 'p99 quiet ms' },
    { key: 'p99Idle', title: 'p99 with them ms' },
    { key: 'ratio', title: 'p99 ×quiet' },
    { key: 'errors', title: 'errors' },
  ];
  const shown = summary.map((x) => ({
    config: x.config,
    kept: x.kept,
    failed: x.failed,
    rssBefore: fmt(x.rssBeforeMB),
    rssIdle: fmt(x.rssIdleMB),
    kb: fmt(x.kbPerConn),
    cpu: fmt(x.idleCpuPct),
    p99Quiet: fmt(x.p99Quiet, 2),
    p99Idle: fmt(x.p99Idle, 2),
    ratio: fmt(x.p99Ratio, 2),
    errors: x.errors,
  }));
  console.log(table(cols, shown));
  const out = { mode: 'idle', machine: mach, options: cfg, summary, rows };
  if (opt.json) fs.writeFileSync(opt.json, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`\n${JSON.stringify({ mode: 'idle', machine: mach, summary })}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
