// Under systemd with stderr on the journal, every event line starts with its syslog priority, so
// that `journalctl -p warning` shows the warn and error lines (docs/logs.md). systemd tells a
// process its stderr is the journal by JOURNAL_STREAM (device:inode of that stream); here a shell
// sets it to the pipe the test reads, as systemd would for its journal socket.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { eachLine, flagmanCommand, freePort, tempDir, waitFor } from '../helpers/e2e.js';

const CONFIG = (dead) => `
flags: { dir: ./flags }
log: { access: off }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules: [{ use: app }]
backends:
  app:
    health: { type: tcp, interval: 100ms, timeout: 500ms, rise: 1, fall: 1 }
    servers:
      gone: { address: "127.0.0.1:${dead}" }
`;

/** Runs flagman with JOURNAL_STREAM set by `stream` (a shell expression); resolves with its stderr lines once `until` holds. */
async function eventLines(t, stream, until) {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'flags'));
  fs.writeFileSync(path.join(dir, 'flagman.yaml'), CONFIG(await freePort()));
  const command = flagmanCommand.map((a) => `'${a}'`).join(' ');
  const child = spawn('sh', ['-c', `JOURNAL_STREAM=${stream} exec ${command} run -c flagman.yaml`], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines = [];
  eachLine(child.stderr, (l) => lines.push(l));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  t.teardown(() => child.kill('SIGKILL'));
  await waitFor(() => until(lines), { timeout: 15_000, what: 'the start and server-down lines' });
  child.kill('SIGTERM');
  await exited;
  return lines;
}

const started = (lines) => lines.some((l) => l.includes('"event":"start"')) && lines.some((l) => l.includes('"event":"server.state"'));

test('stderr on the journal: each event line starts with its priority, <4> for a server down, <6> for the start', async (t) => {
  // The stream flagman's stderr is: the pipe to this test, as `stat -L` of fd 2 names it.
  const lines = await eventLines(t, '$(stat -L -c %d:%i /proc/self/fd/2)', started);
  const start = lines.find((l) => l.includes('"event":"start"'));
  const down = lines.find((l) => l.includes('"event":"server.state"'));
  t.regex(start, /^<6>\{"level":30,/);
  t.regex(down, /^<4>\{"level":40,/);
  t.regex(down, /"to":"down"/);
  for (const l of lines) t.regex(l, /^<[2-7]>\{"level":/, 'every event line has a priority');
  t.deepEqual(JSON.parse(down.slice(3)).event, 'server.state', 'the rest of the line is the JSON as ever');
});

test('JOURNAL_STREAM naming another stream (stderr redirected): plain JSON lines, no prefix', async (t) => {
  const lines = await eventLines(t, '1:1', started);
  for (const l of lines) t.regex(l, /^\{"level":/);
});
