// Starting and stopping: fail fast with the reason (address in use, world-writable flags directory),
// a missing flags directory is only a warning, and SIGTERM (or SIGQUIT) lets an in-flight request finish.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import { flagmanCli, request, startFlagman, tempDir, upstream } from '../helpers/e2e.js';

const CONFIG = `
flags: { dir: ./flags }
frontends:
  web:
    listen: ["127.0.0.1:{{port}}"]
    rules:
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
`;

function writeConfig(t, vars, { flagsMode = 0o755, makeFlags = true } = {}) {
  const dir = tempDir(t);
  if (makeFlags) {
    fs.mkdirSync(path.join(dir, 'flags'));
    fs.chmodSync(path.join(dir, 'flags'), flagsMode);
  }
  const file = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(
    file,
    CONFIG.replace(/\{\{(\w+)\}\}/g, (_, k) => vars[k]),
  );
  return { dir, file };
}

test('an address in use fails fast with exit 1 naming the address', async (t) => {
  const blocker = net.createServer();
  await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = blocker.address().port;
  const { file } = writeConfig(t, { port, app: 1 });
  const r = await flagmanCli(['run', '-c', file]);
  t.is(r.exitCode, 1);
  t.true(r.stderr.includes(`127.0.0.1:${port}`), r.stderr);
  t.regex(r.stderr, /address in use/);
});

test('a world-writable flags directory is refused at start, naming it', async (t) => {
  const { dir, file } = writeConfig(t, { port: 0, app: 1 }, { flagsMode: 0o777 });
  const r = await flagmanCli(['run', '-c', file]);
  t.is(r.exitCode, 1);
  t.true(r.stderr.includes(path.join(dir, 'flags')), r.stderr);
  t.regex(r.stderr, /world-writable/);
});

test('a missing flags directory is a warning: flagman serves with every flag unset', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG.replace('dir: ./flags', 'dir: ./missing'), { vars: { port: 0, app: app.port } });
  const warning = fm.events.find((e) => e.level === 40 && JSON.stringify(e).includes('missing'));
  t.truthy(warning, 'a warning names the missing directory');
  t.is((await request(fm.port)).body, 'app');
});

// SIGQUIT as well: nginx's graceful stop, which an operator may send by habit.
for (const signal of ['SIGTERM', 'SIGQUIT']) {
  test(`${signal}: an in-flight request completes, then the process exits 0`, async (t) => {
    let arrived;
    const inFlight = new Promise((resolve) => (arrived = resolve));
    let release;
    const released = new Promise((resolve) => (release = resolve));
    const app = await upstream(t, 'app', (req, res) => {
      req.resume();
      arrived();
      released.then(() => res.end('finished'));
    });
    const fm = await startFlagman(t, CONFIG, { vars: { port: 0, app: app.port } });
    const pending = request(fm.port, { path: '/slow' });
    await inFlight;
    const from = fm.events.length;
    fm.proc.kill(signal);
    t.like(await fm.waitEvent((e) => e.event === 'stop', { from }), { signal });
    release();
    const r = await pending;
    t.is(r.status, 200);
    t.is(r.body, 'finished');
    const result = await fm.exited;
    t.is(result.exitCode, 0);
  });
}
