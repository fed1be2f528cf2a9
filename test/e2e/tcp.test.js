// `mode: tcp` (issue 8): raw TCP connections routed by client.ip and flags, over real sockets. Two
// echo servers prefix their replies with their name, so each assertion says which server a
// connection reached. Flags steer new connections only: an open one stays on its server.
import fs from 'node:fs';
import net from 'node:net';
import test from 'ava';
import path from 'node:path';
import { adminStatus, flagmanCli, freePort, request, root, saveConfig, sh, startFlagman, tempDir, waitFor } from '../helpers/e2e.js';
import { holdSocket, startWithSocket } from '../helpers/socket-unit.js';
import { blackHole, echoServer, lineClient } from '../helpers/tcp.js';
import { scaled } from '../helpers/slow.js';

/** A tcp frontend whose maintenance rule (`flag("DB_MAINT") > 0`) sends new connections to `maint`. */
function dbConfig({ maint = 'standby', extraBackends = '', primary = '', top = '' } = {}) {
  return `${top}
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  db:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules:
      - when: flag("DB_MAINT") > 0
        use: ${maint}
      - use: primary
backends:
  primary:
    mode: tcp
${primary}    servers:
      db1: { address: "127.0.0.1:{{db1}}" }
  standby:
    mode: tcp
    servers:
      db2: { address: "127.0.0.1:{{db2}}" }
  closed:
    refuse: true
${extraBackends}`;
}

/** A tcp frontend sending every connection to `pool`, a tcp backend of db1 and db2 with `lines` added. */
function poolConfig({ lines = '', db1 = '', db2 = '' } = {}) {
  return `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  db:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules: [{ use: pool }]
backends:
  pool:
    mode: tcp
${lines}    servers:
      db1: { address: "127.0.0.1:{{db1}}"${db1} }
      db2: { address: "127.0.0.1:{{db2}}"${db2} }
`;
}

async function setFlag(fm, command, flag, value) {
  const from = fm.events.length;
  await sh(command, fm.dir);
  await fm.waitFlag(flag, value, { from });
}

test('echo 1 > flags/DB_MAINT sends new connections to the standby; an open one keeps talking to the primary', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  const fm = await startFlagman(t, dbConfig(), { vars: { db1: db1.port, db2: db2.port } });

  const open = lineClient(t, fm.port);
  t.is(await open.say('hello'), 'db1:hello');

  await setFlag(fm, 'echo 1 > flags/DB_MAINT', 'DB_MAINT', 1);
  const fresh = lineClient(t, fm.port);
  t.is(await fresh.say('hello'), 'db2:hello', 'a new connection goes to the standby');
  t.is(await open.say('still there?'), 'db1:still there?', 'the open connection stays on the primary');
  t.is(db1.connections, 1);

  await setFlag(fm, 'rm flags/DB_MAINT', 'DB_MAINT', null);
  const back = lineClient(t, fm.port);
  t.is(await back.say('x'), 'db1:x');
  t.is(await fresh.say('y'), 'db2:y', 'and the one opened during maintenance stays on the standby');
});

test('a maintenance rule that uses a refuse backend closes new connections at once, without a byte', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  const fm = await startFlagman(t, dbConfig({ maint: 'closed' }), { vars: { db1: db1.port, db2: db2.port }, captureAccess: true });
  const open = lineClient(t, fm.port);
  t.is(await open.say('hello'), 'db1:hello');

  await setFlag(fm, 'echo 1 > flags/DB_MAINT', 'DB_MAINT', 1);
  const refused = lineClient(t, fm.port);
  await refused.connected;
  const { received } = await refused.closed;
  t.is(received, '', 'closed without data');
  t.is(db1.connections + db2.connections, 1, 'no server saw the refused connection');
  t.is(await open.say('again'), 'db1:again', 'the open connection is untouched');
  await waitFor(() => fm.access.some((l) => l.reason === 'refused'));
  const line = fm.access.find((l) => l.reason === 'refused');
  t.like(line, { frontend: 'db', mode: 'tcp', backend: 'closed', server: null, bytesIn: 0, bytesOut: 0 });
});

test('echo 0 > flags/db1.weight drains db1: new connections go to db2, the open one on db1 still works', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  const config = poolConfig({
    lines: '    balance: leastconn\n',
    db1: `, weight: 'flag("db1.weight", 1)'`,
    db2: `, weight: 'flag("db2.weight", 1)'`,
  });
  const fm = await startFlagman(t, config, { vars: { db1: db1.port, db2: db2.port } });
  // leastconn counts open connections: two held open land on both servers.
  const a = lineClient(t, fm.port);
  const b = lineClient(t, fm.port);
  const replies = [await a.say('a'), await b.say('b')];
  t.deepEqual(replies.map((r) => r.split(':')[0]).sort(), ['db1', 'db2']);
  const onDb1 = replies[0].startsWith('db1') ? a : b;

  await setFlag(fm, 'echo 0 > flags/db1.weight', 'db1.weight', 0);
  for (let i = 0; i < 4; i++) {
    const c = lineClient(t, fm.port);
    t.is(await c.say(`n${i}`), `db2:n${i}`, 'no new connection goes to a drained server');
  }
  t.true((await onDb1.say('x')).startsWith('db1:'), 'the open connection on db1 still works');
  const s = await adminStatus(fm);
  t.like(s.backends.pool.servers.db1, { state: 'drain', weight: 0, active: 1 });
});

test('health: a killed server is skipped after `fall` checks; a connect failure moves the connection to another server', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  const config = poolConfig({ lines: '    health: { interval: 100ms, timeout: 500ms, rise: 1, fall: 2 }\n' });
  const fm = await startFlagman(t, config, { vars: { db1: db1.port, db2: db2.port }, captureAccess: true });
  const seen = [];
  for (let i = 0; i < 2; i++) seen.push((await lineClient(t, fm.port).say('hi')).split(':')[0]);
  t.deepEqual(seen.sort(), ['db1', 'db2']);

  // Killed: until the checks notice, a connection picked for db1 is refused and retried on db2.
  await db1.stop();
  const retried = [];
  for (let i = 0; i < 2; i++) retried.push(await lineClient(t, fm.port).say(`r${i}`));
  t.deepEqual(retried, ['db2:r0', 'db2:r1'], 'every connection reached db2');
  const down = await fm.waitEvent((e) => e.event === 'server.state' && e.server === 'db1' && e.to === 'down');
  t.true(['tcp', 'passive'].includes(down.check), 'the default check of a tcp backend is a connect');
  for (let i = 0; i < 3; i++) t.is(await lineClient(t, fm.port).say('d'), 'db2:d');
  t.is((await adminStatus(fm)).backends.pool.servers.db1.state, 'down');

  await db1.start();
  await fm.waitEvent((e) => e.event === 'server.state' && e.server === 'db1' && e.to === 'up');
});

test('the idle timeout closes a silent connection; one that keeps talking stays', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  // 1 s on an idle machine, longer on a loaded one: the talker's 150 ms pace must stay well inside it
  // even when this process is stalled for a moment.
  const idleMs = scaled(1000);
  const fm = await startFlagman(t, dbConfig({ primary: `    timeouts: { idle: ${idleMs}ms }\n` }), {
    vars: { db1: db1.port, db2: db2.port },
    captureAccess: true,
  });
  const silent = lineClient(t, fm.port);
  const talker = lineClient(t, fm.port);
  t.is(await silent.say('hi'), 'db1:hi');
  const quiet = Date.now();
  // When it closed, not when the talker's loop lets this test look (a loaded machine stretches that).
  const closing = silent.closed.then((r) => ({ ...r, at: Date.now() }));
  for (let i = 0; i < 8; i++) {
    t.is(await talker.say(`t${i}`), `db1:t${i}`);
    await new Promise((resolve) => setTimeout(resolve, 150)); // the talker's pace, well inside idleMs
  }
  const { received, at } = await closing;
  const after = at - quiet;
  t.is(received, 'db1:hi\n');
  // Its idle time started when 'hi' went through flagman, a little before this test saw the echo
  // (up to a few hundred ms on a loaded machine): hence the lower bound's margin.
  t.true(after >= idleMs / 2 && after < idleMs + scaled(4000), `closed after ${after} ms of silence (idle ${idleMs} ms)`);
  t.is(await talker.say('still'), 'db1:still', 'the talking connection is still open');
  const idle = await waitFor(() => fm.access.find((l) => l.reason === 'idle timeout'), {
    what: 'the access line of the silent connection',
  });
  t.like(idle, { mode: 'tcp', backend: 'primary', server: 'db1', bytesIn: 3, bytesOut: 7, reason: 'idle timeout' });
});

test('bytes from the server alone keep a connection from idling out: "idle" means no byte either way', async (t) => {
  // A server that talks unasked (a replication stream, pub/sub): a tick every 150 ms, six times.
  // The idle timeout (1.5 s) is ten ticks long, so a loaded machine stalling the ticker for a
  // moment does not end the connection; a timeout reset only by the client's bytes would still cut
  // it at 1.5 s, before the 900 + 1,450 ms asserted below.
  const ticker = net.createServer((socket) => {
    socket.on('error', () => {});
    let n = 0;
    const timer = setInterval(() => (n < 6 ? socket.write(`tick${n++}\n`) : clearInterval(timer)), 150);
    socket.once('close', () => clearInterval(timer));
  });
  await new Promise((resolve) => ticker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => ticker.close(resolve)));
  const db2 = await echoServer(t, 'db2');
  const fm = await startFlagman(t, dbConfig({ primary: '    timeouts: { idle: 1500ms }\n' }), {
    vars: { db1: ticker.address().port, db2: db2.port },
  });
  const c = lineClient(t, fm.port);
  await c.connected;
  const started = Date.now();
  const { received } = await c.closed; // the client never sends a byte
  const lived = Date.now() - started;
  t.is(received, 'tick0\ntick1\ntick2\ntick3\ntick4\ntick5\n', 'every tick arrived');
  t.true(lived >= 900 + 1450, `open while the server talked, closed ~1.5 s after its last tick (${lived} ms)`);
});

test('connect timeout: a server that never answers is given up after timeouts.connect and the next one takes the connection', async (t) => {
  const hole = await blackHole(t);
  const db2 = await echoServer(t, 'db2');
  const config = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  db:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules: [{ use: pool }, { use: lonely }]
backends:
  pool:
    mode: tcp
    timeouts: { connect: 300ms }
    servers:
      hole: { address: "127.0.0.1:{{hole}}" }
      db2: { address: "127.0.0.1:{{db2}}" }
  lonely:
    mode: tcp
    servers:
      x: { address: "127.0.0.1:{{hole}}" }
`;
  const fm = await startFlagman(t, config, { vars: { hole: hole.port, db2: db2.port }, captureAccess: true });
  // Round-robin starts with the first server: the black hole, then db2 on the retry.
  const started = Date.now();
  t.is(await lineClient(t, fm.port).say('a'), 'db2:a');
  const took = Date.now() - started;
  t.true(took >= 250 && took < 3000, `retried after the connect timeout (${took} ms)`);
  const s = await adminStatus(fm);
  t.is(s.backends.pool.servers.hole.failures, 1);
  t.is(s.backends.pool.servers.hole.active, 0);
});

test('connect timeout with no other server closes the client connection', async (t) => {
  const hole = await blackHole(t);
  const config = `
flags: { dir: ./flags }
frontends:
  db:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules: [{ use: lonely }]
backends:
  lonely:
    mode: tcp
    timeouts: { connect: 300ms }
    servers:
      x: { address: "127.0.0.1:{{hole}}" }
`;
  const fm = await startFlagman(t, config, { vars: { hole: hole.port }, captureAccess: true });
  const c = lineClient(t, fm.port);
  c.socket.write('sent before the server answered\n');
  const { received } = await c.closed;
  t.is(received, '');
  await waitFor(() => fm.access.length > 0);
  t.like(fm.access[0], { backend: 'lonely', server: null, reason: 'connect timeout', bytesIn: 0 });
});

test('an open connection is active on its frontend, backend and server in /status until it closes', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  const fm = await startFlagman(t, dbConfig(), { vars: { db1: db1.port, db2: db2.port } });
  const c = lineClient(t, fm.port);
  t.is(await c.say('a'), 'db1:a');
  let s = await adminStatus(fm);
  t.like(s.frontends.db, { active: 1 });
  t.like(s.backends.primary, { active: 1, requests: 1 });
  t.like(s.backends.primary.servers.db1, { active: 1, requests: 1 });
  c.socket.end();
  await c.closed;
  s = await waitFor(
    async () => {
      const now = await adminStatus(fm);
      return now.backends.primary.active === 0 && now.backends.primary.servers.db1.active === 0 && now.frontends.db.active === 0 && now;
    },
    { what: 'active back to 0 once the connection closed', timeout: 15_000 },
  );
  t.like(s.backends.primary, { active: 0, requests: 1 });
});

test('a rule on client.ip with cidr() routes by the client address', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  const config = `
flags: { dir: ./flags }
frontends:
  db:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules:
      - when: cidr("127.0.0.2/32").containsIP(client.ip)
        use: standby
      - when: '!cidr("127.0.0.0/8").containsIP(client.ip)'
        use: closed
      - use: primary
backends:
  primary:
    mode: tcp
    servers: { db1: { address: "127.0.0.1:{{db1}}" } }
  standby:
    mode: tcp
    servers: { db2: { address: "127.0.0.1:{{db2}}" } }
  closed: { refuse: true }
`;
  const fm = await startFlagman(t, config, { vars: { db1: db1.port, db2: db2.port } });
  t.is(await lineClient(t, fm.port, { localAddress: '127.0.0.1' }).say('a'), 'db1:a');
  t.is(await lineClient(t, fm.port, { localAddress: '127.0.0.2' }).say('b'), 'db2:b', 'from 127.0.0.2: the cidr rule matches');
});

test('stats and access log: connections and bytes in and out per frontend, backend and server', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  const fm = await startFlagman(t, dbConfig(), { vars: { db1: db1.port, db2: db2.port }, captureAccess: true });
  const c = lineClient(t, fm.port);
  t.is(await c.say('hello'), 'db1:hello'); // 6 bytes in, 10 out
  let s = await adminStatus(fm);
  t.like(s.frontends.db, { mode: 'tcp', requests: 1, active: 1, bytesIn: 6, bytesOut: 10 });
  t.like(s.backends.primary, { mode: 'tcp', requests: 1, active: 1, bytesIn: 6, bytesOut: 10 });
  t.like(s.backends.primary.servers.db1, { requests: 1, active: 1, bytesIn: 6, bytesOut: 10 });
  c.socket.end();
  await c.closed;
  await waitFor(() => fm.access.length > 0);
  t.like(fm.access[0], {
    frontend: 'db',
    mode: 'tcp',
    backend: 'primary',
    server: 'db1',
    ip: '127.0.0.1',
    bytesIn: 6,
    bytesOut: 10,
    reason: 'client closed',
  });
  t.is(typeof fm.access[0].ms, 'number');
  s = await adminStatus(fm);
  t.like(s.frontends.db, { requests: 1, active: 0 });
  t.like(s.backends.primary.servers.db1, { active: 0 });
  t.is(s.backends.standby.servers.db2.bytesIn, 0);
  const metrics = (await request(fm.adminPort, { path: '/metrics' })).body;
  t.regex(metrics, /^flagman_frontend_bytes_in_total\{frontend="db"\} 6$/m);
  t.regex(metrics, /^flagman_frontend_bytes_out_total\{frontend="db"\} 10$/m);
  t.regex(metrics, /^flagman_server_bytes_out_total\{backend="primary",server="db1"\} 10$/m);
  t.regex(metrics, /^flagman_frontend_requests_total\{frontend="db"\} 1$/m);
});

test('reload keeps an open tcp connection; a removed tcp listener stops accepting while its connection stays', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  const fm = await startFlagman(t, dbConfig(), { vars: { db1: db1.port, db2: db2.port } });
  const open = lineClient(t, fm.port);
  t.is(await open.say('before'), 'db1:before');

  // Same frontend, a new rule order: the listener stays open, the connection on it too.
  const text = fs.readFileSync(fm.configFile, 'utf8');
  let from = fm.events.length;
  saveConfig(fm, text.replace('- use: primary', '- use: standby'));
  process.kill(fm.proc.pid, 'SIGHUP');
  await fm.waitEvent((e) => e.event === 'reload' && e.generation === 2, { from });
  t.is(await open.say('after'), 'db1:after', 'the open connection survived the reload');
  t.is(await lineClient(t, fm.port).say('new'), 'db2:new', 'new connections follow the new rules, on the same listener');

  // The frontend renamed: its old listener closes for new connections; the open one stays.
  from = fm.events.length;
  saveConfig(fm, text.replace('  db:\n', '  db_new:\n'));
  process.kill(fm.proc.pid, 'SIGHUP');
  await fm.waitEvent((e) => e.event === 'reload' && e.generation === 3, { from });
  const refused = lineClient(t, fm.port);
  await t.throwsAsync(refused.connected, { code: 'ECONNREFUSED' });
  t.is(await open.say('draining'), 'db1:draining', 'the open connection on the removed listener still works');
});

// Serial: ava runs it first and alone, so three processes starting do not compete with the other tests.
test.serial('workers: 2 — tcp connections are served by the workers, a flag change reaches them all, counters add up', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  const fm = await startFlagman(t, dbConfig({ top: 'workers: 2' }), { vars: { db1: db1.port, db2: db2.port }, captureAccess: true });
  const open = lineClient(t, fm.port);
  t.is(await open.say('w'), 'db1:w');
  for (let i = 0; i < 4; i++) {
    const c = lineClient(t, fm.port);
    t.is(await c.say('x'), 'db1:x');
    c.socket.end();
    await c.closed;
  }
  await waitFor(() => fm.access.length >= 4);
  t.deepEqual([...new Set(fm.access.map((l) => l.worker))].sort(), [1, 2], 'both workers served tcp connections');

  await setFlag(fm, 'echo 1 > flags/DB_MAINT', 'DB_MAINT', 1);
  // Each worker applies the change it is sent; new connections on both go to the standby.
  await waitFor(async () => (await lineClient(t, fm.port).say('p')) === 'db2:p' && (await lineClient(t, fm.port).say('q')) === 'db2:q');
  t.is(await open.say('still'), 'db1:still');
  const s = await adminStatus(fm);
  t.true(s.frontends.db.requests >= 7);
  t.is(s.backends.primary.servers.db1.bytesIn, 2 + 4 * 2 + 6, 'bytes add up across workers');
});

test('a half-close is passed on: the client sends and closes its side, and still gets the whole answer', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  const fm = await startFlagman(t, dbConfig(), { vars: { db1: db1.port, db2: db2.port }, captureAccess: true });
  const c = lineClient(t, fm.port);
  await c.connected;
  c.socket.end('one\ntwo\n'); // FIN right behind the data: the echo server answers, then closes
  const { received, error } = await c.closed;
  t.is(received, 'db1:one\ndb1:two\n');
  t.is(error, null);
  await waitFor(() => fm.access.length > 0);
  t.like(fm.access[0], { server: 'db1', bytesIn: 8, bytesOut: 16, reason: 'client closed' });
});

test('no eligible server → the fallback backend; no rule matched → the connection is closed', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  const config = `
flags: { dir: ./flags }
frontends:
  db:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules:
      - when: flag("OPEN", 1) > 0
        use: primary
backends:
  primary:
    mode: tcp
    fallback: standby
    servers:
      db1: { address: "127.0.0.1:{{db1}}", weight: 'flag("db1.weight", 1)' }
  standby:
    mode: tcp
    servers:
      db2: { address: "127.0.0.1:{{db2}}" }
`;
  const fm = await startFlagman(t, config, { vars: { db1: db1.port, db2: db2.port }, captureAccess: true });
  t.is(await lineClient(t, fm.port).say('a'), 'db1:a');
  await setFlag(fm, 'echo 0 > flags/db1.weight', 'db1.weight', 0);
  t.is(await lineClient(t, fm.port).say('b'), 'db2:b', 'the only server drained: the fallback takes new connections');
  await setFlag(fm, 'echo 0 > flags/OPEN', 'OPEN', 0);
  const c = lineClient(t, fm.port);
  await c.connected;
  t.is((await c.closed).received, '');
  await waitFor(() => fm.access.some((l) => l.reason === 'no rule matched'));
  t.like(
    fm.access.find((l) => l.reason === 'no rule matched'),
    { backend: null, server: null },
  );
});

test('no eligible server and no fallback, or every server refusing: the connection is closed without a byte, and its line says which', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const config = `
flags: { dir: ./flags }
frontends:
  empty:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules: [{ use: drained }]
  gone:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules: [{ use: dead }]
backends:
  drained:
    mode: tcp
    servers:
      db1: { address: "127.0.0.1:{{db1}}", weight: 0 }
  dead:
    mode: tcp
    servers:
      d1: { address: "127.0.0.1:{{dead1}}" }
      d2: { address: "127.0.0.1:{{dead2}}" }
`;
  const fm = await startFlagman(t, config, {
    vars: { db1: db1.port, dead1: await freePort(), dead2: await freePort() },
    captureAccess: true,
  });
  for (const frontend of ['empty', 'gone']) {
    const c = lineClient(t, fm.portOf(frontend));
    await c.connected;
    c.socket.write('hello\n');
    t.is((await c.closed).received, '', `${frontend}: closed without a byte`);
  }
  await waitFor(() => fm.access.length >= 2, { what: 'two access lines' });
  const [empty, gone] = ['empty', 'gone'].map((f) => fm.access.find((l) => l.frontend === f));
  t.like(empty, { mode: 'tcp', backend: 'drained', server: null, bytesIn: 0, bytesOut: 0, tries: 0, reason: 'no eligible server' });
  t.like(gone, { mode: 'tcp', backend: 'dead', server: null, bytesIn: 0, bytesOut: 0, tries: 2, reason: 'no server reachable' });
  t.is(db1.connections, 0);
});

test('who ended a connection: the server closing first, a reset by the client, a reset by the server', async (t) => {
  // db1 says goodbye and closes; db2 echoes; db3 resets a connection once it has a line.
  const sockets = new Set();
  const serve = (onSocket) => {
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      onSocket(s);
    });
    t.teardown(() => new Promise((resolve) => server.close(resolve)));
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
  };
  t.teardown(() => {
    for (const s of sockets) s.destroy();
  });
  const db1 = await serve((s) => s.end('bye\n'));
  const db2 = await echoServer(t, 'db2');
  const db3 = await serve((s) => s.once('data', () => s.resetAndDestroy()));
  const config = `
flags: { dir: ./flags }
frontends:
  closing:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules: [{ use: closing }]
  echo:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules: [{ use: echo }]
  resetting:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules: [{ use: resetting }]
backends:
  closing:
    mode: tcp
    servers: { db1: { address: "127.0.0.1:{{db1}}" } }
  echo:
    mode: tcp
    servers: { db2: { address: "127.0.0.1:{{db2}}" } }
  resetting:
    mode: tcp
    servers: { db3: { address: "127.0.0.1:{{db3}}" } }
`;
  const fm = await startFlagman(t, config, { vars: { db1, db2: db2.port, db3 }, captureAccess: true });
  const lineOf = (frontend) => waitFor(() => fm.access.find((l) => l.frontend === frontend), { what: `the access line of ${frontend}` });

  // The server closes first: the client gets what it sent, then the close.
  const closing = lineClient(t, fm.portOf('closing'));
  t.is((await closing.closed).received, 'bye\n');
  t.like(await lineOf('closing'), { mode: 'tcp', backend: 'closing', server: 'db1', bytesIn: 0, bytesOut: 4, reason: 'server closed' });

  // The client resets its connection (RST): flagman's side of it fails, and the server's is cut.
  const echo = lineClient(t, fm.portOf('echo'));
  t.is(await echo.say('hi'), 'db2:hi');
  echo.socket.resetAndDestroy();
  t.like(await lineOf('echo'), {
    mode: 'tcp',
    backend: 'echo',
    server: 'db2',
    bytesIn: 3,
    bytesOut: 7,
    reason: 'client error: ECONNRESET',
  });
  await waitFor(() => db2.open === 0, { what: 'the server connection closed' });

  // The server resets: the client connection is cut.
  const resetting = lineClient(t, fm.portOf('resetting'));
  await resetting.connected;
  resetting.socket.write('x\n');
  t.is((await resetting.closed).received, '');
  t.like(await lineOf('resetting'), {
    mode: 'tcp',
    backend: 'resetting',
    server: 'db3',
    bytesIn: 2,
    bytesOut: 0,
    reason: 'server error: ECONNRESET',
  });
});

test('a reload cannot turn a tcp listener into an HTTP one: it fails and the old world keeps serving', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  const fm = await startFlagman(t, dbConfig(), { vars: { db1: db1.port, db2: db2.port } });
  const open = lineClient(t, fm.port);
  t.is(await open.say('a'), 'db1:a');
  const from = fm.events.length;
  const http = `flags: { dir: ./flags }\nfrontends:\n  db:\n    listen: ["127.0.0.1:0"]\n    rules: [{ use: page }]\nbackends:\n  page: { respond: { status: 200 } }\n`;
  saveConfig(fm, http);
  process.kill(fm.proc.pid, 'SIGHUP');
  const failed = await fm.waitEvent((e) => e.event === 'reload.failed', { from });
  t.regex(failed.error, /cannot change from mode tcp to http in a reload; restart to apply/);
  t.is(await open.say('b'), 'db1:b');
  t.is(await lineClient(t, fm.port).say('c'), 'db1:c', 'new connections are still routed by the old config');
});

test('SIGTERM: an open tcp connection keeps working until timeouts.shutdown, then is closed; exit 0', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const db2 = await echoServer(t, 'db2');
  const fm = await startFlagman(t, dbConfig({ top: 'timeouts: { shutdown: 2s }' }), {
    vars: { db1: db1.port, db2: db2.port },
    captureAccess: true,
  });
  const open = lineClient(t, fm.port);
  t.is(await open.say('a'), 'db1:a');
  const stopped = Date.now();
  fm.proc.kill('SIGTERM');
  await fm.waitEvent((e) => e.event === 'stop');
  t.is(await open.say('b'), 'db1:b', 'still served while stopping');
  await open.closed;
  const took = Date.now() - stopped;
  t.true(took >= 1900 && took < 8000, `closed at the shutdown deadline (${took} ms)`);
  t.is((await fm.exited).exitCode, 0);
  t.like(fm.access.at(-1), { reason: 'shutdown', bytesIn: 4, bytesOut: 12 });
});

test('listen: systemd:NAME — a tcp frontend takes the inherited socket', async (t) => {
  const db1 = await echoServer(t, 'db1');
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'flags'));
  const file = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(
    file,
    `flags: { dir: ./flags }\nfrontends:\n  db:\n    mode: tcp\n    listen: ["systemd:db"]\n    rules: [{ use: primary }]\nbackends:\n  primary:\n    mode: tcp\n    servers: { db1: { address: "127.0.0.1:${db1.port}" } }\n`,
  );
  const socket = holdSocket(t);
  const fm = await startWithSocket(t, socket, file, { name: 'db' });
  const c = lineClient(t, socket.port);
  t.is(await c.say('via systemd'), 'db1:via systemd');
  c.socket.end();
  await c.closed;
  const exit = await fm.stop();
  t.is(exit.exitCode, 0, `${exit.signal ?? ''} ${fm.lines.join('\n')}`);
});

test('flagman explain --frontend names a tcp connection and the backend its client address gets', async (t) => {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'flags'));
  fs.writeFileSync(path.join(dir, 'flags', 'DB_MAINT'), '1\n');
  const file = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(file, dbConfig({ maint: 'closed' }).replaceAll('{{db1}}', '5432').replaceAll('{{db2}}', '5433'));
  const r = await flagmanCli(['explain', '-c', file, '--frontend', 'db', '--ip', '10.1.2.3']);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /^frontend db: tcp connection from 10\.1\.2\.3$/m);
  t.regex(r.stdout, /→ rule 1: flag\("DB_MAINT"\) > 0 → closed: match/);
  t.regex(r.stdout, /answered by backend closed/);
});

test('the README database recipe and the mode: tcp example of docs/tcp.md pass flagman check', async (t) => {
  const yamlAfter = (file, heading) => {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    const at = text.indexOf(`${heading}\n`);
    t.true(at >= 0, `${file}: ${heading}`);
    return /```yaml\n([\s\S]*?)```/.exec(text.slice(at))[1];
  };
  for (const [file, heading] of [
    ['README.md', '### A maintenance switch for a database'],
    ['docs/tcp.md', '# mode: tcp'],
  ]) {
    const dir = tempDir(t);
    fs.mkdirSync(path.join(dir, 'flags'));
    fs.writeFileSync(path.join(dir, 'flagman.yaml'), yamlAfter(file, heading));
    const r = await flagmanCli(['check', '-c', path.join(dir, 'flagman.yaml')]);
    t.is(r.exitCode, 0, `${heading}: ${r.stdout}${r.stderr}`);
  }
});
