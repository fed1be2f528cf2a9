// The `flagman` command (bin/flagman) is a shell launcher: it execs the `node` on the PATH with a
// 2 MB young generation and a doubled old-generation headroom (docs/proxying.md, "Memory"), so one process
// remains, the one whose PID flagman reports, and its workers inherit the options. A NODE_OPTIONS
// that sizes the young generation itself decides instead. An option the node does not know is
// left out rather than stopping it from starting.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { launcherPath, packageCopy, request, root, startFlagman, tempDir, upstream } from '../helpers/e2e.js';

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

/**
 * A directory to put first on the PATH, holding a `node` that is this test's node but refuses
 * `refused` options as a node of another V8 version would: "bad option", exit 9, whatever else it
 * was asked (--version included).
 */
function nodeRefusing(t, refused) {
  const dir = tempDir(t, 'flagman-node-');
  const cases = refused.map((o) => `${o} | ${o}=*`).join(' | ');
  fs.writeFileSync(
    path.join(dir, 'node'),
    `#!/bin/sh\nfor a in "$@"; do\n  case $a in ${cases}) echo "node: bad option: $a" >&2; exit 9 ;; esac\ndone\nexec '${process.execPath}' "$@"\n`,
    { mode: 0o755 },
  );
  return { PATH: `${dir}:${process.env.PATH}` };
}

test('the flagman command execs node with its V8 options (young generation, heap growth, --expose-gc, no memory reducer): one process, the PID flagman reports, workers included', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, workers: 'workers: 2' }, launcher: true });
  const start = await fm.waitEvent((e) => e.event === 'start');
  t.is(start.pid, fm.proc.pid, 'the launcher shell was replaced by node, not left as a parent');
  const argv = cmdline(start.pid);
  t.regex(argv[0], /node/);
  // The node under test is the one on the PATH, which the launcher runs.
  t.is(fs.realpathSync(`/proc/${start.pid}/exe`), fs.realpathSync(process.execPath));
  t.log(`node ${process.version} (${process.execPath}): ${argv.slice(0, -4).join(' ')}`);
  t.true(argv.includes('--max-semi-space-size=2'), argv.join(' '));
  t.true(argv.includes('--heap-growing-percent=100'), argv.join(' '));
  t.true(argv.includes('--expose-gc'), argv.join(' '));
  t.true(argv.includes('--no-memory-reducer'), argv.join(' '));
  t.is(start.workers.length, 2);
  for (const pid of start.workers) {
    const w = cmdline(pid);
    t.true(
      w.includes('--max-semi-space-size=2') &&
        w.includes('--heap-growing-percent=100') &&
        w.includes('--expose-gc') &&
        w.includes('--no-memory-reducer'),
      `worker ${pid}: ${w.join(' ')}`,
    );
  }
  t.is((await request(fm.port, { path: '/' })).status, 200);
});

test('a NODE_OPTIONS that sizes the young generation is left to decide', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, {
    vars: { app: app.port, workers: '' },
    launcher: true,
    env: { NODE_OPTIONS: '--max-semi-space-size=8' },
  });
  const start = await fm.waitEvent((e) => e.event === 'start');
  t.is(start.pid, fm.proc.pid);
  const argv = cmdline(start.pid);
  t.false(argv.includes('--max-semi-space-size=2'));
  t.true(argv.includes('--heap-growing-percent=100'));
  t.is((await request(fm.port, { path: '/' })).status, 200);
});

test('an option this node refuses is left out, the others kept: flagman starts anyway', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, {
    vars: { app: app.port, workers: '' },
    launcher: true,
    env: nodeRefusing(t, ['--heap-growing-percent']),
  });
  const start = await fm.waitEvent((e) => e.event === 'start');
  t.is(start.pid, fm.proc.pid);
  const argv = cmdline(start.pid);
  t.false(
    argv.some((a) => a.startsWith('--heap-growing-percent')),
    argv.join(' '),
  );
  t.true(argv.includes('--max-semi-space-size=2'), argv.join(' '));
  t.is((await request(fm.port, { path: '/' })).status, 200);
});

test('a node that refuses every option runs flagman without any', async (t) => {
  const app = await upstream(t, 'app');
  const env = nodeRefusing(t, ['--max-semi-space-size', '--heap-growing-percent', '--expose-gc', '--no-memory-reducer']);
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, workers: '' }, launcher: true, env });
  const start = await fm.waitEvent((e) => e.event === 'start');
  t.deepEqual(
    cmdline(start.pid).filter((a) => a.startsWith('--')),
    [],
  );
  t.is((await request(fm.port, { path: '/' })).status, 200);
});

test('FLAGMAN_BODY_GC=off leaves --expose-gc out, =on puts it in; another value is refused, naming it', async (t) => {
  const app = await upstream(t, 'app');
  const off = await startFlagman(t, CONFIG, { vars: { app: app.port, workers: '' }, launcher: true, env: { FLAGMAN_BODY_GC: 'off' } });
  t.false(cmdline((await off.waitEvent((e) => e.event === 'start')).pid).includes('--expose-gc'));
  const on = await startFlagman(t, CONFIG, { vars: { app: app.port, workers: '' }, launcher: true, env: { FLAGMAN_BODY_GC: 'on' } });
  t.true(cmdline((await on.waitEvent((e) => e.event === 'start')).pid).includes('--expose-gc'));
  const bad = await execa(launcherPath, ['check', '-c', path.join(on.dir, 'flagman.yaml')], {
    reject: false,
    env: { FLAGMAN_BODY_GC: 'yes' },
  });
  t.is(bad.exitCode, 2);
  t.regex(bad.stderr, /FLAGMAN_BODY_GC must be on or off, not "yes"/);
});

test('the npm package installs the launcher as the flagman command, with the build it runs', async (t) => {
  // --ignore-scripts: no rebuild of dist/ under the other tests' feet.
  const r = await execa('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
  const [pack] = JSON.parse(r.stdout);
  const files = new Map(pack.files.map((f) => [f.path, f]));
  t.truthy(files.get('bin/flagman'), 'bin/flagman is packed');
  t.is(files.get('bin/flagman').mode & 0o111, 0o111, 'and executable');
  t.truthy(files.get('dist/bundle/flagman.js'), 'dist/bundle/flagman.js is packed');
  const pkg = JSON.parse(fs.readFileSync(`${root}/package.json`, 'utf8'));
  t.deepEqual(pkg.bin, { flagman: 'bin/flagman' });
});

test('in a clone where tsc ran after the bundle was made, the flagman command says to run npm run build; otherwise it says nothing', async (t) => {
  if (process.env.FLAGMAN_BIN) return t.pass('the single executable has no launcher');
  // The clone's layout in a directory of the test's own: bin/flagman, dist/bundle/, dist/cli/main.js.
  const home = packageCopy(t, 'flagman-clone-');
  fs.mkdirSync(path.join(home, 'dist/cli'));
  const tscOutput = path.join(home, 'dist/cli/main.js');
  fs.writeFileSync(tscOutput, '');
  const bundle = path.join(home, 'dist/bundle/flagman.js');
  const run = () => execa(path.join(home, 'bin/flagman'), ['--version'], { reject: false });

  fs.utimesSync(tscOutput, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  const built = await run();
  t.is(built.exitCode, 0, built.stderr);
  t.is(built.stderr, '', 'the bundle is newer than tsc output: nothing said');

  fs.utimesSync(tscOutput, new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
  const stale = await run();
  t.is(stale.exitCode, 0, 'it still runs');
  t.regex(stale.stdout, /^flagman \d/);
  t.is(stale.stderr, `flagman: ${bundle} is older than ${tscOutput}: run \`npm run build\` to bundle it again`);
});
