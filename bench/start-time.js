// How long each way of running flagman takes to start (README, "A single file"): for `flagman run`,
// from the spawn to the first answer on its port; for `flagman set`, from the spawn to its exit. Each
// as wall-clock time and as the CPU time the process used by then (the scheduler's run time for `run`, user + system in 10 ms steps for `set`): on a
// busy machine the first depends on the other processes, the second much less. The commands take
// turns, round after round, so a change in the machine's load falls on all of them.
//
//   npm run build:sea && node bench/start-time.js [--rounds 10] [--with NAME=NODE ...] [--exe NAME=FILE ...]
//     [--cli NAME=COMMAND ...]
//
// Compared: bin/flagman (the system's node running the bundle, dist/bundle/flagman.js), the same
// node running tsc's output unbundled (dist/cli/main.js: what the bundle saves) with the same V8
// options, and build/flagman (the single executable, when `npm run build:sea` has made it);
// `--with NAME=NODE` adds another node binary running the bundle with bin/flagman's V8 options,
// `--exe NAME=FILE` another single executable, `--cli NAME=COMMAND` another `flagman` command (the
// bin/flagman of a checkout of an earlier commit, built: a change's A/B in the same run).
// No compile cache: a user's flagman has none.
// Everything listens on 127.0.0.1 only.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machine, median, round1 } from './lib/run.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    with: { type: 'string', multiple: true, default: [] },
    exe: { type: 'string', multiple: true, default: [] },
    cli: { type: 'string', multiple: true, default: [] },
  },
});
const rounds = Number(values.rounds);
const V8 = ['--max-semi-space-size=2', '--heap-growing-percent=100', '--expose-gc', '--no-memory-reducer'];

const commands = {
  'bin/flagman': [path.join(root, 'bin/flagman')],
  'dist/ unbundled': [process.execPath, ...V8, path.join(root, 'dist/cli/main.js')],
};
for (const w of values.with) {
  const [name, node] = w.split('=');
  commands[name] = [node, ...V8, path.join(root, 'dist/bundle/flagman.js')];
}
if (fs.existsSync(path.join(root, 'build/flagman'))) commands['build/flagman'] = [path.join(root, 'build/flagman')];
else console.log('build/flagman: not built (npm run build:sea), left out');
for (const e of [...values.exe, ...values.cli]) {
  const [name, file] = e.split('=');
  commands[name] = [path.resolve(file)];
}
for (const [name, [file]] of Object.entries(commands))
  if (!fs.existsSync(file)) throw new Error(`${name}: ${file} is missing (npm run build:sea?)`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-start-'));
fs.mkdirSync(path.join(dir, 'flags'));
const config = path.join(dir, 'flagman.yaml');
fs.writeFileSync(
  config,
  'flags: { dir: ./flags }\nfrontends:\n  web: { listen: ["127.0.0.1:0"], rules: [{ use: hello }] }\nbackends:\n  hello: { respond: { status: 200, body: "hi" } }\n',
);

function get(port) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      })
      .on('error', reject);
  });
}

/**
 * The CPU time a running process has used, in ms: the run time the scheduler counted for each of its
 * threads (/proc/PID/task/TID/schedstat, in ns; /proc/PID/stat counts in 10 ms steps). A thread that
 * has ended by then is not counted.
 */
function cpuMs(pid) {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {} // the thread ended meanwhile
  }
  return ns / 1e6;
}

/** ms from the spawn of `flagman run` to the first 200 on its port, wall-clock and CPU. */
async function firstAnswer(command) {
  const started = performance.now();
  const proc = spawn(command[0], [...command.slice(1), 'run', '-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const port = await new Promise((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`${command[0]} exited (${code}) before listening`)));
      readline.createInterface({ input: proc.stderr }).on('line', (line) => {
        if (line.includes('"event":"listen"')) resolve(JSON.parse(line).port);
      });
    });
    if ((await get(port)) !== 200) throw new Error('no 200');
    return { wall: performance.now() - started, cpu: cpuMs(proc.pid) };
  } finally {
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
  }
}

/**
 * ms from the spawn of `flagman set` to its exit, wall-clock and CPU; the CPU time is what the
 * shell's `times` gives for its children (the shell's own start is in the wall-clock time).
 */
async function setFlag(command) {
  const started = performance.now();
  const proc = spawn('sh', ['-c', '"$@" && times', 'sh', ...command, 'set', 'X', '1', '-d', path.join(dir, 'flags')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout.on('data', (c) => (out += c));
  const code = await new Promise((resolve) => proc.once('close', resolve));
  const wall = performance.now() - started;
  if (code !== 0) throw new Error(`${command[0]} set exited ${code}`);
  // Second line of `times`: the children's user and system time, as 0m0.270000s 0m0.110000s.
  const [user, sys] = out
    .trim()
    .split('\n')[1]
    .split(' ')
    .map((t) => {
      const [, m, sec] = /^(\d+)m([\d.]+)s$/.exec(t);
      return Number(m) * 60_000 + Number(sec) * 1000;
    });
  return { wall, cpu: user + sys };
}

const times = Object.fromEntries(Object.keys(commands).map((name) => [name, { run: [], set: [] }]));
for (let r = 0; r < rounds; r++) {
  for (const [name, command] of Object.entries(commands)) {
    times[name].run.push(await firstAnswer(command));
    times[name].set.push(await setFlag(command));
  }
}
fs.rmSync(dir, { recursive: true, force: true });

const fmt = (runs, key) => {
  const xs = runs.map((r) => r[key]);
  return `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
};
console.log(
  `${rounds} rounds, load average at the end ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}; ms, median (min–max)`,
);
console.log(`${''.padEnd(16)} ${'run → first answer'.padEnd(36)} set`);
console.log(`${''.padEnd(16)} ${'wall'.padEnd(18)}${'CPU'.padEnd(18)} ${'wall'.padEnd(18)}CPU`);
for (const [name, t] of Object.entries(times))
  console.log(
    `${name.padEnd(16)} ${fmt(t.run, 'wall').padEnd(18)}${fmt(t.run, 'cpu').padEnd(18)} ${fmt(t.set, 'wall').padEnd(18)}${fmt(t.set, 'cpu')}`,
  );
console.log(
  JSON.stringify({
    bench: 'start-time',
    machine: machine(),
    rounds,
    rows: Object.entries(times).map(([name, t]) => ({
      command: name,
      runWallMs: round1(median(t.run.map((r) => r.wall)), 0),
      runCpuMs: median(t.run.map((r) => r.cpu)),
      setWallMs: round1(median(t.set.map((r) => r.wall)), 0),
      setCpuMs: round1(median(t.set.map((r) => r.cpu)), 0),
    })),
  }),
);
