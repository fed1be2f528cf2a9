#!/usr/bin/env node
// What one flag change costs flagman in CPU, with no traffic to hide it: flagman runs the realistic
// config (bench/lib/flagman-configs.js: 5 CEL rules, 3 weighted servers with health checks, the
// flag state file), pinned to its core, and for each round and build, in turn:
//   idle     --writes files written at --interval ms, outside the flags directory: flagman's own
//            CPU meanwhile (health checks, the rescan) is the baseline;
//   FLAG     the same writes (temp file + rename, values 1 and 3 in turn) to each flag of --flags:
//            by default `app3.weight`, which a server's weight reads, and `SCRIPT_NOTE`, which no
//            expression reads.
// CPU per change = (the flag's CPU − the idle CPU) ÷ the changes flagman logged (flag.change).
// Builds (--base-cli) interleave within each round; figures are medians over rounds, with each
// round's value beside them. Prints a table and one JSON line.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { int, parseOptions, requireBuilt } from './lib/cli.js';
import { startFlagman } from './lib/flagman.js';
import { writeFlagmanConfig } from './lib/flagman-configs.js';
import { adopt, tempDir } from './lib/owned.js';
import { ticksPerSecond, treeCpuTicks } from './lib/proc.js';
import { machine, median, round1, startBackend, startRun } from './lib/run.js';
import { table } from './lib/stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const HELP = `usage: node bench/flag-cost.js [options]
  --flags LIST       flags written, comma-separated (default app3.weight,SCRIPT_NOTE: one a
                     server's weight reads, one no expression reads)
  --writes N         writes per flag and round (default 100)
  --interval MS      between two writes (default 100: 10 a second)
  --rounds N         rounds, builds interleaved (default 3)
  --cli PATH         the flagman command (default bin/flagman)
  --base-cli PATH    another build's command, measured the same way as "base"
  --cpu N            flagman's core (default 1; this process and the backend: the other one)
  --json FILE        also write every figure (all rounds) as JSON to FILE
  --max-seconds S    overall bound (default 900)
  --help`;

const opt = parseOptions(
  {
    flags: { type: 'string', default: 'app3.weight,SCRIPT_NOTE' },
    writes: { type: 'string', default: '100' },
    interval: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
    cli: { type: 'string', default: path.join(root, 'bin/flagman') },
    'base-cli': { type: 'string' },
    cpu: { type: 'string', default: '1' },
    json: { type: 'string' },
    'max-seconds': { type: 'string', default: '900' },
  },
  HELP,
);
const cfg = {
  flags: opt.flags
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
  writes: int('writes', opt.writes, 1),
  interval: int('interval', opt.interval, 1),
  rounds: int('rounds', opt.rounds, 1),
  cpu: int('cpu', opt.cpu),
  maxSeconds: int('max-seconds', opt['max-seconds'], 10),
};
const builds = [['flagman', path.resolve(opt.cli)]];
if (opt['base-cli'] !== undefined) builds.push(['base', path.resolve(opt['base-cli'])]);
requireBuilt(...builds.map(([, cli]) => cli));

const log = startRun({ maxSeconds: cfg.maxSeconds });

/** Writes `file` `n` times, `interval` ms apart, as a careful writer does (temp file + rename). */
async function writeMany(file, n) {
  let v = 1;
  for (let i = 0; i < n; i++) {
    v = v === 1 ? 3 : 1;
    fs.writeFileSync(`${file}.tmp`, `${v}\n`);
    fs.renameSync(`${file}.tmp`, file);
    await delay(cfg.interval);
  }
  // The last change's work: flagman reads a file some milliseconds after it changes.
  await delay(500);
}

/** One build's round: {idle: cpu ms, [flag]: {cpuMs, changes}} over `writes` writes each. */
async function measure(cli, backend) {
  const dir = tempDir('flagman-bench-flag-cost-');
  const outside = tempDir('flagman-bench-flag-cost-out-');
  const file = writeFlagmanConfig(dir, 'realistic', backend.ports);
  const f = await startFlagman(cli, file, { prefix: ['taskset', '-c', String(cfg.cpu)], onSpawn: adopt, cwd: dir });
  try {
    await delay(2000); // start-up's own work (first checks, the state file) out of the way
    const cpuMs = () => (treeCpuTicks(f.pid) / ticksPerSecond()) * 1000;
    const out = {};
    for (const name of ['idle', ...cfg.flags]) {
      const from = f.events.length;
      const c0 = cpuMs();
      await writeMany(name === 'idle' ? path.join(outside, 'x') : path.join(dir, 'flags', name), cfg.writes);
      const changes = f.events.slice(from).filter((e) => e.event === 'flag.change').length;
      out[name] = { cpuMs: cpuMs() - c0, changes };
    }
    return out;
  } finally {
    await f.stop(10_000);
  }
}

const mach = machine();
log(`machine: ${mach.nproc} × ${mach.cpu}, Linux ${mach.kernel}, node ${mach.node}; commit ${mach.commit}; load ${mach.loadavg.join(' ')}`);
const backend = await startBackend({ cpu: cfg.cpu === 0 ? 1 : 0, maxSeconds: cfg.maxSeconds + 60 });
const runs = [];
let code = 0;
try {
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const [build, cli] of builds) {
      const m = await measure(cli, backend);
      for (const name of cfg.flags) {
        const { cpuMs, changes } = m[name];
        const perChange = changes === 0 ? null : (cpuMs - m.idle.cpuMs) / changes;
        runs.push({
          round,
          build,
          flag: name,
          changes,
          cpuMs: round1(cpuMs),
          idleCpuMs: round1(m.idle.cpuMs),
          perChangeMs: round1(perChange, 2),
        });
        log(
          `round ${round} ${build.padEnd(7)} ${name.padEnd(12)} ${changes} changes, CPU ${round1(cpuMs)} ms (idle ${round1(m.idle.cpuMs)} ms): ${round1(perChange, 2)} ms a change`,
        );
      }
    }
  }
} catch (err) {
  log(`failed: ${err.stack ?? err}`);
  code = 1;
} finally {
  await backend.stop();
}

const rows = [];
for (const [build] of builds)
  for (const name of cfg.flags) {
    const rs = runs.filter((r) => r.build === build && r.flag === name);
    if (rs.length === 0) continue;
    rows.push({
      build,
      flag: name,
      changes: rs.reduce((a, r) => a + r.changes, 0),
      perChange: round1(median(rs.map((r) => r.perChangeMs)), 2),
      rounds: rs.map((r) => r.perChangeMs).join(', '),
      idle: round1(median(rs.map((r) => (r.idleCpuMs / (cfg.writes * cfg.interval + 500)) * 100)), 1),
    });
  }
console.log(`\nflagman bench/flag-cost.js — ${mach.date}; node ${mach.node}; commit ${mach.commit}`);
console.log(
  `${cfg.writes} writes per flag and round, ${cfg.interval} ms apart (temp file + rename), ${cfg.rounds} round(s); flagman on cpu ${cfg.cpu}, realistic config, no traffic\n`,
);
console.log(
  table(
    [
      { key: 'build', title: 'build', align: 'left' },
      { key: 'flag', title: 'flag', align: 'left' },
      { key: 'changes', title: 'changes' },
      { key: 'perChange', title: 'CPU ms a change (median)' },
      { key: 'rounds', title: 'per round', align: 'left' },
      { key: 'idle', title: 'idle CPU %' },
    ],
    rows,
  ),
);
console.log(JSON.stringify({ bench: 'flag-cost', machine: mach, options: cfg, rows, runs }));
if (opt.json) fs.writeFileSync(opt.json, `${JSON.stringify({ machine: mach, options: cfg, rows, runs }, null, 1)}\n`);
process.exit(code);
