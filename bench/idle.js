#!/usr/bin/env node
// Many idle connections: what holding them costs each proxy, and whether an active client feels it.
// Two protocols (--protocol): idle keep-alive HTTP/1.1 connections, and idle HTTP/2 sessions over
// TLS (one ECDSA P-256 certificate made by openssl for the run). For each protocol and config
// (flagman with the realistic config, HAProxy, nginx; for HTTP/2 each terminating TLS: flagman's
// `tls` frontend, HAProxy's `ssl crt … alpn h2,http/1.1`, nginx's `listen … ssl http2`), one at a
// time, proxy pinned to its core, this process and the backend on the other:
//   1. an active client of the protocol (one connection, or one HTTP/2 session) sends paced GETs of
//      100 bytes (--rate a second, latency from the time each was due, so a stall is not hidden)
//      for --warmup-seconds, not counted, then for --probe-seconds: p50, p99 with nothing else open;
//   2. --connections idle clients connect, each sends one GET and reads its answer (so the proxy
//      holds a real keep-alive connection or HTTP/2 session, as a browser leaves one), then stays
//      silent; the proxy's RSS is read before and after, and its CPU over --idle-seconds;
//   3. the active client again, with the idle ones still open: p50, p99, and p99 as a ratio to step 1;
//   4. how many idle clients the proxy kept: a closed connection, or an HTTP/2 session sent GOAWAY,
//      is not kept (idle timeouts are 5 minutes in all three, HTTP/2's included, so none should
//      close during the run); and the PINGs the proxies sent the idle HTTP/2 sessions.
// Rounds (--rounds) repeat the sequence, configs interleaved; figures are medians over rounds.
// Prints one table and one JSON line.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseOptions, int } from './lib/cli.js';
import { flagman, namedPortServer } from './lib/contenders.js';
import { H2Client } from './lib/h2-client.js';
import { haproxyCommand } from './lib/haproxy.js';
import { KeepAliveClient } from './lib/http.js';
import { ensureTools } from './lib/install.js';
import { nginxCommand } from './lib/nginx.js';
import { tempDir } from './lib/owned.js';
import { cpuTicks, ticksPerSecond, treeRssKB } from './lib/proc.js';
import { machine, median, startBackend, startRun } from './lib/run.js';
import { fmt, pct, table } from './lib/stats.js';
import { makeCertificate } from './lib/tls-tools.js';

/**
 * 10,000, or what the descriptor limit holds in every proxy: flagman keeps half its descriptors for
 * server connections (a client connection may need one), HAProxy counts two a connection. A process
 * may raise its soft limit to the hard one, not past it (the bench does not need root). An HTTP/2
 * session over TLS is one connection, as an HTTP/1.1 one is: the same bound holds for both.
 */
function defaultConnections() {
  const hard = hardLimit();
  return Number.isFinite(hard) ? Math.min(10_000, Math.floor(hard / 2) - 1000) : 10_000;
}

/** The hard limit on descriptors (NaN: unlimited or unknown). */
function hardLimit() {
  return Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim());
}

// Idle HTTP/2 sessions by default: a browser opens one per origin where it opened up to six
// HTTP/1.1 connections, so fewer of them stand for the same visitors.
const H2_DEFAULT = 1000;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const HELP = `usage: node bench/idle.js [options]
  --protocol P       h1 (idle keep-alive HTTP/1.1 clients), h2 (idle HTTP/2 sessions over TLS) or
                     both (default), one after the other in each round, in one table
  --connections N    idle clients of each protocol (default: HTTP/1.1 10000, HTTP/2 ${H2_DEFAULT}; fewer
                     when the descriptor limit, ulimit -n, cannot hold that many in every proxy:
                     half the limit less 1000)
  --rate R           the active client's requests a second (default 200)
  --probe-seconds S  each latency probe (default 10)
  --warmup-seconds S the active client's unmeasured run before the first probe (default 10)
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
    protocol: { type: 'string', default: 'both' },
    connections: { type: 'string' },
    rate: { type: 'string', default: '200' },
    'probe-seconds': { type: 'string', default: '10' },
    'warmup-seconds': { type: 'string', default: '10' },
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
const PROTOCOL_CHOICES = { h1: ['h1'], h2: ['h2'], both: ['h1', 'h2'] };
if (!(opt.protocol in PROTOCOL_CHOICES)) {
  console.error(`--protocol: expected h1, h2 or both, got ${opt.protocol}`);
  process.exit(2);
}
const given = opt.connections === undefined ? null : int('connections', opt.connections, 1);
const cfg = {
  protocols: PROTOCOL_CHOICES[opt.protocol],
  connections: {
    h1: given ?? defaultConnections(),
    h2: given ?? Math.min(H2_DEFAULT, defaultConnections()),
  },
  rate: int('rate', opt.rate, 1),
  probeS: int('probe-seconds', opt['probe-seconds'], 1),
  warmupS: int('warmup-seconds', opt['warmup-seconds'], 0),
  idleS: int('idle-seconds', opt['idle-seconds'], 1),
  rounds: int('rounds', opt.rounds, 1),
  proxyCpu: int('proxy-cpu', opt['proxy-cpu']),
  loadCpu: int('load-cpu', opt['load-cpu']),
  cli: path.resolve(opt.cli),
  baseCli: opt['base-cli'] === undefined ? null : path.resolve(opt['base-cli']),
};
// An hour bounds the run, whatever its options.
const log = startRun({ maxSeconds: 3600 });

// Each config gets ctx {dir, backendPorts, cpu, cli, tls, room}: `tls` ({cert, key, pem}, or null
// for plain HTTP/1.1) is the certificate to serve, `room` the idle clients and a margin. Connection
// caps and idle timeouts that would otherwise close or refuse them are raised: HAProxy's maxconn
// 4096, nginx's 8192 worker connections, flagman's 5 s timeouts.idle. On HTTP/2 the same settings
// govern an idle session: flagman sends GOAWAY to one with no stream open for timeouts.idle
// (docs/tls.md); HAProxy's idle frontend connection waits `timeout http-keep-alive`, bounded by
// `timeout client`; nginx (1.19.7 on) closes it after `keepalive_timeout`, its `http2_idle_timeout`
// being obsolete and ignored. None of the three sends PINGs of its own; the bench counts them.
const IDLE_TIMEOUT = '5m';
const flagmanReal = (ctx, cli) =>
  flagman(ctx.tls ? 'realistic-tls' : 'realistic', { ...ctx, cli, configOptions: { ...ctx.tls, idle: IDLE_TIMEOUT } });
const CONFIGS = {
  'flagman-real': (ctx) => flagmanReal(ctx, ctx.cli),
  'flagman-base': (ctx) => {
    if (cfg.baseCli === null) throw new Error('flagman-base needs --base-cli PATH');
    return flagmanReal(ctx, cfg.baseCli);
  },
  haproxy: (ctx) =>
    namedPortServer(
      'haproxy',
      (dir, o) => {
        const [cmd, args] = haproxyCommand(dir, { ...o, tls: ctx.tls });
        // The comparison's config, with room for the idle clients and their keep-alive timeout.
        const file = args[args.length - 1];
        const text = fs
          .readFileSync(file, 'utf8')
          .replace('maxconn 4096', `maxconn ${ctx.room}`)
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
        const [cmd, args] = nginxCommand(dir, { ...o, tls: ctx.tls });
        const file = args[args.length - 1];
        const text = fs
          .readFileSync(file, 'utf8')
          .replace('worker_connections 8192;', `worker_connections ${ctx.room};`)
          .replace('worker_processes 1;', `worker_processes 1;\nworker_rlimit_nofile ${2 * ctx.room};`)
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

/**
 * Paced GETs on one connection of a client made by `client()` (KeepAliveClient or H2Client): latency
 * of each from when it was due (ms).
 */
async function probe(client, seconds = cfg.probeS) {
  const c = client();
  await c.connect();
  const gap = 1000 / cfg.rate;
  const start = performance.now();
  const end = start + seconds * 1000;
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

// An idle client resolves a handle once answered, null if it failed: {kept() (still open, and for
// HTTP/2 not sent GOAWAY), pings() and goaway() (HTTP/2: PINGs received, GOAWAY's error code or
// null; null on HTTP/1.1), close()}.

/** One idle HTTP/1.1 client: connects, sends one GET, reads the 100-byte answer, then holds the connection. */
function idleH1(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let got = '';
    let answered = false;
    let closed = false;
    s.setNoDelay(true);
    s.on('connect', () => s.write(REQUEST));
    s.on('data', (d) => {
      if (answered) return;
      got += d.toString('latin1');
      const headEnd = got.indexOf('\r\n\r\n');
      if (headEnd >= 0 && got.length >= headEnd + 4 + 100) {
        answered = true;
        resolve({ kept: () => !closed, pings: () => null, goaway: () => null, close: () => s.destroy() });
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      closed = true;
      if (!answered) resolve(null);
    });
  });
}

/** One idle HTTP/2 session over TLS: sends one GET, reads the 100-byte answer, then holds the session. */
async function idleH2(port) {
  const c = new H2Client(port, { path: '/100', timeoutMs: 30_000 });
  try {
    await c.connect();
    const r = await c.get();
    if (r.status === 200 && r.body.length === 100)
      return { kept: () => c.connected && c.goaway === null, pings: () => c.pings, goaway: () => c.goaway, close: () => c.close() };
  } catch {
    // counted as failed
  }
  c.close();
  return null;
}

/** How each protocol's active and idle clients are made, and how many idle ones (cfg.connections). */
const PROTOCOLS = {
  h1: {
    describe: 'idle keep-alive HTTP/1.1 clients',
    tls: false,
    active: (port) => new KeepAliveClient(port, { path: '/100', timeoutMs: 10_000 }),
    idle: idleH1,
  },
  h2: {
    describe: 'idle HTTP/2 sessions over TLS',
    tls: true,
    active: (port) => new H2Client(port, { path: '/100', timeoutMs: 10_000 }),
    idle: idleH2,
  },
};

/** Opens `n` idle clients made by `idle(port)`, 200 at a time; resolves {handles, failed}. */
async function openIdle(idle, port, n) {
  const handles = [];
  let failed = 0;
  for (let i = 0; i < n; i += 200) {
    const batch = await Promise.all(Array.from({ length: Math.min(200, n - i) }, () => idle(port)));
    for (const h of batch) {
      if (h === null) failed++;
      else handles.push(h);
    }
  }
  return { handles, failed };
}

/** The sum of the non-null `values`, or null when every one is null (HTTP/1.1 has no PINGs). */
const sumOrNull = (values) => values.reduce((n, v) => (v === null ? n : (n ?? 0) + v), null);

/** Steps 1 to 4 for config `name` and `protocol` (a key of PROTOCOLS); `tls` is the certificate for HTTP/2. */
async function measure(protocol, name, backendPorts, tls) {
  const proto = PROTOCOLS[protocol];
  const n = cfg.connections[protocol];
  const dir = tempDir(`flagman-bench-idle-${protocol}-${name}-`);
  const ctx = { dir, backendPorts, cpu: cfg.proxyCpu, cli: cfg.cli, tls: proto.tls ? tls : null, room: n + 500 };
  const p = await CONFIGS[name](ctx);
  const active = () => proto.active(p.port);
  try {
    if (cfg.warmupS > 0) await probe(active, cfg.warmupS); // warm-up, not counted
    const quiet = await probe(active);
    const rssBefore = treeRssKB(p.pid);
    const opened = performance.now();
    const { handles, failed } = await openIdle(proto.idle, p.port, n);
    const openS = (performance.now() - opened) / 1000;
    await delay(2000);
    const ticks0 = cpuTicks(p.pid);
    await delay(cfg.idleS * 1000);
    const idleCpuPct = (((cpuTicks(p.pid) - ticks0) / ticksPerSecond()) * 100) / cfg.idleS;
    const rssIdle = treeRssKB(p.pid);
    const busy = await probe(active);
    const kept = handles.filter((h) => h.kept()).length;
    const goaways = proto.tls ? handles.filter((h) => h.goaway() !== null).length : null;
    const pings = sumOrNull(handles.map((h) => h.pings()));
    for (const h of handles) h.close();
    const row = {
      protocol,
      config: name,
      connections: n,
      opened: handles.length,
      failed,
      kept,
      goaways,
      pings,
      openS,
      rssBeforeMB: rssBefore / 1024,
      rssIdleMB: rssIdle / 1024,
      kbPerConn: handles.length > 0 ? (rssIdle - rssBefore) / handles.length : null,
      idleCpuPct,
      quiet,
      busy,
      p99Ratio: quiet.p99 > 0 ? busy.p99 / quiet.p99 : null,
    };
    log(
      `${protocol} ${name}: ${handles.length} open (${failed} failed) in ${fmt(openS)} s; RSS ${fmt(row.rssBeforeMB)} → ${fmt(row.rssIdleMB)} MB; idle CPU ${fmt(idleCpuPct)}%; p99 ${fmt(quiet.p99, 2)} → ${fmt(busy.p99, 2)} ms; kept ${kept}${goaways === null ? '' : `; GOAWAY ${goaways}, PINGs ${pings}`}`,
    );
    return row;
  } finally {
    await p.stop();
    await delay(500);
  }
}

async function main() {
  const h2 = cfg.protocols.includes('h2');
  if (!opt['no-install']) ensureTools(['haproxy', 'nginx', 'taskset', ...(h2 ? ['openssl'] : [])], log);
  execFileSync('taskset', ['-cp', String(cfg.loadCpu), String(process.pid)], { stdio: 'ignore' });
  // Each proxy sizes what it takes by its descriptor limit, which the children inherit: the soft
  // limit raised to the hard one.
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${hardLimit()}:${hardLimit()}`], { stdio: 'ignore' });
  } catch {
    log('could not raise the soft descriptor limit to the hard one');
  }
  const mach = machine();
  // Apart from the configs' directories: flagman watches its config file's folder.
  const tls = h2 ? makeCertificate(tempDir('flagman-bench-certs-'), 'ecdsa') : null;
  const backend = await startBackend({ cpu: cfg.loadCpu, maxSeconds: 3600 });
  const rows = [];
  try {
    for (let round = 1; round <= cfg.rounds; round++) {
      log(`round ${round}/${cfg.rounds}`);
      for (const protocol of cfg.protocols)
        for (const name of only) rows.push({ round, ...(await measure(protocol, name, backend.ports, tls)) });
    }
  } finally {
    await backend.stop();
  }
  const summary = cfg.protocols.flatMap((protocol) =>
    only.map((name) => {
      const r = rows.filter((x) => x.protocol === protocol && x.config === name);
      return {
        protocol,
        config: name,
        connections: cfg.connections[protocol],
        kept: median(r.map((x) => x.kept)),
        failed: median(r.map((x) => x.failed)),
        goaways: median(r.map((x) => x.goaways)),
        pings: median(r.map((x) => x.pings)),
        rssBeforeMB: median(r.map((x) => x.rssBeforeMB)),
        rssIdleMB: median(r.map((x) => x.rssIdleMB)),
        kbPerConn: median(r.map((x) => x.kbPerConn)),
        idleCpuPct: median(r.map((x) => x.idleCpuPct)),
        p50Quiet: median(r.map((x) => x.quiet.p50)),
        p99Quiet: median(r.map((x) => x.quiet.p99)),
        p50Idle: median(r.map((x) => x.busy.p50)),
        p99Idle: median(r.map((x) => x.busy.p99)),
        p99Ratio: median(r.map((x) => x.p99Ratio)),
        errors: r.reduce((n, x) => n + x.quiet.errors + x.busy.errors, 0),
      };
    }),
  );
  console.log(`\nflagman bench/idle.js — ${mach.date}`);
  const what = cfg.protocols.map((p) => `${cfg.connections[p]} ${PROTOCOLS[p].describe}`).join(', then ');
  console.log(
    `${what}; active client (same protocol) ${cfg.rate} req/s for ${cfg.probeS} s before and while they are open; ${cfg.rounds} round(s); proxy on cpu ${cfg.proxyCpu}\n`,
  );
  const cols = [
    { key: 'protocol', title: 'proto', align: 'left' },
    { key: 'config', title: 'config', align: 'left' },
    { key: 'connections', title: 'idle' },
    { key: 'kept', title: 'kept open' },
    { key: 'failed', title: 'failed' },
    { key: 'goaways', title: 'GOAWAY' },
    { key: 'pings', title: 'PINGs' },
    { key: 'rssBefore', title: 'RSS before MB' },
    { key: 'rssIdle', title: 'RSS with them MB' },
    { key: 'kb', title: 'KB each' },
    { key: 'cpu', title: 'idle CPU %' },
    { key: 'p50Quiet', title: 'p50 quiet ms' },
    { key: 'p99Quiet', title: 'p99 quiet ms' },
    { key: 'p50Idle', title: 'p50 with them ms' },
    { key: 'p99Idle', title: 'p99 with them ms' },
    { key: 'ratio', title: 'p99 ×quiet' },
    { key: 'errors', title: 'errors' },
  ];
  const shown = summary.map((x) => ({
    protocol: x.protocol,
    config: x.config,
    connections: x.connections,
    kept: x.kept,
    failed: x.failed,
    goaways: x.goaways,
    pings: x.pings,
    rssBefore: fmt(x.rssBeforeMB),
    rssIdle: fmt(x.rssIdleMB),
    kb: fmt(x.kbPerConn),
    cpu: fmt(x.idleCpuPct),
    p50Quiet: fmt(x.p50Quiet, 2),
    p99Quiet: fmt(x.p99Quiet, 2),
    p50Idle: fmt(x.p50Idle, 2),
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
