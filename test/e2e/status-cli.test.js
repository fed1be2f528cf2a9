// `flagman status` (docs/cli.md): a running instance's state from its admin endpoint, as tables or
// as the raw /status JSON; an address it cannot reach, or no address at all, is one clear line.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { adminStatus, flagmanCli, freePort, request, sh, startFlagman, tempDir, upstream } from '../helpers/e2e.js';

const CONFIG = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:{{admin}}" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    maxconn: 100
    maxBody: 1MiB
    rules:
      - use: app
        limit: { rate: 50, burst: 5, by: client.ip }
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}", maxconn: 50 }
      app2: { address: "127.0.0.1:{{app}}", weight: 'flag("app2.weight", 1)' }
`;

async function running(t, admin = 0) {
  const app = await upstream(t, 'app');
  return startFlagman(t, CONFIG, { vars: { app: app.port, admin }, flags: { MAINT: '1 # db migration\n', 'app2.weight': '0\n' } });
}

test('status prints the flag, frontend and server rows of a running instance', async (t) => {
  const fm = await running(t);
  await request(fm.port);
  const r = await flagmanCli(['status', '--admin', `http://127.0.0.1:${fm.adminPort}`]);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stderr, '');
  const lines = r.stdout.split('\n');
  t.true(
    lines.some((l) => /^flagman\s+\d+\.\d+\.\d+\S*, pid \d+, up /.test(l)),
    r.stdout,
  );
  t.true(
    lines.some((l) => /^last reload\s+ok/.test(l)),
    r.stdout,
  );
  t.true(
    lines.some((l) => /^watcher\s+events, \d+ rescans/.test(l)),
    r.stdout,
  );
  t.true(
    lines.some((l) => /^MAINT\s+1\s+-\s+db migration$/.test(l)),
    r.stdout,
  );
  t.true(
    lines.some((l) => /^app2\.weight\s+0\s+-$/.test(l)),
    r.stdout,
  );
  // CONNS (the request's connection may still be open), MAXCONN, WAITING, 413 and 429 beside ACTIVE.
  t.true(
    lines.some((l) => /^FRONTEND\s+REQUESTS\s+ACTIVE\s+CONNS\s+MAXCONN\s+WAITING\s+413\s+429\s+1xx\s+2xx/.test(l)),
    r.stdout,
  );
  t.true(
    lines.some((l) => /^web\s+1\s+0\s+[01]\s+100\s+0\s+0\s+0\s+0\s+1\s+0\s+0\s+0\s+0$/.test(l)),
    r.stdout,
  );
  // The rules with limits: the body limit in bytes, the rate with its burst, its key and the keys held.
  t.true(
    lines.some((l) => /^FRONTEND\s+RULE\s+BACKEND\s+MAXBODY\s+RATE\s+BY\s+KEYS\s+413\s+429$/.test(l)),
    r.stdout,
  );
  t.true(
    lines.some((l) => /^web\s+1\s+app\s+1048576\s+50\/s\+5\s+client\.ip\s+1\s+0\s+0$/.test(l)),
    r.stdout,
  );
  // MAXCONN (`-`: no limit) and the backend's QUEUE beside each server's ACTIVE; the backend's P50
  // and P99 since start (one request: both in its bucket) on each of its lines.
  t.true(
    lines.some((l) => /^BACKEND\s+SERVER\s+STATE\s+WEIGHT\s+MAXCONN\s+ACTIVE\s+QUEUE\s+REQUESTS\s+FAILURES\s+P50\s+P99$/.test(l)),
    r.stdout,
  );
  t.true(
    lines.some((l) => /^app\s+app1\s+up\s+1\s+50\s+0\s+0\s+1\s+0\s+\d+(\.\d+)?m?s\s+\d+(\.\d+)?m?s$/.test(l)),
    r.stdout,
  );
  t.true(
    lines.some((l) => /^app\s+app2\s+drain\s+0\s+-\s+0\s+0\s+0\s+0\s+\d+(\.\d+)?m?s\s+\d+(\.\d+)?m?s$/.test(l)),
    r.stdout,
  );
});

test('status --json prints the /status document', async (t) => {
  const fm = await running(t);
  const from = fm.events.length;
  await sh('echo 1 > flags/app2.weight', fm.dir);
  await fm.waitFlag('app2.weight', 1, { from });
  const r = await flagmanCli(['status', '--json', '--admin', `127.0.0.1:${fm.adminPort}`]);
  t.is(r.exitCode, 0, r.stderr);
  const printed = JSON.parse(r.stdout);
  const direct = await adminStatus(fm);
  // Rescans go on between the two reads; everything else is the same.
  delete printed.watcher;
  delete direct.watcher;
  t.deepEqual(printed, direct);
  t.is(printed.backends.app.servers.app2.state, 'up');
});

test('status finds the admin endpoint from the config file', async (t) => {
  const fm = await running(t, await freePort());
  const r = await flagmanCli(['status', '-c', fm.configFile]);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /^MAINT\s+1\s+-\s+db migration$/m);
});

test('status against an address where nothing answers: exit 1, one line naming the address', async (t) => {
  const port = await freePort();
  const r = await flagmanCli(['status', '--admin', `http://127.0.0.1:${port}`]);
  t.is(r.exitCode, 1);
  t.is(r.stdout, '');
  t.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  t.regex(
    r.stderr,
    new RegExp(`^flagman: ADMIN: cannot read the admin endpoint: connection refused .*\\(http://127\\.0\\.0\\.1:${port}/status\\)$`),
  );
});

test('status without --admin and without admin.listen: exit 1, naming the config file', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(
    file,
    'frontends:\n  web:\n    listen: ["127.0.0.1:0"]\n    rules: [{ use: app }]\nbackends:\n  app:\n    servers:\n      app1: { address: "127.0.0.1:9" }\n',
  );
  const r = await flagmanCli(['status', '-c', file]);
  t.is(r.exitCode, 1);
  t.is(r.stdout, '');
  t.is(r.stderr, `flagman: ADMIN: no admin endpoint is configured (admin.listen): configure one, or pass --admin URL (${file})`);
});

test('status with admin.listen on port 0 asks for --admin, naming the line', async (t) => {
  const fm = await running(t, 0);
  const r = await flagmanCli(['status', '-c', fm.configFile]);
  t.is(r.exitCode, 1);
  t.regex(
    r.stderr,
    new RegExp(
      `^flagman: ADMIN: admin.listen 127.0.0.1:0 takes a free port at start: pass --admin URL \\(${fm.configFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+\\)$`,
    ),
  );
});
