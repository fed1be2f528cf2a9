// Two passes (package.json "test"): every test file in parallel, then the files whose assertions
// bound latency under a flood of flag files, one at a time, so that the other tests' CPU load is not
// what they measure. FLAGMAN_TESTS=timing selects the second pass.
// The machine's slowness factor (test/helpers/slow.js) is measured here, once, before any worker
// runs, and handed to the workers; ava's own timeout scales with it like the helpers' waits.
import { SLOWNESS, scaled } from './test/helpers/slow.js';

const TIMING = ['test/e2e/flag-hostile.test.js', 'test/e2e/flag-storms.test.js', 'test/e2e/flag-rescan.test.js'];

if (SLOWNESS > 1) process.stderr.write(`A busy machine: test timeouts ×${SLOWNESS} (FLAGMAN_TEST_SLOW=1 keeps them as written).\n`);

const common = { timeout: `${scaled(60_000)}ms`, workerThreads: false, environmentVariables: { FLAGMAN_TEST_SLOW: String(SLOWNESS) } };

export default process.env.FLAGMAN_TESTS === 'timing'
  ? { ...common, files: TIMING, concurrency: 1 }
  : { ...common, files: ['test/**/*.test.js', ...TIMING.map((f) => `!${f}`)], concurrency: 4 };
