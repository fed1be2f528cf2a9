// `npm run fuzz`: the differential and model-based fuzzers of flagman's hand-written core, each a
// target in test/fuzz/ (TARGETS below), every one in its own process at once, for FUZZ_SECONDS
// (default 20) each, from FUZZ_SEED (default: random, printed). FUZZ_TARGETS=response,… picks some;
// a target named twice runs in two processes, the second from FUZZ_SEED + 1 (a shard: the slowest
// target gets more of the cores in a long run).
//
// A target module exports `target`: { name, what, cases (a fast-check arbitrary of plain JSON
// data), check(case) (throws on a disagreement), units?(case) → how many of `unit` the case holds
// (evaluations, operations), unit? }. A counter-example is shrunk by fast-check and written to
// test/fuzz/found/<target>-<seed>.json, which test/unit/fuzz-found.test.js replays in `npm test`
// from then on: the regression test of whatever the fix is.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { propertyOf } from '../test/fuzz/target.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FOUND_DIR = path.join(here, '../test/fuzz/found');
export const TARGETS = ['response', 'request-head', 'flags', 'rules', 'yaml-tree'];

const seconds = Number(process.env.FUZZ_SECONDS ?? 20);

/** Runs one target for `seconds` from `seed` in this process; resolves with its summary. */
async function runTarget(name, seed) {
  const { target } = await import(`../test/fuzz/${name}.js`);
  let runs = 0;
  let units = 0;
  const started = process.hrtime.bigint();
  const property = propertyOf(target, (c) => {
    runs++;
    units += target.units?.(c) ?? 1;
  });
  const result = fc.check(property, {
    seed,
    numRuns: Number.MAX_SAFE_INTEGER,
    interruptAfterTimeLimit: seconds * 1000,
    markInterruptAsFailure: false,
  });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const summary = {
    target: name,
    what: target.what,
    seed,
    seconds: Number(elapsed.toFixed(1)),
    cases: runs,
    casesPerSecond: Math.round(runs / elapsed),
    unit: target.unit ?? 'cases',
    units,
    failed: result.failed,
  };
  if (result.failed) {
    const [counterexample] = result.counterexample;
    const file = path.join(FOUND_DIR, `${name}-${seed}.json`);
    fs.mkdirSync(FOUND_DIR, { recursive: true });
    fs.writeFileSync(
      file,
      `${JSON.stringify({ target: name, seed, path: result.counterexamplePath, shrinks: result.numShrinks, error: String(result.errorInstance?.message ?? result.error).slice(0, 2000), case: counterexample }, null, 2)}\n`,
    );
    summary.found = path.relative(process.cwd(), file);
    summary.error = String(result.errorInstance?.message ?? result.error)
      .split('\n')
      .slice(0, 6)
      .join('\n');
  }
  return summary;
}

if (process.env.FUZZ_CHILD) {
  // One target, in a child of the runner below.
  const summary = await runTarget(process.env.FUZZ_CHILD, Number(process.env.FUZZ_SEED));
  process.send(summary);
} else {
  const seed = process.env.FUZZ_SEED === undefined ? (Date.now() ^ (Math.random() * 0x100000000)) | 0 : Number(process.env.FUZZ_SEED);
  const names = process.env.FUZZ_TARGETS ? process.env.FUZZ_TARGETS.split(',').map((s) => s.trim()) : TARGETS;
  for (const n of names) if (!TARGETS.includes(n)) throw new Error(`FUZZ_TARGETS: no target "${n}" (there are: ${TARGETS.join(', ')})`);
  console.log(`fuzzing ${names.join(', ')}: seed ${seed}, ${seconds} s each, at once (FUZZ_SEED=${seed} repeats it)`);
  const summaries = await Promise.all(
    names.map(
      (name, i) =>
        new Promise((resolve, reject) => {
          const shard = names.slice(0, i).filter((n) => n === name).length;
          const child = fork(fileURLToPath(import.meta.url), {
            env: { ...process.env, FUZZ_CHILD: name, FUZZ_SEED: String((seed + shard) | 0) },
          });
          let summary = null;
          child.on('message', (m) => (summary = m));
          child.on('exit', (code) =>
            summary ? resolve(summary) : reject(new Error(`fuzz target ${name} exited ${code} without a summary`)),
          );
        }),
    ),
  );
  console.log('\n| target | what | seed | seconds | cases | cases/s | counted | result |\n|---|---|---:|---:|---:|---:|---:|---|');
  for (const s of summaries) {
    const counted = s.unit === 'cases' ? '' : `${s.units} ${s.unit}`;
    console.log(
      `| ${s.target} | ${s.what} | ${s.seed} | ${s.seconds} | ${s.cases} | ${s.casesPerSecond} | ${counted} | ${s.failed ? `DISAGREEMENT, written to ${s.found}` : 'no disagreement'} |`,
    );
  }
  for (const name of new Set(names)) {
    const shards = summaries.filter((s) => s.target === name);
    if (shards.length > 1)
      console.log(
        `| ${name}, all ${shards.length} | | | | ${shards.reduce((n, s) => n + s.cases, 0)} | ${shards.reduce((n, s) => n + s.casesPerSecond, 0)} | ${shards[0].unit === 'cases' ? '' : `${shards.reduce((n, s) => n + s.units, 0)} ${shards[0].unit}`} | |`,
      );
  }
  for (const s of summaries.filter((x) => x.failed)) console.log(`\n${s.target} (seed ${s.seed}):\n${s.error}`);
  console.log(JSON.stringify({ fuzz: summaries.map(({ error, ...rest }) => rest) }));
  if (summaries.some((s) => s.failed)) process.exitCode = 1;
}
