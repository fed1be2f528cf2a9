// Four selections (FLAGMAN_TESTS), run by test/lines.js on the Node line each is for:
// - unset: every test file in parallel, except the timing files (the current line);
// - timing: the files whose assertions bound latency under a flood of flag files, one at a time,
//   so that the other tests' CPU load is not what they measure (the current line);
// - lines: the end-to-end files whose behaviour has differed between Node lines — the launcher
//   and its V8 options, proxying, the request parser's limits (smuggling), back-pressure of
//   streamed bodies (streaming), the PROXY protocol (read off a socket before Node's HTTP and TLS
//   code take it over, and a TLS socket's `_parent`), the helper threads' priority, and the two
//   Node internals flagman relies on — for the middle LTS lines;
// - subset: those, maintenance by a flag, the unit tests over file watching and sockets, and the
//   one over a config's hidden classes (V8's, which differ there), for the oldest supported line.
// The machine's slowness factor (test/helpers/slow.js) is measured here, once, before any worker
// runs, and handed to the workers; ava's own timeout scales with it like the helpers' waits.
import { SLOWNESS, scaled } from './test/helpers/slow.js';

const TIMING = ['test/e2e/flag-hostile.test.js', 'test/e2e/flag-storms.test.js', 'test/e2e/flag-rescan.test.js'];
const LINES = [
  'test/e2e/launcher.test.js',
  'test/e2e/proxy.test.js',
  'test/e2e/smuggling.test.js',
  'test/e2e/streaming.test.js',
  'test/e2e/proxy-protocol.test.js',
  // The threads a process has besides the serving one (V8's, libuv's) are the line's.
  'test/e2e/helper-threads.test.js',
  // What a frontend's maxconn and the 413's linger set that Node leaves undocumented.
  'test/unit/maxconn-gate.test.js',
  'test/unit/linger.test.js',
];
// Of the unit tests, those over Node's own file watching and sockets, whose behaviour is the
// line's; the rest are pure and run on the current line.
const SUBSET = [
  ...LINES,
  'test/e2e/maintenance.test.js',
  'test/unit/flags-store.test.js',
  'test/unit/upstream-pool.test.js',
  'test/unit/health-probes.test.js',
  // A config's objects keep one hidden class from load to load: on Node 20 a spread copy did not.
  'test/unit/config-shapes.test.js',
];

if (SLOWNESS > 1) process.stderr.write(`A busy machine: test timeouts ×${SLOWNESS} (FLAGMAN_TEST_SLOW=1 keeps them as written).\n`);

// The longest files start first: with four at a time on two cores, a long file started last is the
// run's tail (alphabetically, workers and writers were: 30–45 s alone, the suite ~20 s longer).
// By wall time alone and longest test in a whole run, loaded machine, 2026-12-06; the rest follow
// by name.
const LONGEST = [
  'e2e/writers',
  'e2e/workers',
  'e2e/flag-state',
  'e2e/tls',
  'e2e/workers-exit',
  'e2e/log-faults',
  'e2e/recipe-ansible',
  'e2e/package',
  'e2e/explain',
  'e2e/restart',
  'e2e/tcp',
  'e2e/upgrade',
  'e2e/streaming',
  'e2e/dashboard',
  'e2e/reload',
  'e2e/limits-rate',
  'e2e/drain',
  'e2e/maxconn',
  'e2e/tls-drain',
  'e2e/smuggling',
  'e2e/descriptors',
  'unit/flags-store',
];
const rank = (file) => {
  const i = LONGEST.findIndex((f) => file.endsWith(`test/${f}.test.js`));
  return i === -1 ? LONGEST.length : i;
};
const sortTestFiles = (a, b) => rank(a) - rank(b) || a.localeCompare(b);

const common = {
  timeout: `${scaled(60_000)}ms`,
  workerThreads: false,
  sortTestFiles,
  environmentVariables: { FLAGMAN_TEST_SLOW: String(SLOWNESS) },
};

const selections = {
  timing: { ...common, files: TIMING, concurrency: 1 },
  lines: { ...common, files: LINES, concurrency: 4 },
  subset: { ...common, files: SUBSET, concurrency: 4 },
};

export default selections[process.env.FLAGMAN_TESTS] ?? {
  ...common,
  files: ['test/**/*.test.js', ...TIMING.map((f) => `!${f}`)],
  concurrency: 4,
};
