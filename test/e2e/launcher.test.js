// The `flagman` command (bin/flagman) is a shell launcher: it execs Node with a 2 MB young
// generation and a doubled old-generation headroom (docs/proxying.md, "Memory"), so one process remains, the
// one whose PID flagman reports, and its workers inherit the options. A NODE_OPTIONS that sizes the
// young generation itself decides instead.
import fs from 'node:fs';
import test from 'ava';
import { execa } from 'execa';
import { request, root, startFlagman, upstream } from '../helpers/e2e.js';

const CONFIG = `
flags: { dir: ./flags }
{{workers}}
frontends:
  web: { listen: ["127.0.0.1:0"], rules: [{ use: app }] }
backends:
  app: { servers: { app1: { address: "127.0.0.1:{{app}}" } } }
`;

/** The command line of a running process, as its arguments. */
const cmdline = (pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);

test('the flagman command execs node with --max-semi-space-size=2 and --expose-gc: one process, the PID flagman reports, workers included', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, workers: 'workers: 2' }, launcher: true });
  const start = await fm.waitEvent((e) => e.event === 'start');
  t.is(start.pid, fm.proc.pid, 'the launcher shell was replaced by node, not left as a parent');
  const argv = cmdline(start.pid);
  t.regex(argv[0], /node/);
  t.true(argv.includes('--max-semi-space-size=2'), argv.join(' '));
  t.true(argv.includes('--heap-growing-percent=100'), argv.join(' '));
  t.true(argv.includes('--expose-gc'), argv.join(' '));
  t.is(start.workers.length, 2);
  for (const pid of start.workers) {
    const w = cmdline(pid);
    t.true(w.includes('--max-semi-space-size=2') && w.includes('--heap-growing-percent=100') && w.includes('--expose-gc'), `worker ${pid}: ${w.join(' ')}`);
  }
  t.is((await request(fm.port, { path: '/' })).status, 200);
});

test('a NODE_OPTIONS that sizes the young generation is left to decide', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, workers: '' }, launcher: true, env: { NODE_OPTIONS: '--max-semi-space-size=8' } });
  const start = await fm.waitEvent((e) => e.event === 'start');
  t.is(start.pid, fm.proc.pid);
  const argv = cmdline(start.pid);
  t.false(argv.includes('--max-semi-space-size=2'));
  t.true(argv.includes('--heap-growing-percent=100'));
  t.is((await request(fm.port, { path: '/' })).status, 200);
});

test('the npm package installs the launcher as the flagman command, with the build it runs', async (t) => {
  // --ignore-scripts: no rebuild of dist/ under the other tests' feet.
  const r = await execa('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
  const [pack] = JSON.parse(r.stdout);
  const files = new Map(pack.files.map((f) => [f.path, f]));
  t.truthy(files.get('bin/flagman'), 'bin/flagman is packed');
  t.is(files.get('bin/flagman').mode & 0o111, 0o111, 'and executable');
  t.truthy(files.get('dist/cli/main.js'), 'dist/cli/main.js is packed');
  const pkg = JSON.parse(fs.readFileSync(`${root}/package.json`, 'utf8'));
  t.deepEqual(pkg.bin, { flagman: 'bin/flagman' });
});
