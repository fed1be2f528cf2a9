// Two passes (package.json "test"): every test file in parallel, then the files whose assertions
// bound latency under a flood of flag files, one at a time, so that the other tests' CPU load is not
// what they measure. FLAGMAN_TESTS=timing selects the second pass.
const TIMING = ['test/e2e/flag-hostile.test.js', 'test/e2e/flag-storms.test.js', 'test/e2e/flag-rescan.test.js'];

const common = { timeout: '60s', workerThreads: false };

export default process.env.FLAGMAN_TESTS === 'timing'
  ? { ...common, files: TIMING, concurrency: 1 }
  : { ...common, files: ['test/**/*.test.js', ...TIMING.map((f) => `!${f}`)], concurrency: 4 };
