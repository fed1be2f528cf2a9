// The test helpers themselves: the machine's slowness factor, and what a connection reset, a line
// that is no JSON or a match that throws does in the test process. Each of those, unheard, was an
// "uncaught exception" that ava reports for the whole file, after the assertions have passed.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { maintenanceConfig } from '../helpers/configs.js';
import { eachLine, freePort, root, startFlagman, upstream, waitFor } from '../helpers/e2e.js';
import { MAX_SLOWNESS, SLOWNESS, scaled } from '../helpers/slow.js';
import { echoServer, lineClient } from '../helpers/tcp.js';

const slowJs = path.join(root, 'test/helpers/slow.js');

/** SLOWNESS and a fresh measure, in a new process with `env` (FLAGMAN_TEST_SLOW unset unless given). */
async function slownessIn(env = {}) {
  const { FLAGMAN_TEST_SLOW, ...rest } = process.env;
  const r = await execa(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { SLOWNESS, measureSlowness } from ${JSON.stringify(slowJs)}; console.log(JSON.stringify({ SLOWNESS, measured: measureSlowness() }))`,
    ],
    { env: { ...rest, ...env }, extendEnv: false },
  );
  return JSON.parse(r.stdout);
}

test('the slowness factor: ava measures it once and hands it to every worker; helpers scale by it', (t) => {
  t.is(Number(process.env.FLAGMAN_TEST_SLOW), SLOWNESS, 'ava.config.js passes it in FLAGMAN_TEST_SLOW');
  t.true(SLOWNESS >= 1);
  t.is(scaled(5000), Math.round(5000 * SLOWNESS));
});

test('FLAGMAN_TEST_SLOW sets the factor; unset or invalid, it is measured, within ×1–×4', async (t) => {
  t.is((await slownessIn({ FLAGMAN_TEST_SLOW: '2.5' })).SLOWNESS, 2.5);
  for (const env of [{}, { FLAGMAN_TEST_SLOW: 'fast' }, { FLAGMAN_TEST_SLOW: '0.5' }]) {
    const { SLOWNESS: factor } = await slownessIn(env);
    t.true(factor >= 1 && factor <= MAX_SLOWNESS, `${JSON.stringify(env)}: ${factor}`);
  }
});

test('the factor grows when other processes take the CPUs', async (t) => {
  // Two busy loops per CPU: a process measuring beside them gets under half a CPU.
  const busy = Array.from({ length: 2 * os.availableParallelism() }, () =>
    execa(process.execPath, ['-e', 'console.log("spinning"); for (;;);'], { reject: false, buffer: false }),
  );
  t.teardown(() => busy.forEach((p) => p.kill('SIGKILL')));
  await Promise.all(busy.map((p) => new Promise((resolve) => eachLine(p.stdout, resolve))));
  const { SLOWNESS: factor, measured } = await slownessIn();
  busy.forEach((p) => p.kill('SIGKILL'));
  t.log(measured);
  t.true(factor >= 1.5 && factor <= MAX_SLOWNESS, `factor ${factor}: ${JSON.stringify(measured)}`);
});

test('echoServer: a client that resets its connection mid-line is no uncaught exception', async (t) => {
  const echo = await echoServer(t, 'db1');
  const client = net.connect(echo.port, '127.0.0.1');
  client.on('error', () => {});
  await new Promise((resolve) => client.once('connect', resolve));
  // A line answered, then half a line: the server reads it, and is reading when the RST comes.
  const reply = new Promise((resolve) => client.once('data', (d) => resolve(String(d))));
  client.write('hello\nhalf a');
  t.is(await reply, 'db1:hello\n');
  client.resetAndDestroy(); // an RST: the server's socket gets ECONNRESET under readline
  await waitFor(() => echo.open === 0, { what: 'the server side closed' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(echo.connections, 1);
});

test('lineClient: a refused connection that no test awaits is no unhandled rejection', async (t) => {
  const c = lineClient(t, await freePort());
  const { error } = await c.closed;
  t.is(error?.code, 'ECONNREFUSED');
  await new Promise((resolve) => setImmediate(resolve));
});

test('waitEvent: a match that throws on an event fails that wait, where it is awaited', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, maintenanceConfig({ admin: false }), { vars: { app: app.port } });
  const wait = fm.waitEvent((e) => e.no.such.field, { from: fm.events.length });
  fs.writeFileSync(path.join(fm.flagsDir, 'MAINT'), '1\n'); // a flag.change event, offered to the match
  await t.throwsAsync(wait, { instanceOf: TypeError });
  await t.throwsAsync(
    fm.waitEvent((e) => e.no.such.field),
    { instanceOf: TypeError },
    'on an event already seen too',
  );
  t.like(await fm.waitFlag('MAINT', 1), { flag: 'MAINT', value: 1 });
});

test('the access log captured: a line that is no JSON is kept as { unparsed }', async (t) => {
  const app = await upstream(t, 'app');
  // A shell before flagman writes a line of its own on the same stdout, then becomes flagman.
  const prefix = ['sh', '-c', 'echo "not json"; exec "$@"', 'sh'];
  const fm = await startFlagman(t, maintenanceConfig({ admin: false }), { vars: { app: app.port }, captureAccess: true, prefix });
  await waitFor(() => fm.access.length > 0, { what: 'the first stdout line' });
  t.deepEqual(fm.access[0], { unparsed: 'not json' });
});

test('startFlagman runs the flagman command (bin/flagman, its V8 options) on the node of this test, as one process', async (t) => {
  if (process.env.FLAGMAN_BIN) return t.pass('FLAGMAN_BIN: the single executable is run instead');
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, maintenanceConfig({ admin: false }), { vars: { app: app.port } });
  const start = await fm.waitEvent((e) => e.event === 'start');
  t.is(start.pid, fm.proc.pid, 'the launcher exec()s node: no shell left as a parent');
  t.is(fs.realpathSync(`/proc/${start.pid}/exe`), fs.realpathSync(process.execPath));
  const argv = fs.readFileSync(`/proc/${start.pid}/cmdline`, 'utf8').split('\0');
  t.true(argv.includes('--heap-growing-percent=100'), argv.join(' '));
  t.true(argv.includes(path.join(root, 'dist/bundle/flagman.js')), argv.join(' '));
});

test("flagmanCommand runs this test's node even when the first node on the PATH is another", async (t) => {
  if (process.env.FLAGMAN_BIN) return t.pass('FLAGMAN_BIN: the single executable is run instead');
  // A `node` first on the PATH that is not this one: run by the launcher, it would exit 97.
  const other = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-other-node-'));
  t.teardown(() => fs.rmSync(other, { recursive: true, force: true }));
  fs.writeFileSync(path.join(other, 'node'), '#!/bin/sh\necho "the other node" >&2\nexit 97\n', { mode: 0o755 });
  const script = [
    "const { flagmanCli } = await import('./test/helpers/e2e.js');",
    "const r = await flagmanCli(['--version']);",
    'console.log(JSON.stringify({ exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr }));',
  ].join('\n');
  const r = await execa(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    env: { PATH: `${other}${path.delimiter}${process.env.PATH}` },
    timeout: scaled(20_000),
  });
  const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  t.like(JSON.parse(r.stdout), { exitCode: 0, stdout: `flagman ${version}` });
});

test('freePort picks a port below the ephemeral range, where no outgoing connection can take it, and one that can be bound', async (t) => {
  const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  if (low - 1024 < 10_000) return t.pass(`ephemeral range from ${low}: no room below it, port 0 is used`);
  for (let i = 0; i < 5; i++) {
    const port = await freePort();
    t.true(port >= 1024 && port < low, `port ${port}, ephemeral from ${low}`);
    const s = net.createServer();
    await new Promise((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => s.close(resolve));
  }
});
