// What reading flagman.yaml costs a process that has just started: the start's read and the
// reloads after it, with the quick YAML reader (js-yaml's events, src/config/yaml-tree.ts) against
// the full one (the `yaml` package's document model), each in fresh Node processes, interleaved
// round by round. A reload runs on the serving thread, so its milliseconds are a stall for the
// requests meanwhile; its first ones run before V8 has compiled the reader's code hot.
// See bench/README.md.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { commaList, int, parseOptions, requireBuilt } from './lib/cli.js';
import { FLAGMAN_CONFIGS } from './lib/flagman-configs.js';
import { machine, median } from './lib/run.js';
import { fmt, table } from './lib/stats.js';

const here = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(here), '..');

const HELP = `usage: node bench/config-read.js [options]
  --rounds N      rounds: each reader once per config per round, each time in a fresh process (default 5)
  --reads N       reads per process: the start's, then N-1 reloads (default 20)
  --gap MS        pause between reads, as between reloads (default 50)
  --configs LIST  realistic (the bench's config, 47 lines), large (with 300 more backends, ~1,550
                  lines); default both
  --cpu N         pin the processes to CPU N (default 1; -1: no pinning)
  --base-root DIR another build's checkout (its dist/ built): its quick reader runs too, as
                  quick-base, and the quick row gives this build's times ÷ that one's, per round
  --help`;

// --- the child: one process, one reader, --reads reads -----------------------------------------
if (process.argv[2] === '--child') {
  const [, , , reader, kind, reads, gap, from = root] = process.argv;
  const { readYamlTree } = await import(path.join(from, 'dist/config/yaml-tree.js'));
  const { parseConfigText } = await import(path.join(from, 'dist/config/load.js'));
  const base = FLAGMAN_CONFIGS[kind === 'large' ? 'realistic-large' : 'realistic'].yaml({ ports: [9001, 9002, 9003], more: 300 });
  const file = path.join(root, 'bench', 'flagman.yaml'); // named in positions only: nothing is read from it
  const yamlMs = [];
  const totalMs = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < Number(reads); i++) {
    // Each reload a change, as the churn bench makes: app2's weight 2 ↔ 3.
    const text = base.replace('weight: 2 }', `weight: ${2 + (i % 2)} }`);
    const a = performance.now();
    const tree = readYamlTree(text, reader !== 'full');
    const b = performance.now();
    if (tree.reader !== reader.replace('-base', '')) throw new Error(`asked for the ${reader} reader, got the ${tree.reader} one`);
    yamlMs.push(b - a);
    // The whole read as flagman makes it (the quick reader): the tree, then the config's own checks.
    const c = performance.now();
    parseConfigText(text, file);
    totalMs.push(performance.now() - c);
    await delay(Number(gap));
  }
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`${JSON.stringify({ yamlMs, totalMs, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
  process.exit(0);
}

const opt = parseOptions(
  {
    rounds: { type: 'string', default: '5' },
    reads: { type: 'string', default: '20' },
    gap: { type: 'string', default: '50' },
    configs: { type: 'string' },
    cpu: { type: 'string', default: '1' },
    'base-root': { type: 'string' },
  },
  HELP,
);
const cfg = {
  rounds: int('rounds', opt.rounds, 1),
  reads: int('reads', opt.reads, 7),
  gap: int('gap', opt.gap),
  configs: commaList(opt.configs, ['realistic', 'large']),
  cpu: Number(opt.cpu) < 0 ? null : int('cpu', opt.cpu),
  baseRoot: opt['base-root'] === undefined ? null : path.resolve(opt['base-root']),
};
for (const c of cfg.configs) {
  if (!['realistic', 'large'].includes(c)) {
    console.error(`--configs: realistic or large, not ${c}`);
    process.exit(2);
  }
}
requireBuilt(path.join(root, 'dist/config/yaml-tree.js'));
if (cfg.baseRoot !== null) requireBuilt(path.join(cfg.baseRoot, 'dist/config/yaml-tree.js'));

const READERS = cfg.baseRoot === null ? ['quick', 'full'] : ['quick', 'full', 'quick-base'];
const runs = []; // {round, config, reader, yamlMs[], totalMs[], cpuMs}
for (let round = 1; round <= cfg.rounds; round++) {
  for (const config of cfg.configs) {
    // Alternate which reader goes first, so that neither always meets the machine's first state.
    const order = round % 2 ? READERS : [...READERS].reverse();
    for (const reader of order) {
      const args = [
        here,
        '--child',
        reader,
        config,
        String(cfg.reads),
        String(cfg.gap),
        ...(reader === 'quick-base' ? [cfg.baseRoot] : []),
      ];
      const cmd = cfg.cpu === null ? [process.execPath, ...args] : ['taskset', '-c', String(cfg.cpu), process.execPath, ...args];
      const out = execFileSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 120_000 });
      runs.push({ round, config, reader, ...JSON.parse(out.trim().split('\n').at(-1)) });
    }
  }
  console.error(`round ${round}/${cfg.rounds} done`);
}

// Per run: the start's read, the first five reloads, the last ten; then medians over rounds.
const figures = (r) => ({
  startYaml: r.yamlMs[0],
  earlyYaml: median(r.yamlMs.slice(1, 6)),
  lateYaml: median(r.yamlMs.slice(-10)),
  earlyTotal: median(r.totalMs.slice(1, 6)),
  lateTotal: median(r.totalMs.slice(-10)),
  cpuPerRead: r.cpuMs / r.yamlMs.length,
});
const rows = [];
for (const config of cfg.configs) {
  const by = Object.fromEntries(
    READERS.map((reader) => [reader, runs.filter((r) => r.config === config && r.reader === reader).map(figures)]),
  );
  for (const reader of READERS) {
    const f = by[reader];
    const med = (k) => median(f.map((x) => x[k]));
    const ratio = (k) => (reader === 'quick' ? median(f.map((x, i) => x[k] / by.full[i][k])) : null);
    rows.push({
      config,
      reader,
      startYaml: fmt(med('startYaml'), 2),
      earlyYaml: fmt(med('earlyYaml'), 2),
      earlyVsFull: reader === 'quick' ? fmt(ratio('earlyYaml'), 2) : '-',
      lateYaml: fmt(med('lateYaml'), 2),
      lateVsFull: reader === 'quick' ? fmt(ratio('lateYaml'), 2) : '-',
      earlyTotal: reader !== 'full' ? fmt(med('earlyTotal'), 2) : '-',
      lateTotal: reader !== 'full' ? fmt(med('lateTotal'), 2) : '-',
      // This build's quick reader ÷ the base build's, per round, then the median.
      earlyTotalVsBase:
        reader === 'quick' && by['quick-base'] ? fmt(median(f.map((x, i) => x.earlyTotal / by['quick-base'][i].earlyTotal)), 2) : '-',
      lateTotalVsBase:
        reader === 'quick' && by['quick-base'] ? fmt(median(f.map((x, i) => x.lateTotal / by['quick-base'][i].lateTotal)), 2) : '-',
      cpuPerRead: fmt(med('cpuPerRead'), 2),
    });
  }
}

console.log(
  `\n${cfg.rounds} rounds; each: a fresh process per reader and config, ${cfg.reads} reads (the start's, then ${cfg.reads - 1} reloads ${cfg.gap} ms apart, each a change)${cfg.cpu === null ? '' : `, pinned to cpu ${cfg.cpu}`}`,
);
console.log(
  "YAML ms: the reader alone; early: median of reloads 1-5, late: of the last 10; ×full: per round, then the median; whole read: parseConfigText as flagman runs it (quick reader, the checks included); CPU/read: the process's CPU, all threads (V8 compiles on its own), ÷ reads\n",
);
console.log(
  table(
    [
      { key: 'config', title: 'config', align: 'left' },
      { key: 'reader', title: 'reader', align: 'left' },
      { key: 'startYaml', title: 'start YAML ms' },
      { key: 'earlyYaml', title: 'early YAML ms' },
      { key: 'earlyVsFull', title: '×full' },
      { key: 'lateYaml', title: 'late YAML ms' },
      { key: 'lateVsFull', title: '×full' },
      { key: 'earlyTotal', title: 'early whole read ms' },
      { key: 'lateTotal', title: 'late whole read ms' },
      ...(cfg.baseRoot === null
        ? []
        : [
            { key: 'earlyTotalVsBase', title: 'early ×base' },
            { key: 'lateTotalVsBase', title: 'late ×base' },
          ]),
      { key: 'cpuPerRead', title: 'CPU/read ms' },
    ],
    rows,
  ),
);
console.log(`\n${JSON.stringify({ bench: 'config-read', machine: machine(), options: cfg, rows, runs })}`);
