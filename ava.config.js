// Three selections (FLAGMAN_TESTS), run by test/lines.js on the Node line each is for:
// - unset: every test file in parallel, except the timing files;
// - timing: the files whose assertions bound latency under a flood of flag files, one at a time,
//   so that the other tests' CPU load is not what they measure;
// - subset: what the oldest supported Node line runs: every unit test and the end-to-end files
//   that cover the launcher and its V8 options, proxying, and maintenance by a flag. (TLS, HTTP/2
//   and streaming run on the current line only.)
// The machine's slowness factor (test/helpers/slow.js) is measured here, once, before any worker
// runs, and handed to the workers; ava's own timeout scales with it like the helpers' waits.
import { SLOWNESS, scaled } from './test/helpers/slow.js';

const TIMING = ['test/e2e/flag-hostile.test.js', 'test/e2e/flag-storms.test.js', 'test/e2e/flag-rescan.test.js'];
const SUBSET = [
  'test/unit/**/*.test.js',
  'test/e2e/launcher.test.js',
  'test/e2e/proxy.test.js',
  'test/e2e/maintenance.test.js',
];

if (SLOWNESS > 1) process.stderr.write(`A busy machine: test timeouts ×${SLOWNESS} (FLAGMAN_TEST_SLOW=1 keeps them as written).\n`);

const common = { timeout: `${scaled(60_000)}ms`, workerThreads: false, environmentVariables: { FLAGMAN_TEST_SLOW: String(SLOWNESS) } };

const selections = {
  timing: { ...common, files: TIMING, concurrency: 1 },
  subset: { ...common, files: SUBSET, concurrency: 4 },
};

export default selections[process.env.FLAGMAN_TESTS] ?? { ...common, files: ['test/**/*.test.js', ...TIMING.map((f) => `!${f}`)], concurrency: 4 };
