import test from 'ava';
import { adminStatus, keepAliveLoad, request, sh, startFlagman, upstream } from '../helpers/e2e.js';

const CONFIG = `
flags: { dir: ./flags }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - use: app
backends:
  app:
    balance: roundrobin
    servers:
      app1: { address: "127.0.0.1:{{app1}}", weight: 'flag("app1.weight", 1)' }
      app2:
        address: 127.0.0.1:{{app2}}
        weight: flag("app2.weight", 1)
`;

test('weights 1 and 3 from flags split requests 1:3, smoothly', async (t) => {
  const app1 = await upstream(t, 'app1');
  const app2 = await upstream(t, 'app2');
  const fm = await startFlagman(t, CONFIG, { vars: { app1: app1.port, app2: app2.port }, flags: { 'app2.weight': '3\n' } });
  const seq = [];
  for (let i = 0; i < 8; i++) seq.push((await request(fm.port)).body === 'app1' ? 'a' : 'b');
  t.is(seq.join(''), 'babbbabb');
});

test('echo 0 > flags/app2.weight drains app2 while its slow request completes', async (t) => {
  let release;
  const released = new Promise((resolve) => (release = resolve));
  let slowArrived;
  const arrived = new Promise((resolve) => (slowArrived = resolve));
  const app1 = await upstream(t, 'app1');
  const app2 = await upstream(t, 'app2', (req, res) => {
    req.resume();
    const answer = () => res.end(req.url === '/slow' ? 'app2 slow done' : 'app2');
    if (req.url === '/slow') {
      slowArrived();
      released.then(answer);
    } else answer();
  });
  const fm = await startFlagman(t, CONFIG, { vars: { app1: app1.port, app2: app2.port } });

  // Round-robin 1:1 starts with app1, so the second request lands on app2 and waits there.
  t.is((await request(fm.port)).body, 'app1');
  const slow = request(fm.port, { path: '/slow' });
  await arrived;

  const from = fm.events.length;
  await sh('echo 0 > flags/app2.weight', fm.dir);
  await fm.waitFlag('app2.weight', 0, { from });
  const before = app2.seen.length;
  const bodies = await Promise.all(Array.from({ length: 10 }, () => request(fm.port).then((r) => r.body)));
  t.deepEqual(new Set(bodies), new Set(['app1']), 'no new request goes to a drained server');
  t.is(app2.seen.length, before);

  release();
  const done = await slow;
  t.is(done.status, 200);
  t.is(done.body, 'app2 slow done', 'the in-flight request on the drained server completed');

  const from2 = fm.events.length;
  await sh('rm flags/app2.weight', fm.dir);
  await fm.waitFlag('app2.weight', null, { from: from2 });
  const after = await Promise.all(Array.from({ length: 4 }, () => request(fm.port).then((r) => r.body)));
  t.true(after.includes('app2'), 'removing the flag brings app2 back at its default weight');
});

const ROLLING = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - use: app
backends:
  app:
    # A stopped server refuses at once: a generous timeout keeps a busy machine from failing a live one.
    health: { path: /healthz, interval: 100ms, timeout: 2s, rise: 1, fall: 2 }
    servers:
      s1: { address: "127.0.0.1:{{s1}}", weight: 'flag("s1.weight", 1)' }
      s2: { address: "127.0.0.1:{{s2}}", weight: 'flag("s2.weight", 1)' }
      s3: { address: "127.0.0.1:{{s3}}", weight: 'flag("s3.weight", 1)' }
`;

/** Polls /status until `pred(status)` holds; fails after `ms`. */
async function waitStatus(fm, pred, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await adminStatus(fm);
    if (pred(s)) return s;
    if (Date.now() > deadline) throw new Error(`status never showed ${what}: ${JSON.stringify(s.backends)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('rolling deploy under load: drain, wait for active 0, stop, restart, undrain each server in turn; no request fails', async (t) => {
  const names = ['s1', 's2', 's3'];
  const held = new Map(); // server → release its slow request
  const arrivals = [];
  const servers = {};
  for (const name of names) {
    servers[name] = await upstream(t, name, (req, res) => {
      req.resume();
      if (req.url !== '/slow') return res.end(name);
      arrivals.push(name);
      held.set(name, () => res.end(`${name} slow done`));
    });
  }
  const fm = await startFlagman(t, ROLLING, { vars: { s1: servers.s1.port, s2: servers.s2.port, s3: servers.s3.port } });

  // One slow request in flight on each server: equal weights take them in turn.
  const slow = {};
  for (const _name of names) {
    const count = arrivals.length;
    const p = request(fm.port, { path: '/slow' });
    await waitStatus(fm, () => arrivals.length > count, 'the slow request arriving');
    slow[arrivals.at(-1)] = p;
  }
  t.deepEqual(Object.keys(slow).sort(), names, 'one slow request on each server');

  const loads = [
    keepAliveLoad(fm.port, { classify: (r) => `${r.status} ${r.body}` }),
    keepAliveLoad(fm.port, { classify: (r) => `${r.status} ${r.body}` }),
  ];
  for (const name of names) {
    const server = servers[name];
    let from = fm.events.length;
    await sh(`echo 0 > flags/${name}.weight`, fm.dir);
    await fm.waitEvent((e) => e.event === 'server.state' && e.server === name && e.to === 'drain', { from, timeout: 15_000 });
    const drained = await adminStatus(fm);
    t.like(drained.backends.app.servers[name], { state: 'drain', weight: 0 });
    t.true(drained.backends.app.servers[name].active >= 1, `${name}: its slow request is still in flight`);

    held.get(name)();
    t.is((await slow[name]).body, `${name} slow done`, `${name}: the in-flight request completed after the drain`);
    await waitStatus(fm, (s) => s.backends.app.servers[name].active === 0, `${name} active 0`);
    // Nothing is in flight to it now: from here on it must get no request at all, while the load goes on.
    const quiet = server.seen.length;
    const progress = loads[0].result.count;
    await waitStatus(fm, () => loads[0].result.count >= progress + 20, 'the load going on');
    t.deepEqual(
      server.seen.slice(quiet).filter((r) => r.url !== '/healthz'),
      [],
      `${name}: no new request while drained`,
    );

    from = fm.events.length;
    await server.stop();
    await fm.waitEvent((e) => e.event === 'server.state' && e.server === name && e.to === 'down', { from, timeout: 15_000 });
    from = fm.events.length;
    await server.start();
    // Healthy again, but still drained until the operator says so.
    await fm.waitEvent((e) => e.event === 'server.state' && e.server === name && e.from === 'down' && e.to === 'drain', {
      from,
      timeout: 15_000,
    });
    const before = server.seen.length;
    from = fm.events.length;
    await sh(`echo 1 > flags/${name}.weight`, fm.dir);
    await fm.waitEvent((e) => e.event === 'server.state' && e.server === name && e.to === 'up', { from, timeout: 15_000 });
    await waitStatus(fm, () => server.seen.slice(before).some((r) => r.url === '/'), `${name} taking load again`);
  }
  const results = await Promise.all(loads.map((l) => l.stop()));
  for (const r of results) {
    t.deepEqual(r.errors, [], 'no request failed');
    t.deepEqual(
      Object.keys(r.labels).filter((l) => !l.startsWith('200 ')),
      [],
      'every response was a 200 from a server',
    );
    t.true(r.count > 20, `the load kept running (${r.count} requests)`);
  }
});
