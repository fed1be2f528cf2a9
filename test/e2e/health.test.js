// Server health through the real proxy (docs/health.md): active checks (http, tcp, exec) with rise and
// fall, passive failures, the fallback when no server is eligible, and checks that stop with
// flagman. Intervals are 100 ms so each test takes about a second; timeouts are long, since a
// stopped server refuses at once and a busy test machine must not fail a live one.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { adminStatus, request, startFlagman, upstream, waitFor } from '../helpers/e2e.js';
import { rawAnswering } from '../helpers/raw-server.js';

const TWO_SERVERS = (health) => `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - use: app
backends:
  app:
    health: ${health}
    servers:
      app1: { address: "127.0.0.1:{{app1}}" }
      app2: { address: "127.0.0.1:{{app2}}" }
`;

const stateEvent = (server, to) => (e) => e.event === 'server.state' && e.server === server && e.to === to;

async function bodies(fm, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const r = await request(fm.port);
    out.push(`${r.status} ${r.body}`);
  }
  return out;
}

test('a killed server is down after `fall` failed checks and gets no new requests; it is back after `rise` passes', async (t) => {
  const app1 = await upstream(t, 'app1');
  const app2 = await upstream(t, 'app2');
  const fm = await startFlagman(t, TWO_SERVERS('{ path: /healthz, interval: 100ms, timeout: 2s, rise: 2, fall: 3 }'), {
    vars: { app1: app1.port, app2: app2.port },
  });
  t.deepEqual(new Set(await bodies(fm, 4)), new Set(['200 app1', '200 app2']));
  // A backend's first checks are spread over one interval: four quick requests can come before app2's.
  t.true(
    await waitFor(() => app2.seen.some((r) => r.url === '/healthz'), { what: 'a GET /healthz on app2' }),
    'app2 is checked with GET /healthz',
  );

  let from = fm.events.length;
  await app2.stop();
  const down = await fm.waitEvent(stateEvent('app2', 'down'), { from, timeout: 15_000 });
  t.like(down, { backend: 'app', from: 'up', health: 'down', check: 'http', results: 3, detail: 'ECONNREFUSED' });
  const before = await adminStatus(fm);
  t.like(before.backends.app.servers.app2, { state: 'down', weight: 1, active: 0 });
  t.true(before.backends.app.servers.app2.failures >= 3, 'failed checks count as failures');

  t.deepEqual(new Set(await bodies(fm, 10)), new Set(['200 app1']));
  const after = await adminStatus(fm);
  t.is(after.backends.app.servers.app2.requests, before.backends.app.servers.app2.requests, 'no request was even tried on the down server');

  from = fm.events.length;
  await app2.start();
  const up = await fm.waitEvent(stateEvent('app2', 'up'), { from, timeout: 15_000 });
  t.like(up, { from: 'down', health: 'up', check: 'http', results: 2, detail: 'HTTP 200' });
  t.true((await bodies(fm, 4)).includes('200 app2'), 'requests reach the server again');
});

test('passive: refused connections are failed checks; the client never sees them', async (t) => {
  const app1 = await upstream(t, 'app1');
  const app2 = await upstream(t, 'app2');
  // A long interval: after the first round, only requests can find app2 dead.
  const fm = await startFlagman(t, TWO_SERVERS('{ interval: 1m, rise: 1, fall: 2 }'), { vars: { app1: app1.port, app2: app2.port } });
  const from = fm.events.length;
  await app2.stop();
  const seen = await bodies(fm, 8);
  t.deepEqual(new Set(seen), new Set(['200 app1']), 'each refused request moved to app1');
  const down = await fm.waitEvent(stateEvent('app2', 'down'), { from, timeout: 15_000 });
  t.like(down, { check: 'passive', results: 2, detail: 'ECONNREFUSED' });
  const s = await adminStatus(fm);
  t.like(s.backends.app.servers.app2, { state: 'down', requests: 2, failures: 2 });
});

// Answers a request would get a 502 for (docs/proxying.md, bad responses): one wrong from its head,
// one whose head is fine and whose body is not.
const BAD_ANSWERS = {
  'Content-Length with Transfer-Encoding': [
    'HTTP/1.1 200 OK\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'both Content-Length and Transfer-Encoding',
  ],
  'a chunk size over 2^48': [
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000\r\nok\r\n0\r\n\r\n',
    'chunk size too large',
  ],
};

for (const [name, [answer, why]] of Object.entries(BAD_ANSWERS)) {
  test(`a server answering its checks with ${name} (a 502 for a request) is down by its http check; requests go to the other server`, async (t) => {
    const app1 = await upstream(t, 'app1');
    const app2 = await rawAnswering(t, answer);
    const fm = await startFlagman(t, TWO_SERVERS('{ path: /healthz, interval: 100ms, timeout: 2s, rise: 2, fall: 2 }'), {
      vars: { app1: app1.port, app2: app2.port },
    });
    // No request before: only the active checks can find it out.
    const down = await fm.waitEvent(stateEvent('app2', 'down'), { timeout: 15_000 });
    t.like(down, { backend: 'app', from: 'up', health: 'down', check: 'http', results: 2, detail: `bad response: ${why}` });
    t.true(
      app2.heads.every((h) => h.startsWith('GET /healthz HTTP/1.1\r\n')),
      'only checks reached it',
    );
    t.deepEqual(new Set(await bodies(fm, 8)), new Set(['200 app1']), 'no request got a 502');
    const s = await adminStatus(fm);
    t.like(s.backends.app.servers.app2, { state: 'down', requests: 0 });
    t.true(s.backends.app.servers.app2.failures >= 2, 'failed checks count as failures');
  });
}

test('exec: a command that exits 1 marks its server down; exit 0 brings it back; it sees the server in its environment', async (t) => {
  const app1 = await upstream(t, 'app1');
  const app2 = await upstream(t, 'app2');
  const check =
    // Written aside, then renamed: a check run every 100 ms would otherwise truncate the file the
    // test is reading (it read it empty once, on a loaded machine).
    'echo "$FLAGMAN_BACKEND/$FLAGMAN_SERVER $FLAGMAN_SERVER_ADDR:$FLAGMAN_SERVER_PORT" > "seen-$FLAGMAN_SERVER.new" && mv "seen-$FLAGMAN_SERVER.new" "seen-$FLAGMAN_SERVER"\nexit "$(cat "exit-$FLAGMAN_SERVER" 2>/dev/null || echo 0)"\n';
  const fm = await startFlagman(t, TWO_SERVERS('{ type: exec, command: sh ./check.sh, interval: 100ms, timeout: 5s, rise: 1, fall: 2 }'), {
    vars: { app1: app1.port, app2: app2.port },
    files: { 'check.sh': check },
  });
  let from = fm.events.length;
  fs.writeFileSync(path.join(fm.dir, 'exit-app2'), '1\n');
  const down = await fm.waitEvent(stateEvent('app2', 'down'), { from, timeout: 15_000 });
  t.like(down, { check: 'exec', results: 2, detail: 'exit 1' });
  t.is(fs.readFileSync(path.join(fm.dir, 'seen-app2'), 'utf8'), `app/app2 127.0.0.1:${app2.port}\n`);

  const before = app2.seen.length;
  t.deepEqual(new Set(await bodies(fm, 6)), new Set(['200 app1']));
  t.is(app2.seen.length, before, 'the live but failing server got no request');

  from = fm.events.length;
  fs.writeFileSync(path.join(fm.dir, 'exit-app2'), '0\n');
  await fm.waitEvent(stateEvent('app2', 'up'), { from, timeout: 15_000 });
  t.true((await bodies(fm, 4)).includes('200 app2'));
});

const FALLBACK = `
flags: { dir: ./flags }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: request.path == "/bare"
        use: bare
      - use: app
backends:
  app:
    health: { type: tcp, interval: 100ms, timeout: 2s, rise: 1, fall: 2 }
    fallback: standby
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
  bare:
    health: { type: tcp, interval: 100ms, timeout: 2s, rise: 1, fall: 2 }
    servers:
      bare1: { address: "127.0.0.1:{{app}}" }
  standby:
    servers:
      standby1: { address: "127.0.0.1:{{standby}}" }
`;

test('all servers down: the fallback backend answers; without a fallback, 503', async (t) => {
  const app = await upstream(t, 'app');
  const standby = await upstream(t, 'standby');
  const fm = await startFlagman(t, FALLBACK, { vars: { app: app.port, standby: standby.port } });
  t.is((await request(fm.port)).body, 'app');
  t.is((await request(fm.port, { path: '/bare' })).body, 'app');

  const from = fm.events.length;
  await app.stop();
  await fm.waitEvent(stateEvent('app1', 'down'), { from, timeout: 15_000 });
  await fm.waitEvent(stateEvent('bare1', 'down'), { from, timeout: 15_000 });
  const r = await request(fm.port);
  t.is(r.status, 200);
  t.is(r.body, 'standby', 'the fallback backend answered');
  const bare = await request(fm.port, { path: '/bare' });
  t.is(bare.status, 503);
  t.is(bare.body, '503 Service Unavailable\n');

  await app.start();
  await fm.waitEvent(stateEvent('app1', 'up'), { from, timeout: 15_000 });
  t.is((await request(fm.port)).body, 'app', 'back to the servers once one is up');
});

test('stopping flagman stops its checks: an exec check in flight is killed and the exit is prompt', async (t) => {
  const app = await upstream(t, 'app');
  const check = 'echo $$ > "pid-$FLAGMAN_SERVER"\nexec sleep 30\n';
  const fm = await startFlagman(t, TWO_SERVERS('{ type: exec, command: sh ./check.sh, interval: 100ms, timeout: 20s }'), {
    vars: { app1: app.port, app2: app.port },
    files: { 'check.sh': check },
  });
  const pidFile = path.join(fm.dir, 'pid-app1');
  const deadline = Date.now() + 15_000;
  while (!fs.existsSync(pidFile) || fs.readFileSync(pidFile, 'utf8').trim() === '') {
    if (Date.now() > deadline) return t.fail('the check never started');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  t.notThrows(() => process.kill(pid, 0), 'the check is running');
  const stopped = performance.now();
  fm.proc.kill('SIGTERM');
  const r = await fm.exited;
  t.is(r.exitCode, 0, `${r.signal} ${fm.events.map((e) => JSON.stringify(e)).join('\n')}`);
  t.true(performance.now() - stopped < 3000, 'no check held the exit');
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the check process is gone');
});
