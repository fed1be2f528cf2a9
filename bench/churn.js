#!/usr/bin/env node
// Churn: what changing a proxy's state at run time costs the requests going through it. Build first:
//
//   npm run build && node bench/churn.js               # 2 interleaved rounds of every case, about 7 min
//   node bench/churn.js --only flagman --duration 5    # flagman's five cases, shorter
//   node bench/churn.js --help                         # every option
//
// It first finds flagman's capacity (the realistic config, wrk -c50 for a few seconds, 100-byte
// GETs), then offers half of it, paced, through each case in turn: a fresh proxy pinned to one core
// (taskset -c 1), the load in this process (bench/lib/load.js, startPacedLoad: keep-alive clients on
// a fixed schedule, latency from each request's scheduled time, so a stall delays and shows in
// every request behind it), and the churn beside it:
//
//   flagman (realistic config, bench/lib/flagman-configs.js)
//     a steady       nothing changes
//     b flag         flags/app3.weight rewritten 10 times a second (temp file + rename), 1 ↔ 3
//     h flag-unused  the same, of flags/SCRIPT_NOTE, a flag no expression of the config reads: flagman
//                    keeps its runtime (sameFolding), so this is what a change costs by itself
//     c reload       flagman.yaml rewritten once a second (temp file + rename), app2's weight 2 ↔ 3
//     d restart      under systemd-socket-activate, which holds the listening socket: SIGTERM every
//                    5 s, and a new flagman is started on the same socket, as systemd restarts a
//                    service whose .socket unit keeps the port
//   haproxy (as bench/lib/haproxy.js, with the three servers weighted 3:2:1 and a stats socket)
//     steady, e sf-restart (a new haproxy -sf OLDPID once a second, CHURN_GEN changed in its
//     environment and used in a response header), f set-weight (`set weight be/app1 N` on the stats
//     socket 10 times a second)
//   nginx (as bench/lib/nginx.js, with master_process on and the three servers weighted)
//     steady, g reload (nginx.conf rewritten with app2's weight 2 ↔ 3, then `nginx -s reload`, once
//     a second)
//
// Per case: requests, errors by kind, p50/p99/max from the schedule, p99 ÷ the same proxy's steady
// case and ÷ flagman's (a); "p99/s med", the median of the window's per-second p99s (each request
// in the second it was scheduled), which one stall of the machine cannot set by itself as it sets
// the window's p99, and its ratio to the same proxy's steady case; "max/s med", the same of each
// second's slowest request (at one change a second, the stall a typical change leaves); the
// proxy's CPU (utime + stime of its process tree over the window, the processes of it that exited
// too, % of one core) and, where changes were made, "CPU/change": that CPU less the same proxy's
// steady CPU per second over as long, ÷ the changes done; the churn actions done and what the
// proxy said of them, and "other cpu%" (processes that are not the bench's: the machine is
// shared). Output: a table and one JSON line.
// Exit code 0, or 2 on an error (there is no pass mark). Traffic goes to 127.0.0.1 only; processes
// are stopped by PID; temp directories are removed.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { commaList, int, parseOptions, requireBuilt } from './lib/cli.js';
import { flagman, namedPortServer } from './lib/contenders.js';
import { FLAGMAN_CONFIGS, writeFlagmanConfig } from './lib/flagman-configs.js';
import { haproxyConfig } from './lib/haproxy.js';
import { ensureTools } from './lib/install.js';
import { failureLabel, maxPerSecond, p99PerSecond, startPacedLoad } from './lib/load.js';
import { nginxConfig } from './lib/nginx.js';
import { freePort, spawnPinned, stopChild, tempDir } from './lib/owned.js';
import { foreignWindow, loadavg1, processTree, reapedChildrenTicks, ticksPerSecond, treeCpuTicksWithChildren } from './lib/proc.js';
import { startStallProbe, tcpCounters } from './lib/stall-probe.js';
import { summary, table } from './lib/stats.js';
import { runWrk } from './lib/wrk.js';
import { machine, median, round1, startBackend, startRun } from './lib/run.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const now = () => performance.now();

const CASE_NAMES = ['steady', 'flag', 'flag-unused', 'reload', 'restart', 'sf-restart', 'set-weight'];
const CONTENDER_NAMES = ['flagman', 'haproxy', 'nginx', 'flagman-base'];

const HELP = `usage: node bench/churn.js [options]
  --rounds N           interleaved rounds: every case once per round (default 2)
  --duration S         measured seconds per case (default 12)
  --warmup S           unmeasured seconds of load per case before the churn starts (default 5;
                       a fresh node process runs its first seconds unoptimized)
  --warm-churn         make the case's changes during the warm-up too: the window then sees a
                       process that has changed state that long (V8 has compiled the code a
                       reload runs), as a long-lived one changing state once a second has
  --capacity-seconds S seconds of wrk -c50 that find flagman's capacity (default 5)
  --load-pct P         the offered rate, % of that capacity (default 50)
  --rate R             offer R req/s instead (skips the capacity run)
  --clients N          keep-alive connections of the paced load (default 20)
  --only LIST          proxies, comma-separated (default flagman,haproxy,nginx; flagman-base too
                       with --base-cli): ${CONTENDER_NAMES.join(', ')}
  --cases LIST         cases, comma-separated (default all): ${CASE_NAMES.join(', ')}
                       (reload is flagman's c and nginx's g; each proxy runs those it has)
  --proxy-cpu N        the core the proxy is pinned to (default 1)
  --load-cpu N         the core of the bench (its load) and the backend (default 0)
  --more-backends N    flagman's config: the realistic one and N more backends, each with a rule of
                       a second frontend the load never reaches (~5 lines each: a large file to
                       reload; default 0). flagman only: the other proxies' configs stay as they are
  --json FILE          also write every figure as JSON to FILE
  --no-install         do not apt-get anything (fail if a tool is missing)
  --cli PATH           the flagman command (default bin/flagman; a .js file is run with node)
  --base-cli PATH      another build's flagman command: its five cases run as flagman-base
  --stall-probe        also run a probe on each of the two cores that notes every time it woke up
                       10 ms or more late (bench/lib/stall-probe.js): a stall of the machine, not of
                       the proxy; the backend notes its event loop's gaps too. Per round: those in
                       the window (count, longest, and when) beside the window's slowest request and
                       when it was scheduled, and the machine's TCP retransmission timeouts, loss
                       probes and resent segments; 1-3 % of each core
  --keep               keep the temp directories
  --max-seconds S      overall bound (default 1200)
  --help

proxy CPU: utime + stime of the proxy's process tree over the window, with the processes of it that
exited and were waited for: flagman's restart case counts the activator's tree (the flagmans its
shell loop restarts), nginx's the master's (retired workers); HAProxy's sf-restart counts the live
haproxy processes and those that exited (the bench's own children). CPU/change: that CPU less the
same proxy's steady CPU per second over as long, ÷ the changes done, per round, then the median.`;

const opt = parseOptions(
  {
    rounds: { type: 'string', default: '2' },
    duration: { type: 'string', default: '12' },
    warmup: { type: 'string', default: '5' },
    'warm-churn': { type: 'boolean', default: false },
    'capacity-seconds': { type: 'string', default: '5' },
    'load-pct': { type: 'string', default: '50' },
    rate: { type: 'string' },
    clients: { type: 'string', default: '20' },
    only: { type: 'string' },
    cases: { type: 'string' },
    'proxy-cpu': { type: 'string', default: '1' },
    'load-cpu': { type: 'string', default: '0' },
    'more-backends': { type: 'string', default: '0' },
    json: { type: 'string' },
    'no-install': { type: 'boolean', default: false },
    cli: { type: 'string', default: path.join(root, 'bin/flagman') },
    'base-cli': { type: 'string' },
    keep: { type: 'boolean', default: false },
    'stall-probe': { type: 'boolean', default: false },
    'max-seconds': { type: 'string', default: '1200' },
  },
  HELP,
);

const cfg = {
  rounds: int('rounds', opt.rounds, 1),
  duration: int('duration', opt.duration, 1),
  warmup: int('warmup', opt.warmup),
  warmChurn: opt['warm-churn'],
  capacitySeconds: int('capacity-seconds', opt['capacity-seconds'], 1),
  loadPct: int('load-pct', opt['load-pct'], 1),
  rate: opt.rate === undefined ? null : int('rate', opt.rate, 1),
  clients: int('clients', opt.clients, 1),
  proxyCpu: int('proxy-cpu', opt['proxy-cpu']),
  loadCpu: int('load-cpu', opt['load-cpu']),
  moreBackends: int('more-backends', opt['more-backends']),
  maxSeconds: int('max-seconds', opt['max-seconds'], 10),
  cli: path.resolve(opt.cli),
  baseCli: opt['base-cli'] === undefined ? null : path.resolve(opt['base-cli']),
  stallProbe: opt['stall-probe'],
};
cfg.only = commaList(opt.only, ['flagman', 'haproxy', 'nginx', ...(cfg.baseCli ? ['flagman-base'] : [])]);
cfg.cases = commaList(opt.cases, CASE_NAMES);
for (const [what, names, known] of [
  ['proxy', cfg.only, CONTENDER_NAMES],
  ['case', cfg.cases, CASE_NAMES],
]) {
  for (const n of names) {
    if (!known.includes(n)) {
      console.error(`unknown ${what} ${n}; known: ${known.join(', ')}`);
      process.exit(2);
    }
  }
}
if (cfg.only.includes('flagman-base') && cfg.baseCli === null) {
  console.error('flagman-base needs --base-cli PATH (the flagman command or dist/cli/main.js of another build)');
  process.exit(2);
}
requireBuilt(cfg.cli, cfg.baseCli);

const log = startRun({ keep: opt.keep, maxSeconds: cfg.maxSeconds });

// ---------------------------------------------------------------------------------------------
// Setup: the machine, the backend.

/** One GET of /100 on a new connection: {status, body}. */
async function get(port) {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/100', agent: false, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('GET /100: no answer within 30 s')));
    req.on('error', reject);
  });
}

/** Writes `text` to `file` whole: a temp file beside it (a dotfile), renamed over it. */
async function writeAtomic(file, text) {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  await fs.promises.writeFile(tmp, text);
  await fs.promises.rename(tmp, file);
}

/** `argv` run to its end without blocking the load: resolves {code, out}. */
function run(argv, env = process.env) {
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { env, timeout: 10_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? 1) : 0, out: `${stdout}${stderr}`.trim() }),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// The proxies. start(ctx) resolves {port, pids() (the processes to count as ours), stop(), detail()}
// and, for each churn case it has, an action: {every (ms), act(n) (the n-th change; resolves when
// done, throws when it failed)}.

/** `text` with each [from, to] of `pairs` replaced; throws when a `from` is not there (a base config changed). */
function edit(text, ...pairs) {
  for (const [from, to] of pairs) {
    if (!text.includes(from)) throw new Error(`config edit: ${JSON.stringify(from)} not found`);
    text = text.replace(from, to);
  }
  return text;
}

// flagman's config: the realistic one, with --more-backends the large one.
const FLAGMAN_KIND = cfg.moreBackends > 0 ? 'realistic-large' : 'realistic';
const FLAGMAN_OPTIONS = { more: cfg.moreBackends };

/** flagman's config, app2's weight given (the reload case rewrites it). */
const flagmanYaml = (ports, app2Weight, listen) => {
  const y = edit(FLAGMAN_CONFIGS[FLAGMAN_KIND].yaml({ ports, ...FLAGMAN_OPTIONS }), [
    `app2: { address: "127.0.0.1:${ports[1]}", weight: 2 }`,
    `app2: { address: "127.0.0.1:${ports[1]}", weight: ${app2Weight} }`,
  ]);
  return listen ? edit(y, ['listen: ["127.0.0.1:0"]', `listen: ["${listen}"]`]) : y;
};

const count = (events, match) => events.filter(match).length;

async function startFlagman(cli, ctx) {
  const s = await flagman(FLAGMAN_KIND, { ...ctx, cli, configOptions: FLAGMAN_OPTIONS });
  const f = s.flagman;
  const file = path.join(ctx.dir, 'flagman.yaml');
  const weightFlag = path.join(ctx.dir, 'flags', 'app3.weight');
  const unusedFlag = path.join(ctx.dir, 'flags', 'SCRIPT_NOTE'); // no expression of the realistic config reads it
  const mark = { at: 0 };
  const since = () => f.events.slice(mark.at);
  const flagChanges = (name) => `${count(since(), (e) => e.event === 'flag.change' && e.flag === name)} flag.change`;
  return {
    port: s.port,
    pids: () => [s.pid], // node's: bin/flagman and taskset exec it
    cpuTicks: () => treeCpuTicksWithChildren(s.pid),
    stop: s.stop,
    begin: () => (mark.at = f.events.length),
    flag: {
      every: 100,
      act: (n) => writeAtomic(weightFlag, `${n % 2 ? 1 : 3}\n`), // unset (1) at start
      told: () => flagChanges('app3.weight'),
    },
    'flag-unused': {
      every: 100,
      act: (n) => writeAtomic(unusedFlag, `${n % 2 ? 1 : 3}\n`), // unset at start
      told: () => flagChanges('SCRIPT_NOTE'),
    },
    reload: {
      every: 1000,
      act: (n) => writeAtomic(file, flagmanYaml(ctx.backendPorts, n % 2 ? 2 : 3)), // 2 at start: each write a change
      told: () =>
        `${count(since(), (e) => e.event === 'reload')} reload, ${count(since(), (e) => e.event === 'reload.failed')} reload.failed`,
    },
  };
}

// flagman under systemd-socket-activate, which binds the port and holds it; a shell loop in its place
// starts flagman again each time one exits (what systemd does for `systemctl restart` of a service
// whose .socket unit keeps the port), each with LISTEN_PID set to its own PID. flagman's `start`
// event gives the PID of the one running; the restart is SIGTERM to it.
const LOOP = `while [ ! -e stop ]; do sh -c 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"' flagman "$@"; done`;

async function startFlagmanRestart(cli, ctx) {
  const file = path.join(ctx.dir, 'flagman.yaml');
  writeFlagmanConfig(ctx.dir, FLAGMAN_KIND, ctx.backendPorts, FLAGMAN_OPTIONS);
  fs.writeFileSync(file, flagmanYaml(ctx.backendPorts, 2, 'systemd:web'));
  const port = await freePort();
  const command = cli.endsWith('.js') ? [process.execPath, cli] : [cli];
  const holder = spawnPinned(
    ctx.cpu,
    'systemd-socket-activate',
    ['-l', `127.0.0.1:${port}`, '--fdname=web', 'sh', '-c', LOOP, 'churn-loop', ...command, 'run', '-c', file],
    { stdio: ['ignore', 'ignore', 'pipe'], cwd: ctx.dir },
  );
  const events = [];
  const waiters = new Set();
  let current = null; // the running flagman's PID, started by our holder: ours to signal
  const killCurrent = () => {
    try {
      if (current) process.kill(current, 'SIGKILL');
    } catch {
      // gone already
    }
  };
  process.once('exit', killCurrent);
  readline.createInterface({ input: holder.stderr }).on('line', (line) => {
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      e = { msg: line };
    }
    e.$at = now();
    if (e.event === 'start') current = e.pid;
    events.push(e);
    for (const w of waiters) w(e);
  });
  const waitFor = (match, timeoutMs) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`flagman restart: no matching event within ${timeoutMs} ms`));
      }, timeoutMs);
      const w = (e) => {
        if (!match(e)) return;
        clearTimeout(timer);
        waiters.delete(w);
        resolve(e);
      };
      waiters.add(w);
    });
  await waitFor((e) => /Listening on/.test(e.msg ?? ''), 15_000);
  // Like a .socket unit, the first connection starts the service.
  const started = waitFor((e) => e.event === 'start', 30_000);
  const r = await get(port);
  if (r.status !== 200) throw new Error(`flagman under systemd-socket-activate: first request got ${r.status}`);
  await started;
  const mark = { at: 0 };
  const tookMs = [];
  return {
    port,
    pids: () => [holder.pid],
    // The activator execs the shell loop, which waits for each flagman it started: the tree with
    // its waited-for children holds every flagman of the window, the exited ones too.
    cpuTicks: () => treeCpuTicksWithChildren(holder.pid),
    begin: () => (mark.at = events.length),
    stop: async () => {
      fs.writeFileSync(path.join(ctx.dir, 'stop'), '');
      try {
        if (current) process.kill(current, 'SIGTERM');
      } catch {
        // exited already
      }
      await stopChild(holder, 15_000);
      process.off('exit', killCurrent);
    },
    restart: {
      every: 5000,
      act: async () => {
        const t = now();
        const exited = waitFor((e) => e.event === 'exit', 30_000);
        const next = waitFor((e) => e.event === 'start', 30_000);
        process.kill(current, 'SIGTERM');
        const gone = await exited;
        const up = await next;
        tookMs.push(`${Math.round(gone.$at - t)}+${Math.round(up.$at - gone.$at)}`);
      },
      told: () => {
        const mine = events.slice(mark.at);
        return `${count(mine, (e) => e.event === 'start')} start, SIGTERM→exit+exit→start ${tookMs.join(', ')} ms`;
      },
    },
  };
}

// HAProxy as bench/lib/haproxy.js runs it, with the three servers (3:2:1, as flagman's), a stats
// socket at admin level (the runtime API), and a response header from CHURN_GEN in its environment:
// the -sf restart starts each new process with another value, as a config change would.
async function startHaproxy(ctx) {
  const sock = path.join(ctx.dir, 'haproxy.sock');
  const file = path.join(ctx.dir, 'haproxy.cfg');
  const [p1, p2, p3] = ctx.backendPorts;
  const makeCommand = (_dir, { port }) => {
    const text = edit(
      haproxyConfig({ port, upstream: p1 }),
      ['    maxconn 4096\n', `    maxconn 4096\n    stats socket ${sock} mode 600 level admin\n`],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: HAProxy's own syntax for an environment variable
      ['    default_backend be\n', '    http-response set-header X-Churn-Gen "${CHURN_GEN}"\n    default_backend be\n'],
      [
        `    server app1 127.0.0.1:${p1}\n`,
        `    server app1 127.0.0.1:${p1} weight 3\n    server app2 127.0.0.1:${p2} weight 2\n    server app3 127.0.0.1:${p3} weight 1\n`,
      ],
    );
    fs.writeFileSync(file, text);
    return ['haproxy', ['-db', '-f', file]];
  };
  process.env.CHURN_GEN = '0'; // the first haproxy's (namedPortServer passes this process's environment)
  const first = await namedPortServer('haproxy', makeCommand, ctx);
  const live = [{ pid: first.pid, stop: first.stop }];
  let spawned = 0;
  let exitedEarly = 0;
  const mark = { spawned: 0, replies: [] };
  return {
    port: first.port,
    pids: () => live.map((p) => p.pid),
    // Every haproxy is this process's child: one that exited (-sf) is in our cutime, with nothing
    // else, as no other child of the bench exits during a window.
    cpuTicks: () => live.reduce((sum, p) => sum + treeCpuTicksWithChildren(p.pid), 0) + (reapedChildrenTicks(process.pid) ?? 0),
    begin: () => {
      mark.spawned = spawned;
      mark.replies = [];
    },
    stop: async () => {
      for (const p of [...live]) await p.stop(); // a copy: each exit takes its entry out of `live`
    },
    'sf-restart': {
      every: 1000,
      act: async (n) => {
        const old = live.at(-1).pid;
        const child = spawnPinned(ctx.cpu, 'haproxy', ['-db', '-f', file, '-sf', String(old)], {
          stdio: ['ignore', 'ignore', 'ignore'],
          env: { ...process.env, CHURN_GEN: String(n + 1) },
        });
        spawned++;
        const entry = { pid: child.pid, stop: () => stopChild(child) };
        live.push(entry);
        child.once('exit', () => {
          live.splice(live.indexOf(entry), 1);
          if (live.length === 0) exitedEarly++;
        });
      },
      told: () => `${spawned - mark.spawned} haproxy -sf started${exitedEarly ? `, ${exitedEarly} times none left` : ''}`,
    },
    'set-weight': {
      every: 100,
      act: (n) =>
        new Promise((resolve, reject) => {
          const c = net.connect(sock);
          let reply = '';
          c.setEncoding('utf8');
          c.on('data', (d) => (reply += d));
          c.on('error', reject);
          c.on('end', () => {
            mark.replies.push(reply.trim());
            if (reply.trim() === '') resolve();
            else reject(new Error(`set weight: ${reply.trim()}`));
          });
          c.end(`set weight be/app1 ${n % 2 ? 3 : 1}\n`); // 3 at start
        }),
      told: () => `${mark.replies.filter((r) => r === '').length} empty (ok) replies`,
    },
  };
}

// nginx as bench/lib/nginx.js runs it, with its master process (a reload is a signal to the
// master, which starts new workers and retires the old) and the three servers weighted 3:2:1.
async function startNginx(ctx) {
  const [p1, p2, p3] = ctx.backendPorts;
  let file = null;
  let conf = null;
  const text = (app2Weight) =>
    edit(
      conf,
      ['master_process off;', 'master_process on;'],
      [
        `        server 127.0.0.1:${p1};\n`,
        `        server 127.0.0.1:${p1} weight=3;\n        server 127.0.0.1:${p2} weight=${app2Weight};\n        server 127.0.0.1:${p3} weight=1;\n`,
      ],
    );
  const makeCommand = (dir, { port }) => {
    file = path.join(dir, 'nginx.conf');
    conf = nginxConfig({ port, upstream: p1, dir });
    fs.writeFileSync(file, text(2));
    return ['nginx', ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', file]];
  };
  const s = await namedPortServer('nginx', makeCommand, ctx);
  const cmd = ['nginx', '-p', ctx.dir, '-e', path.join(ctx.dir, 'error.log'), '-c', file];
  let reloads = 0;
  const mark = { reloads: 0 };
  return {
    port: s.port,
    pids: () => [s.pid],
    // The master and its workers, the retired ones (waited for by the master) too; not `nginx -s
    // reload`, the bench's command that signals the master.
    cpuTicks: () => treeCpuTicksWithChildren(s.pid),
    begin: () => (mark.reloads = reloads),
    stop: s.stop,
    reload: {
      every: 1000,
      act: async (n) => {
        await writeAtomic(file, text(n % 2 ? 2 : 3));
        const r = await run([...cmd, '-s', 'reload']);
        if (r.code !== 0) throw new Error(`nginx -s reload: ${r.out}`);
        reloads++;
      },
      told: () => `${reloads - mark.reloads} nginx -s reload exit 0`,
    },
  };
}

/** name → {start(ctx), cases: [[case, letter]]} */
const PROXIES = {
  flagman: {
    start: (ctx) => startFlagman(cfg.cli, ctx),
    restart: (ctx) => startFlagmanRestart(cfg.cli, ctx),
    cases: [
      ['steady', 'a'],
      ['flag', 'b'],
      ['flag-unused', 'h'],
      ['reload', 'c'],
      ['restart', 'd'],
    ],
  },
  haproxy: {
    start: startHaproxy,
    cases: [
      ['steady', ''],
      ['sf-restart', 'e'],
      ['set-weight', 'f'],
    ],
  },
  nginx: {
    start: startNginx,
    cases: [
      ['steady', ''],
      ['reload', 'g'],
    ],
  },
  'flagman-base': {
    start: (ctx) => startFlagman(cfg.baseCli, ctx),
    restart: (ctx) => startFlagmanRestart(cfg.baseCli, ctx),
    cases: [
      ['steady', ''],
      ['flag', ''],
      ['flag-unused', ''],
      ['reload', ''],
      ['restart', ''],
    ],
  },
};

const DESCRIBE = {
  steady: 'nothing changes',
  flag: 'flags/app3.weight 1 ↔ 3, temp file + rename, 10/s',
  'flag-unused': 'flags/SCRIPT_NOTE (read by no expression) 1 ↔ 3, temp file + rename, 10/s',
  reload: 'config rewritten (app2 weight 2 ↔ 3), 1/s',
  restart: 'SIGTERM, new flagman on the held socket (systemd-socket-activate), every 5 s',
  'sf-restart': 'new haproxy -sf OLDPID, CHURN_GEN changed, 1/s',
  'set-weight': 'stats socket: set weight be/app1 3 ↔ 1, 10/s',
};
const describe = (proxy, name) => (proxy === 'nginx' && name === 'reload' ? 'nginx.conf rewritten, nginx -s reload, 1/s' : DESCRIBE[name]);

// ---------------------------------------------------------------------------------------------
// Measuring.

/** Runs `act(n)` every `every` ms (never two at once: a slow one delays the next) until stop(). */
function churn({ every, act }) {
  const stats = { done: 0, failed: 0, errors: {} };
  let stopping = false;
  const wake = new AbortController(); // stop() ends the wait for the next change at once
  const t0 = now();
  const loop = (async () => {
    for (let n = 0; !stopping; n++) {
      const wait = t0 + (n + 1) * every - now();
      if (wait > 0) await delay(wait, undefined, { signal: wake.signal }).catch(() => {});
      if (stopping) break;
      try {
        await act(n);
        stats.done++;
      } catch (err) {
        stats.failed++;
        const label = failureLabel(err).slice(0, 80);
        stats.errors[label] = (stats.errors[label] ?? 0) + 1;
      }
    }
  })();
  return async () => {
    stopping = true;
    wake.abort();
    await loop;
    return stats;
  };
}

async function capacity(backend) {
  const dir = tempDir('flagman-churn-capacity-');
  const s = await flagman('realistic', { dir, backendPorts: backend.ports, cpu: cfg.proxyCpu, cli: cfg.cli });
  try {
    const wrkDir = tempDir('flagman-churn-wrk-');
    const w = (seconds) => runWrk({ dir: wrkDir, port: s.port, path: '/100', seconds, connections: 50, cpu: cfg.loadCpu });
    await w(2);
    const m = await w(cfg.capacitySeconds);
    if (m.errors > 0) throw new Error(`capacity run: ${m.errors} errors (${JSON.stringify(m.errorDetail)})`);
    return { rps: Math.round(m.rps), p50: m.p50, p99: m.p99 };
  } finally {
    await s.stop();
  }
}

async function measure(proxyName, caseName, letter, backend, rate) {
  const dir = tempDir(`flagman-churn-${proxyName}-${caseName}-`);
  const ctx = { dir, backendPorts: backend.ports, cpu: cfg.proxyCpu };
  const p = PROXIES[proxyName];
  const s = caseName === 'restart' ? await p.restart(ctx) : await p.start(ctx);
  try {
    const r = await get(s.port);
    if (r.status !== 200 || r.body.length !== 100) throw new Error(`${proxyName}: sanity request got ${r.status}, ${r.body.length} bytes`);
    const load = startPacedLoad(s.port, { clients: cfg.clients, rate });
    const action = caseName === 'steady' ? null : s[caseName];
    const warmChurn = action && cfg.warmChurn ? churn(action) : null;
    await delay(cfg.warmup * 1000);
    await warmChurn?.();
    load.take();
    const tcp0 = probes.length > 0 ? tcpCounters() : null;
    const cpu0 = s.cpuTicks();
    const t0 = now();
    s.begin?.();
    const foreign = foreignWindow(() => [
      process.pid,
      backend.pid,
      ...probes.map((p) => p.probe.pid),
      ...s.pids().flatMap((pid) => processTree(pid)),
    ]);
    const stopChurn = action ? churn(action) : null;
    await delay(cfg.duration * 1000);
    const actions = stopChurn ? await stopChurn() : null;
    const w = await load.stop();
    const stalls = stallsOf(w, tcp0, backend);
    // The churn stops before the load does, so the window holds every change whole (but for the
    // work a last one leaves the proxy after it resolved).
    const cpuS = (s.cpuTicks() - cpu0) / ticksPerSecond();
    const cpuWindowS = (now() - t0) / 1000;
    const lat = summary(w.latencies);
    return {
      proxy: proxyName,
      case: caseName,
      letter,
      what: describe(proxyName, caseName),
      offered: rate,
      rps: Math.round(w.ok / w.seconds),
      requests: w.requests,
      ok: w.ok,
      errors: w.failed,
      failures: w.failures,
      p50: lat.p50,
      p99: lat.p99,
      max: lat.max,
      p99s: round1(p99PerSecond(w, cfg.duration), 2), // the window ends after `duration` s: its whole seconds
      maxs: round1(maxPerSecond(w, cfg.duration), 2),
      cpuS: round1(cpuS, 2),
      cpuWindowS: round1(cpuWindowS, 3),
      cpuPct: round1((cpuS / cpuWindowS) * 100),
      actions: actions && { ...actions, told: action.told?.() ?? null },
      otherCpuPct: foreign(),
      loadavg1: loadavg1(),
      ...(stalls && { stalls }),
    };
  } finally {
    await s.stop();
  }
}

// The probes of --stall-probe, one per core, started with the backend.
const probes = [];

/**
 * With --stall-probe: the late wake-ups of each core's probe and the gaps of the backend's event
 * loop from when the window's first request was due (some are due before it starts, when the load
 * is behind) to its end (count, the longest and when it began, s from the window's start), the
 * window's slowest request (ms, and when it was scheduled), and the machine's TCP retransmissions
 * over the window (from `tcp0`, read at its start).
 */
function stallsOf(w, tcp0, backend) {
  if (probes.length === 0) return null;
  const start = performance.timeOrigin + w.t0;
  const end = start + w.seconds * 1000;
  let earliest = 0;
  for (const at of w.scheduledAt) if (at < earliest) earliest = at;
  const longestOf = (got) => {
    const longest = got.reduce((a, b) => (b.ms > (a?.ms ?? 0) ? b : a), null);
    return { n: got.length, maxMs: longest?.ms ?? 0, atS: longest ? round1((longest.at - start) / 1000, 2) : null };
  };
  const seen = {};
  for (const p of probes) seen[`cpu${p.cpu}`] = longestOf(p.probe.within(start + earliest, end));
  seen.backend = longestOf(backend.gaps(start + earliest, end));
  let slow = 0;
  for (let i = 1; i < w.latencies.length; i++) if (w.latencies[i] > w.latencies[slow]) slow = i;
  const slowest = w.latencies.length > 0 ? { ms: round1(w.latencies[slow], 1), atS: round1(w.scheduledAt[slow] / 1000, 2) } : null;
  const tcp1 = tcpCounters();
  const tcp = Object.fromEntries(Object.keys(tcp1).map((k) => [k, tcp1[k] - tcp0[k]]));
  return { ...seen, slowest, tcp, windowStart: round1(start, 1) };
}

/** The progress line's part for `stalls`. */
function stallText(st) {
  if (!st) return '';
  const cores = Object.entries(st)
    .filter(([k]) => k.startsWith('cpu') || k === 'backend')
    .map(([k, c]) => `${k} ${c.n}${c.n ? ` (max ${c.maxMs} ms at ${c.atS} s)` : ''}`)
    .join(', ');
  const tcp = `TCP: ${st.tcp.timeouts} timeouts, ${st.tcp.lossProbes} loss probes, ${st.tcp.retransmitted} resent`;
  return `  stalls ${cores}; slowest request ${st.slowest?.ms} ms at ${st.slowest?.atS} s; ${tcp}`;
}

// One row per proxy and case: p50/p99/p99s/CPU % the median over rounds, max the largest, errors
// and changes summed; the ratios taken within each round (to the same proxy's steady case, and to
// flagman's (a)), then their median, so load that moves a whole round cancels out; so is CPU per
// change, the same proxy's steady CPU of that round taken out. `short`: a
// round in which the load did not keep the offered rate: its clients, on a shared core, fell
// behind (its latencies then measure the machine, not the proxy), or a stall near the window's
// end was not caught up with yet.
function aggregate(runs, rate) {
  const steady = (r, proxy) => runs.find((x) => x.round === r && x.proxy === proxy && x.case === 'steady') ?? null;
  const ratio = (x, y) => (x === null || !y ? null : round1(x / y, 2));
  for (const m of runs) {
    const own = steady(m.round, m.proxy);
    const a = steady(m.round, 'flagman');
    m.p99VsSteady = ratio(m.p99, own?.p99);
    m.p99VsA = ratio(m.p99, a?.p99);
    m.p99sVsSteady = ratio(m.p99s, own?.p99s);
    m.maxsVsSteady = ratio(m.maxs, own?.maxs);
    m.cpuPerChangeMs =
      m.case !== 'steady' && own && m.actions?.done > 0
        ? round1(((m.cpuS - (own.cpuS / own.cpuWindowS) * m.cpuWindowS) / m.actions.done) * 1000, 2)
        : null;
    m.short = m.rps < 0.95 * rate;
  }
  const keys = [...new Set(runs.map((m) => `${m.proxy}/${m.case}`))];
  return keys.map((k) => {
    const mine = runs.filter((m) => `${m.proxy}/${m.case}` === k);
    const first = mine[0];
    const failures = {};
    for (const m of mine) for (const [label, n] of Object.entries(m.failures)) failures[label] = (failures[label] ?? 0) + n;
    const sum = (f) => mine.reduce((t, m) => t + (f(m) ?? 0), 0);
    const told = mine.map((m) => m.actions?.told).filter(Boolean);
    return {
      proxy: first.proxy,
      case: first.case,
      letter: first.letter,
      what: first.what,
      rounds: mine.length,
      rps: round1(median(mine.map((m) => m.rps)), 0),
      shortRounds: mine.filter((m) => m.short).length,
      requests: sum((m) => m.requests),
      errors: sum((m) => m.errors),
      failures,
      p50: round1(median(mine.map((m) => m.p50)), 2),
      p99: round1(median(mine.map((m) => m.p99)), 2),
      max: Math.max(...mine.map((m) => m.max ?? 0)),
      p99VsSteady: round1(median(mine.map((m) => m.p99VsSteady)), 2),
      p99VsA: round1(median(mine.map((m) => m.p99VsA)), 2),
      p99s: round1(median(mine.map((m) => m.p99s)), 2),
      p99sVsSteady: round1(median(mine.map((m) => m.p99sVsSteady)), 2),
      maxs: round1(median(mine.map((m) => m.maxs)), 2),
      maxsVsSteady: round1(median(mine.map((m) => m.maxsVsSteady)), 2),
      cpuPct: round1(median(mine.map((m) => m.cpuPct))),
      cpuPerChangeMs: round1(median(mine.map((m) => m.cpuPerChangeMs)), 2),
      actions: first.actions && {
        done: sum((m) => m.actions.done),
        failed: sum((m) => m.actions.failed),
        errors: Object.assign({}, ...mine.map((m) => m.actions.errors)),
        told: told.join(' | ') || null,
      },
      otherCpuPct: mine.map((m) => m.otherCpuPct).join('/'),
    };
  });
}

function print(mach, offer, rows) {
  console.log(`\nflagman bench/churn.js — ${mach.date}`);
  console.log(
    `machine: ${mach.nproc} CPUs (${mach.cpu}), ${mach.memGiB} GiB, Linux ${mach.kernel}; node ${mach.node}, haproxy ${mach.haproxy}, nginx ${mach.nginx}, wrk ${mach.wrk}; commit ${mach.commit}; load average at start ${mach.loadavg.join(' ')}`,
  );
  console.log(
    `run: ${offer.capacity ? `flagman's capacity ${offer.capacity.rps} req/s (wrk -c50, ${cfg.capacitySeconds} s, p99 ${offer.capacity.p99} ms); ` : ''}offered ${offer.rate} req/s paced on ${cfg.clients} keep-alive connections; ${cfg.rounds} interleaved rounds × (${cfg.warmup} s warm-up${cfg.warmChurn ? ', changes included,' : ''} + ${cfg.duration} s) per case; proxy on cpu ${cfg.proxyCpu}, the bench's load and the backend on cpu ${cfg.loadCpu}${cfg.moreBackends > 0 ? `; flagman's config: realistic + ${cfg.moreBackends} more backends` : ''}`,
  );
  console.log(
    "latency: from each request's scheduled time to its response (2xx only), median over rounds (max: the largest); p99/s med: the median of the window's per-second p99s (by scheduled time), which one stall cannot set; max/s med: the median of its per-second maxima, the stall a typical second (a typical change, at one a second) leaves; errors: every request not answered 2xx, all rounds; ratios: per round, then the median; req/s marked * when a round fell 5 % or more short of the offered rate: the load's core too busy to keep the schedule (then that row's latencies are the machine's), or a stall the load had not caught up with when the window ended",
  );
  console.log(
    "proxy CPU: utime + stime of the proxy's process tree over the window (exited processes of it too: restarted flagmans, retired nginx workers, old haproxys), % of one core, median over rounds; CPU/change: that CPU less the same proxy's steady CPU per second over as long, ÷ the changes done, per round, then the median\n",
  );
  const f = (x, d = 2) => (x === null || x === undefined ? '-' : x.toFixed(d));
  const kinds = (r) =>
    Object.entries(r.failures)
      .sort((x, y) => y[1] - x[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const cols = [
    { key: 'id', title: 'case', align: 'left' },
    { key: 'what', title: 'what changes', align: 'left' },
    { key: 'rps', title: 'req/s' },
    { key: 'requests', title: 'requests' },
    { key: 'errors', title: 'errors' },
    { key: 'kinds', title: 'error kinds', align: 'left' },
    { key: 'p50', title: 'p50 ms' },
    { key: 'p99', title: 'p99 ms' },
    { key: 'max', title: 'max ms' },
    { key: 'p99VsSteady', title: 'p99×steady' },
    { key: 'p99VsA', title: 'p99×(a)' },
    { key: 'p99s', title: 'p99/s med' },
    { key: 'p99sVsSteady', title: 'p99/s×steady' },
    { key: 'maxs', title: 'max/s med' },
    { key: 'maxsVsSteady', title: 'max/s×steady' },
    { key: 'cpuPct', title: 'proxy CPU %' },
    { key: 'cpuPerChangeMs', title: 'CPU/change ms' },
    { key: 'acts', title: 'changes done', align: 'left' },
    { key: 'otherCpuPct', title: 'other cpu%' },
  ];
  console.log(
    table(
      cols,
      rows.map((r) => ({
        ...r,
        id: `${r.letter ? `${r.letter} ` : '  '}${r.proxy}/${r.case}`,
        rps: `${r.rps}${r.shortRounds ? '*' : ''}`,
        kinds: kinds(r) || '-',
        p50: f(r.p50),
        p99: f(r.p99),
        max: f(r.max, 1),
        p99VsSteady: f(r.p99VsSteady),
        p99VsA: f(r.p99VsA),
        p99s: f(r.p99s),
        p99sVsSteady: f(r.p99sVsSteady),
        maxs: f(r.maxs),
        maxsVsSteady: f(r.maxsVsSteady),
        cpuPct: f(r.cpuPct, 1),
        cpuPerChangeMs: f(r.cpuPerChangeMs, 1),
        acts: r.actions
          ? `${r.actions.done}${r.actions.failed ? ` (+${r.actions.failed} failed: ${Object.keys(r.actions.errors).join('; ')})` : ''}${r.actions.told ? `; ${r.actions.told}` : ''}`
          : '-',
      })),
    ),
  );
}

let code = 2;
try {
  if (!opt['no-install']) ensureTools(['haproxy', 'nginx', 'wrk', 'taskset', 'systemd-socket-activate'], log);
  // The load runs in this process: keep it off the proxy's core. Every thread of it (-a): V8's, which
  // collect this process's garbage (a latency a request), ran on the proxy's core too, each burst a
  // wait for the proxy (`perf sched latency`: 240 ms of them in a 17 s window, at nice 0).
  execFileSync('taskset', ['-apc', String(cfg.loadCpu), String(process.pid)], { stdio: 'ignore' });
  const mach = machine();
  log(`machine: ${mach.nproc} × ${mach.cpu}, Linux ${mach.kernel}, node ${mach.node}; load ${mach.loadavg.join(' ')}`);
  // With --stall-probe the backend notes its own event loop's gaps too (bench/lib/backend.js).
  if (cfg.stallProbe) process.env.FLAGMAN_BENCH_BACKEND_GAPS = '1';
  const backend = await startBackend({ cpu: cfg.loadCpu, maxSeconds: cfg.maxSeconds + 60 });
  if (cfg.stallProbe) {
    for (const cpu of [cfg.proxyCpu, cfg.loadCpu]) probes.push({ cpu, probe: startStallProbe(cpu) });
    log(`stall probes: ${probes.map((p) => `pid ${p.probe.pid} on cpu ${p.cpu}`).join(', ')}`);
  }
  log(`backend: pid ${backend.pid}, ports ${backend.ports.join(', ')} (cpu ${cfg.loadCpu})`);
  const offer = { capacity: null, rate: cfg.rate };
  if (offer.rate === null) {
    offer.capacity = await capacity(backend);
    offer.rate = Math.round((offer.capacity.rps * cfg.loadPct) / 100);
    log(`flagman's capacity: ${offer.capacity.rps} req/s (p99 ${offer.capacity.p99} ms); offering ${cfg.loadPct} %: ${offer.rate} req/s`);
  }
  const runs = [];
  for (let round = 1; round <= cfg.rounds; round++) {
    log(`round ${round}/${cfg.rounds}`);
    for (const proxyName of cfg.only) {
      for (const [caseName, letter] of PROXIES[proxyName].cases) {
        if (!cfg.cases.includes(caseName)) continue;
        const m = { round, ...(await measure(proxyName, caseName, letter, backend, offer.rate)) };
        runs.push(m);
        log(
          `  ${`${proxyName}/${caseName}`.padEnd(24)} ${m.rps} req/s  errors ${m.errors}${m.errors ? ` (${JSON.stringify(m.failures)})` : ''}  p50 ${m.p50} p99 ${m.p99} max ${m.max} p99/s ${m.p99s} max/s ${m.maxs} ms  cpu ${m.cpuPct}% (${m.cpuS} s)  changes ${m.actions ? `${m.actions.done} (${m.actions.failed} failed) ${m.actions.told ?? ''}` : '-'}  other ${m.otherCpuPct}%  load ${m.loadavg1}${stallText(m.stalls)}`,
        );
      }
    }
  }
  await backend.stop();
  for (const p of probes) p.probe.stop();
  const rows = aggregate(runs, offer.rate);
  print(mach, offer, rows);
  const result = {
    bench: 'churn',
    machine: mach,
    options: {
      rounds: cfg.rounds,
      duration: cfg.duration,
      warmup: cfg.warmup,
      warmChurn: cfg.warmChurn,
      clients: cfg.clients,
      loadPct: cfg.loadPct,
      proxyCpu: cfg.proxyCpu,
      loadCpu: cfg.loadCpu,
      moreBackends: cfg.moreBackends,
    },
    offer,
    rows,
  };
  if (opt.json) fs.writeFileSync(opt.json, `${JSON.stringify({ ...result, runs }, null, 1)}\n`);
  console.log(`\n${JSON.stringify(result)}`);
  code = 0;
} catch (err) {
  log(`error: ${err.stack ?? err.message}`);
  code = 2;
}
await delay(10);
process.exit(code);
