// The README's quick start is true: the demo config it shows is the one `npm start` runs, its
// commands are the ones the demo prints, and the demo (apps + proxy + admin endpoint, started by the
// same script) listens on loopback only, answers as the README says, shows flagman's access log,
// works with `flagman status`, serves a dashboard that renders, and stops whole.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { launchChromium, waitText, watchedPage } from '../helpers/browser.js';
import { eachLine, freePort, request, root, sh, tempDir, waitFor } from '../helpers/e2e.js';
import { tryCommands } from '../../dist/demo/banner.js';
import { loadConfig } from '../../dist/config/load.js';

const demoConfig = path.join(root, 'examples/demo/flagman.yaml');
const startScript = path.join(root, 'dist/demo/start.js');
// Generous: the demo starts two apps and flagman on a loaded 2-core machine.
const START_MS = 30_000;

/** The Quick start section of the README. */
function quickStart() {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('## Quick start');
  return readme.slice(start, readme.indexOf('\n## ', start + 1));
}

/** The first ```yaml block of the quick start. */
function readmeDemoConfig() {
  return /```yaml\n([\s\S]*?)```/.exec(quickStart())?.[1];
}

/** The lines of the quick start's second ```sh block: the commands to try while the demo runs. */
function readmeCommands() {
  const blocks = [...quickStart().matchAll(/```sh\n([\s\S]*?)```/g)];
  return blocks[1]?.[1].split('\n').filter(Boolean);
}

/** The bypass token of the quick start's `curl --cookie 'flagman_bypass=…'` line. */
function readmeBypassToken() {
  return /^curl -s --cookie 'flagman_bypass=([0-9a-f]+)' http:\/\/127\.0\.0\.1:8080\//m.exec(quickStart())?.[1];
}

/**
 * The demo's files as the repository has them (config, maintenance page, flags/MAINT), in a temp
 * dir, so a test steers its own flags and never the repository's.
 */
function demoLayout(t) {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'examples/demo'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'flags'));
  fs.copyFileSync(path.join(root, 'flags/MAINT'), path.join(dir, 'flags/MAINT'));
  for (const f of ['flagman.yaml', 'maintenance.html'])
    fs.copyFileSync(path.join(root, 'examples/demo', f), path.join(dir, 'examples/demo', f));
  return dir;
}

/** Free ports for everything the demo listens on, as the FLAGMAN_DEMO_* variables that move them. */
async function demoPorts() {
  const [proxy, admin, app1, app2] = [await freePort(), await freePort(), await freePort(), await freePort()];
  return {
    ports: { proxy, admin, app1, app2 },
    env: {
      FLAGMAN_DEMO_PORT: String(proxy),
      FLAGMAN_DEMO_ADMIN_PORT: String(admin),
      FLAGMAN_DEMO_APP1_PORT: String(app1),
      FLAGMAN_DEMO_APP2_PORT: String(app2),
    },
  };
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `command` (the demo, or a shell that runs it) and waits for the demo's banner. Keeps its
 * stdout and stderr; at teardown anything of it still running (the demo, flagman) is stopped, by the
 * PIDs the banner gives.
 */
async function startDemo(t, command, args, { cwd, env }) {
  const proc = execa(command, args, { cwd, env, reject: false, buffer: false });
  const out = { stdout: '', stderr: '', lines: [] };
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (c) => (out.stdout += c));
  eachLine(proc.stderr, (line) => {
    out.stderr += `${line}\n`;
    out.lines.push(line);
  });
  const exited = proc.then((r) => r);
  let pids = null;
  const kill = (signal) => {
    for (const pid of [proc.pid, pids?.demo, pids?.flagman]) {
      if (pid !== undefined && alive(pid)) process.kill(pid, signal);
    }
  };
  t.teardown(async () => {
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  });
  await Promise.race([
    waitFor(() => out.stdout.includes('Ctrl-C stops everything.'), { timeout: START_MS, what: 'the demo banner' }),
    exited.then((r) => {
      throw new Error(`the demo exited (${r.exitCode}):\n${out.stdout}\n${out.stderr}`);
    }),
  ]);
  const m = /flagman demo \(pid (\d+)\): flagman runs as pid (\d+)/.exec(out.stdout);
  pids = { demo: Number(m[1]), flagman: Number(m[2]) };
  const banner = out.stdout.slice(0, out.stdout.indexOf('Ctrl-C stops everything.'));
  const commands = banner
    .slice(banner.indexOf('Try, in another terminal:\n') + 'Try, in another terminal:\n'.length)
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^ {2}/, ''));
  return { proc, out, exited, pids, banner, commands };
}

/** The addresses TCP sockets listen on at `port`, on this machine (/proc/net/tcp and tcp6). */
function listeningAddresses(port) {
  const found = [];
  for (const [file, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ]) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.split('\n').slice(1)) {
      const [, local, , state] = row.trim().split(/\s+/);
      if (state !== '0A' || local === undefined) continue; // 0A: LISTEN
      const [hex, portHex] = local.split(':');
      if (parseInt(portHex, 16) !== port) continue;
      // Each 32-bit word is in host (little-endian) order.
      const words = hex.match(/.{8}/g).map((w) => w.match(/../g).reverse().join(''));
      found.push(
        v6
          ? `[${words.join('').match(/.{4}/g).join(':')}]`
          : words[0]
              .match(/../g)
              .map((b) => parseInt(b, 16))
              .join('.'),
      );
    }
  }
  return found.sort();
}

test('the README shows the demo config that npm start runs', (t) => {
  t.is(readmeDemoConfig(), fs.readFileSync(demoConfig, 'utf8'));
});

test("the README's commands are the ones the demo prints at its default ports, from the repository root", (t) => {
  const config = loadConfig(demoConfig);
  const printed = tryCommands({ config, file: demoConfig, cli: path.join(root, 'dist/cli/main.js'), cwd: root });
  t.deepEqual(readmeCommands(), printed);
  // The defaults are the README's.
  t.deepEqual(
    config.frontends[0].listen.map((l) => l.text),
    ['127.0.0.1:8080'],
  );
  t.is(config.admin.listen.text, '127.0.0.1:8081');
  t.deepEqual(
    config.backends.find((b) => b.name === 'app').servers.map((s) => `${s.host}:${s.port}`),
    ['127.0.0.1:9001', '127.0.0.1:9002'],
  );
});

test('the demo listens on 127.0.0.1 only, prints its proxy and dashboard URLs, shows the access log, answers flagman status, list and get, and its dashboard renders; SIGINT stops it all', async (t) => {
  t.timeout(120_000);
  const dir = demoLayout(t);
  const { ports, env } = await demoPorts();
  const demo = await startDemo(t, process.execPath, [startScript, '-c', 'examples/demo/flagman.yaml'], { cwd: dir, env });

  // Everything it started listens on loopback, and on 127.0.0.1 alone: not on every interface.
  for (const [what, port] of Object.entries(ports)) t.deepEqual(listeningAddresses(port), ['127.0.0.1'], `${what} (port ${port})`);
  t.regex(demo.banner, new RegExp(`proxy +http://127\\.0\\.0\\.1:${ports.proxy}/\n`));
  t.regex(demo.banner, new RegExp(`dashboard +http://127\\.0\\.0\\.1:${ports.admin}/\n`));
  t.regex(demo.banner, new RegExp(`apps +app1 127\\.0\\.0\\.1:${ports.app1}, app2 127\\.0\\.0\\.1:${ports.app2}\n`));

  // The first command it prints, as typed: both apps answer, and flagman's access lines (stdout,
  // whole JSON lines) follow the banner.
  const curl = demo.commands[0];
  t.true(curl.startsWith(`curl -s http://127.0.0.1:${ports.proxy}/ `), curl);
  const bodies = new Set();
  for (let i = 0; i < 2; i++) bodies.add((await sh(curl, dir)).stdout.split(':')[0]);
  t.deepEqual([...bodies].sort(), ['hello from app1', 'hello from app2']);
  const access = await waitFor(
    () => {
      const lines = demo.out.stdout
        .slice(demo.out.stdout.indexOf('Ctrl-C stops everything.\n') + 'Ctrl-C stops everything.\n'.length)
        .split('\n')
        .filter(Boolean);
      return lines.length >= 2 && lines;
    },
    { timeout: 10_000, what: 'two access lines on stdout' },
  );
  const parsed = access.map((l) => JSON.parse(l));
  t.deepEqual(
    parsed.map((a) => [a.frontend, a.backend, a.method, a.path, a.status]),
    [
      ['web', 'app', 'GET', '/', 200],
      ['web', 'app', 'GET', '/', 200],
    ],
  );
  t.deepEqual(parsed.map((a) => a.server).sort(), ['app1', 'app2']);
  t.true(
    demo.out.lines.some((l) => JSON.parse(l).event === 'start'),
    'the events pass through on stderr',
  );

  // flagman status, list and get, as printed.
  const cliLine = (word) => demo.commands.find((l) => new RegExp(`^node \\S+ ${word} `).test(l));
  const status = await sh(cliLine('status'), dir);
  t.is(status.exitCode, 0, status.stderr);
  t.regex(status.stdout, new RegExp(`^flagman +\\S+, pid ${demo.pids.flagman},`, 'm'));
  // FRONTEND REQUESTS ACTIVE CONNS MAXCONN WAITING 413 429 1xx 2xx: two requests, both 2xx, no limit.
  t.regex(status.stdout, /^web +2 +0 +0 +- +0 +0 +0 +0 +2 /m);
  t.regex(status.stdout, /^app +app1 +up /m);
  t.regex(status.stdout, /^MAINT +0 /m);
  const list = await sh(cliLine('list'), dir);
  t.is(list.exitCode, 0, list.stderr);
  t.regex(list.stdout, /^MAINT +0/m);
  const get = await sh(cliLine('get MAINT'), dir);
  t.is(get.exitCode, 0, get.stderr);
  t.is(get.stdout, '0');

  // The dashboard, in a real browser.
  const url = /dashboard +(\S+)\n/.exec(demo.banner)[1];
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const { page, errors } = await watchedPage(t, browser);
  t.is((await page.goto(url)).status(), 200);
  await waitText(page, '#pid', String(demo.pids.flagman), 20_000);
  await waitText(page, '#backends tr[data-key="server:app/app1"] .c-state', 'up', 20_000);
  await waitText(page, '#backends tr[data-key="server:app/app2"] .c-state', 'up', 20_000);
  await waitText(page, '#flags tr[data-key="flag:MAINT"] .c-value', '0', 20_000);
  t.regex(await page.textContent('#conn'), /^live/);
  t.deepEqual(errors, []);

  // Ctrl-C: flagman stops, then the apps, and the demo exits 0 with nothing left listening.
  demo.proc.kill('SIGINT');
  const r = await demo.exited;
  t.is(r.exitCode, 0, demo.out.stderr);
  t.false(alive(demo.pids.flagman), 'flagman is gone');
  for (const [what, port] of Object.entries(ports)) t.deepEqual(listeningAddresses(port), [], `${what} (port ${port}) closed`);
});

test('the demo serves both apps, switches to maintenance on echo 1 > flags/MAINT, and lets admins through with the bypass cookie only', async (t) => {
  const token = readmeBypassToken();
  t.regex(token ?? '', /^[0-9a-f]{32}$/, 'the quick start shows a curl with a 128-bit bypass token');
  const dir = demoLayout(t);
  const { ports, env } = await demoPorts();
  const proxy = ports.proxy;
  const demo = await startDemo(t, process.execPath, [startScript, '-c', 'examples/demo/flagman.yaml'], { cwd: dir, env });
  t.regex(demo.banner, /echo 1 > flags\/MAINT/);
  t.true(demo.banner.includes(`curl -s --cookie 'flagman_bypass=${token}' http://127.0.0.1:${proxy}/`), demo.banner);

  const bodies = new Set();
  for (let i = 0; i < 4; i++) bodies.add((await request(proxy)).body.split(':')[0]);
  t.deepEqual([...bodies].sort(), ['hello from app1', 'hello from app2']);

  const from = demo.out.lines.length;
  await sh('echo 1 > flags/MAINT', dir);
  await waitFor(() => demo.out.lines.slice(from).some((l) => l.includes('"event":"flag.change"') && l.includes('"value":1')), {
    timeout: 10_000,
    what: 'MAINT=1 applied',
  });
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

test('npm start execs the demo: a SIGTERM to what npm runs stops the demo, flagman and the apps', async (t) => {
  const script = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).scripts.start;
  t.true(script.startsWith('npm run build && '), script);
  const dir = demoLayout(t);
  const { ports, env } = await demoPorts();
  // The script as npm runs it (sh -c), minus the build, which the suite has done.
  const line = `${script.replace('npm run build', 'true')} -c ${path.join(dir, 'examples/demo/flagman.yaml')}`;
  const demo = await startDemo(t, 'sh', ['-c', line], { cwd: root, env });
  t.true(alive(demo.pids.demo) && alive(demo.pids.flagman));
  // What npm does on SIGTERM: signal the process it spawned, and only that one.
  demo.proc.kill('SIGTERM');
  // Not `await demo.exited`: a demo that outlived the shell would hold its output open for ever.
  await waitFor(() => !alive(demo.pids.demo) && !alive(demo.pids.flagman), { timeout: 20_000, what: 'the demo and flagman to exit' });
  for (const [what, port] of Object.entries(ports)) t.deepEqual(listeningAddresses(port), [], `${what} (port ${port}) closed`);
});

test('an installed flagman without examples/ says the demo config is missing, without a stack trace; with it, the demo runs and creates its flags directory', async (t) => {
  // A package as npm installs it: dist/ and package.json copied (no link back to this tree), the
  // dependencies beside it.
  const pkg = tempDir(t);
  fs.cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(pkg, 'node_modules'));
  const start = path.join(pkg, 'dist/demo/start.js');

  const missing = await execa(process.execPath, [start], { cwd: pkg, reject: false, timeout: START_MS });
  t.is(missing.exitCode, 1);
  t.is(missing.stdout, '');
  t.regex(
    missing.stderr,
    // Told as every command tells an error: the code (docs/errors.md), what is wrong, where.
    new RegExp(
      `^flagman demo: CONFIG_READ: the demo config is missing[^\n]* \\(${path.join(pkg, 'examples/demo/flagman.yaml').replaceAll('.', '\\.')}\\)$`,
      'm',
    ),
  );
  t.notRegex(missing.stderr, /^\s+at /m, 'no stack trace');
  t.is(missing.stderr.trim().split('\n').length, 1, missing.stderr);

  fs.cpSync(path.join(root, 'examples'), path.join(pkg, 'examples'), { recursive: true });
  const { ports, env } = await demoPorts();
  const demo = await startDemo(t, process.execPath, [start], { cwd: pkg, env });
  t.true(fs.statSync(path.join(pkg, 'flags')).isDirectory());
  t.regex(demo.banner, /^ {2}echo 1 > flags\/MAINT /m);
  t.regex(demo.banner, /^ {2}node dist\/cli\/main\.js status -c /m);
  t.is((await request(ports.proxy)).status, 200);
  demo.proc.kill('SIGTERM');
  t.is((await demo.exited).exitCode, 0, demo.out.stderr);
});
