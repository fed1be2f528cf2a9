// Three selections (FLAGMAN_TESTS), run by test/lines.js on the Node line each is for:
// - unset: every test file in parallel, except the timing files;
// - timing: the files whose assertions bound latency under a flood of flag files, one at a time,
//   so that the other tests' CPU load is not what they measure;
// - subset: what the oldest supported Node line runs: every unit test and the end-to-end files
//   that cover the launcher and its V8 options, proxying, TLS and HTTP/2, and the flags directory.
const TIMING = ['test/e2e/flag-hostile.test.js', 'test/e2e/flag-storms.test.js', 'test/e2e/flag-rescan.test.js'];
const SUBSET = [
  'test/unit/**/*.test.js',
  'test/e2e/launcher.test.js',
  'test/e2e/proxy.test.js',
  'test/e2e/tls.test.js',
  'test/e2e/maintenance.test.js',
];

const common = { timeout: '60s', workerThreads: false };

const selections = {
  timing: { ...common, files: TIMING, concurrency: 1 },
  subset: { ...common, files: SUBSET, concurrency: 4 },
};

export default selections[process.env.FLAGMAN_TESTS] ?? { ...common, files: ['test/**/*.test.js', ...TIMING.map((f) => `!${f}`)], concurrency: 4 };
