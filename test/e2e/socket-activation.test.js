// Socket activation (README, "Run it under systemd"): `listen: systemd:NAME` takes the socket systemd passes (LISTEN_FDS,
// LISTEN_FDNAMES, LISTEN_PID), here from systemd's own systemd-socket-activate, and says clearly
// what is missing when it is not there.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { cli, eachLine, flagmanCli, freePort, request, tempDir, upstream } from '../helpers/e2e.js';
import { holdSocket } from '../helpers/socket-unit.js';

const CONFIG = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["systemd:web"]
    rules:
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
`;

function writeConfig(t, app) {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'flags'));
  const file = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(file, CONFIG.replace('{{app}}', String(app)));
  return file;
}

/** Resolves with the first line of `stream` matching `re`, or rejects when `proc` exits first. */
function lineMatching(proc, stream, re, seen) {
  return new Promise((resolve, reject) => {
    eachLine(stream, (line) => {
      seen.push(line);
      if (re.test(line)) resolve(line);
    });
    proc.then((r) => reject(new Error(`exited (${r.exitCode}) before /${re.source}/:\n${seen.join('\n')}`)));
  });
}

test('systemd-socket-activate --fdname=web starts flagman with listen: systemd:web, and it serves', async (t) => {
  const which = await execa('sh', ['-c', 'command -v systemd-socket-activate'], { reject: false });
  if (which.exitCode !== 0) t.fail('systemd-socket-activate is missing: apt-get install systemd (npm test does, as root)');
  const app = await upstream(t, 'app');
  const file = writeConfig(t, app.port);
  const port = await freePort();
  const proc = execa('systemd-socket-activate', ['-l', `127.0.0.1:${port}`, '--fdname=web', process.execPath, cli, 'run', '-c', file], {
    reject: false,
    buffer: false,
  });
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    return proc;
  });
  proc.stdout.resume();
  const lines = [];
  const listening = lineMatching(proc, proc.stderr, /Listening on/, lines);
  const started = lineMatching(proc, proc.stderr, /"event":"start"/, lines);
  await listening;
  // Like a .socket unit, it starts the service on the first connection; that request waits in the
  // backlog and is answered by flagman.
  const first = await request(port);
  t.is(first.status, 200);
  t.is(first.body, 'app');
  await started;
  const listen = lines.map((l) => (l.startsWith('{') ? JSON.parse(l) : {})).find((e) => e.event === 'listen' && e.frontend === 'web');
  t.like(listen, { address: 'systemd:web', port });
  t.is((await request(port)).body, 'app');
  // systemd-socket-activate execs flagman, so LISTEN_PID (its pid) names flagman's own process.
  const adminPort = lines.map((l) => (l.startsWith('{') ? JSON.parse(l) : {})).find((e) => e.event === 'listen' && e.admin).port;
  const status = JSON.parse((await request(adminPort, { path: '/status' })).body);
  t.is(status.pid, proc.pid);
  proc.kill('SIGTERM');
  t.is((await proc).exitCode, 0);
});

test('listen: systemd:web without a passed socket fails fast, saying so', async (t) => {
  const file = writeConfig(t, 1);
  const r = await flagmanCli(['run', '-c', file], { env: { LISTEN_FDS: undefined, LISTEN_FDNAMES: undefined, LISTEN_PID: undefined } });
  t.is(r.exitCode, 1);
  t.regex(
    r.stderr,
    /^flagman: LISTEN: no socket was passed \(LISTEN_FDS is not set; start flagman from its \.socket unit\) \(systemd:web\)$/m,
  );
});

test('a passed socket with another FileDescriptorName, or for another process, is refused by name', async (t) => {
  const file = writeConfig(t, 1);
  const socket = holdSocket(t);
  const run = (env) =>
    execa(process.execPath, [cli, 'run', '-c', file], { reject: false, stdio: ['ignore', 'pipe', 'pipe', socket.fd], env });
  const named = await run({ LISTEN_FDS: '1', LISTEN_FDNAMES: 'admin' });
  t.is(named.exitCode, 1);
  t.regex(named.stderr, /LISTEN: no passed socket has FileDescriptorName=web \(passed: admin\) \(systemd:web\)/);
  const other = await run({ LISTEN_FDS: '1', LISTEN_FDNAMES: 'web', LISTEN_PID: '1' });
  t.is(other.exitCode, 1);
  t.regex(other.stderr, /LISTEN: the passed sockets are for process 1, not this one \(systemd:web\)/);
});
