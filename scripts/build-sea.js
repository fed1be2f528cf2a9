// `npm run build:sea`: flagman as one executable file, build/flagman, that runs without a Node
// install (README, "A single file"). Run after `npm run build` (the script in package.json does):
// it bundles dist/cli/main.js and its dependencies into one ES module (bundle.js, as `npm run
// build` does, but into one file), and has Node's single-executable support (`node --build-sea`)
// append that module to a copy of a Node binary.
//
// That Node is not the one running this script: --build-sea is in Node 25.5 and later, and the
// executable is built on the Node 26 LTS line. Its binary comes from the npm registry, as the
// `node` package brings it (scripts/node-binary.js).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle } from './bundle.js';
import { nodeBinary } from './node-binary.js';

const NODE_VERSION = '26.12.1';
// The V8 options bin/flagman gives node (its comments say why). Node applies them at the start of
// every process the executable starts, workers included, as it does its own command-line options.
const EXEC_ARGV = ['--max-semi-space-size=2', '--heap-growing-percent=100', '--expose-gc', '--no-memory-reducer'];

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = path.join(root, 'build/sea');
const output = path.join(root, 'build/flagman');

const node = nodeBinary(NODE_VERSION);
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
const main = path.join(work, 'flagman.mjs');
await bundle({ outfile: main, nodeMajor: Number(NODE_VERSION.split('.')[0]) });
const config = path.join(work, 'sea-config.json');
fs.writeFileSync(
  config,
  `${JSON.stringify(
    {
      main,
      mainFormat: 'module',
      output,
      disableExperimentalSEAWarning: true,
      execArgv: EXEC_ARGV,
    },
    null,
    2,
  )}\n`,
);
execFileSync(node, ['--build-sea', config], { cwd: work, stdio: 'inherit' });
const size = fs.statSync(output).size;
console.log(`${path.relative(root, output)}: ${(size / 2 ** 20).toFixed(1)} MiB, Node v${NODE_VERSION}`);
