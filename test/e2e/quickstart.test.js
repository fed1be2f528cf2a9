// The README's quick start is true: the demo config it shows is the one `npm start` runs, and the
// demo (apps + proxy, started by the same script) answers as the README says.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa } from 'execa';
import { eachLine, freePort, request, root, sh, tempDir } from '../helpers/e2e.js';

const demoConfig = path.join(root, 'examples/demo/flagman.yaml');

/** The first ```yaml block after the "Quick start" heading of the README. */
function readmeDemoConfig() {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('## Quick start');
  const m = /```yaml\n([\s\S]*?)```/.exec(readme.slice(start));
  return m?.[1];
}

/** The bypass token of the quick start's `curl --cookie 'flagman_bypass=…'` line. */
function readmeBypassToken() {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('## Quick start');
  return /^curl -s --cookie 'flagman_bypass=([0-9a-f]+)' http:\/\/127\.0\.0\.1:8080\//m.exec(readme.slice(start))?.[1];
}

test('the README shows the demo config that npm start runs', (t) => {
  t.is(readmeDemoConfig(), fs.readFileSync(demoConfig, 'utf8'));
});

test('the demo serves both apps, switches to maintenance on echo 1 > flags/MAINT, and lets admins through with the bypass cookie only', async (t) => {
  const token = readmeBypassToken();
  t.regex(token ?? '', /^[0-9a-f]{32}$/, 'the quick start shows a curl with a 128-bit bypass token');
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'examples/demo'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'flags'));
  fs.copyFileSync(path.join(root, 'flags/MAINT'), path.join(dir, 'flags/MAINT'));
  fs.copyFileSync(path.join(root, 'examples/demo/maintenance.html'), path.join(dir, 'examples/demo/maintenance.html'));
  const [proxy, app1, app2] = [await freePort(), await freePort(), await freePort()];
  const text = readmeDemoConfig().replace('":8080"', `"127.0.0.1:${proxy}"`).replace('127.0.0.1:9001', `127.0.0.1:${app1}`).replace('127.0.0.1:9002', `127.0.0.1:${app2}`);
  const config = path.join(dir, 'examples/demo/flagman.yaml');
  fs.writeFileSync(config, text);

  const demo = execa(process.execPath, [path.join(root, 'dist/demo/start.js'), '-c', config], { cwd: dir, reject: false, buffer: false });
  t.teardown(async () => {
    demo.kill('SIGTERM');
    await demo;
  });
  const ready = new Promise((resolve, reject) => {
    eachLine(demo.stderr, (line) => {
      if (line.includes('"event":"start"')) resolve();
    });
    demo.then((r) => reject(new Error(`demo exited: ${r.exitCode}`)));
  });
  let banner = '';
  demo.stdout.on('data', (c) => (banner += c));
  await ready;
  t.regex(banner, /echo 1 > flags\/MAINT/);
  t.true(banner.includes(`curl -s --cookie 'flagman_bypass=${token}' http://127.0.0.1:${proxy}/`), banner);

  const bodies = new Set();
  for (let i = 0; i < 4; i++) bodies.add((await request(proxy)).body.split(':')[0]);
  t.deepEqual([...bodies].sort(), ['hello from app1', 'hello from app2']);

  const changed = new Promise((resolve) => {
    eachLine(demo.stderr, (line) => {
      if (line.includes('"event":"flag.change"') && line.includes('"value":1')) resolve();
    });
  });
  await sh('echo 1 > flags/MAINT', dir);
  await changed;
  const maint = await request(proxy);
  t.is(maint.status, 503);
  t.regex(maint.body, /Down for maintenance/);
  t.is(maint.headers['retry-after'], '120');
  const admin = await request(proxy, { headers: { cookie: `theme=dark; flagman_bypass=${token}` } });
  t.is(admin.status, 200);
  // A bypass anyone could send is no bypass: a guessable header or a wrong token gets the page.
  t.is((await request(proxy, { headers: { 'X-Admin': 'yes' } })).status, 503);
  t.is((await request(proxy, { headers: { cookie: 'flagman_bypass=yes' } })).status, 503);
});
