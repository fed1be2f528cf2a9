// Weights from flags through the real proxy: a 1:3 split, and `echo 0 > flags/app2.weight` draining
// app2 while a slow request on it completes.
import http from 'node:http';
import test from 'ava';
import { request, sh, startFlagman, upstream } from '../helpers/e2e.js';

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
