// balance: leastconn through the real proxy (docs/proxying.md): slow requests pin their servers, and new
// requests go to the server with the fewest in flight.
import test from 'ava';
import { request, startFlagman, upstream } from '../helpers/e2e.js';

const CONFIG = `
flags: { dir: ./flags }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - use: app
backends:
  app:
    balance: leastconn
    servers:
      s1: { address: "127.0.0.1:{{s1}}" }
      s2: { address: "127.0.0.1:{{s2}}" }
      s3: { address: "127.0.0.1:{{s3}}" }
`;

test('leastconn sends new requests to the server with the fewest active ones', async (t) => {
  const held = [];
  let arrived = () => {};
  const servers = {};
  for (const name of ['s1', 's2', 's3']) {
    servers[name] = await upstream(t, name, (req, res) => {
      req.resume();
      if (req.url !== '/slow') return res.end(name);
      held.push({ name, release: () => res.end(`${name} slow`) });
      arrived();
    });
  }
  const fm = await startFlagman(t, CONFIG, { vars: { s1: servers.s1.port, s2: servers.s2.port, s3: servers.s3.port } });
  const slow = async () => {
    const landed = new Promise((resolve) => (arrived = resolve));
    const response = request(fm.port, { path: '/slow' });
    await landed;
    return { name: held.at(-1).name, response };
  };

  // Idle servers are taken in order; each slow request pins its server.
  const first = await slow();
  const second = await slow();
  t.deepEqual([first.name, second.name], ['s1', 's2']);
  const fast = async (n) => {
    const out = [];
    for (let i = 0; i < n; i++) out.push((await request(fm.port)).body);
    return out.join(' ');
  };
  t.is(await fast(6), 's3 s3 s3 s3 s3 s3', 'every new request goes to the one server with none in flight');

  // s1 is free again and has served fewer requests than s3: it takes the next ones.
  held.find((h) => h.name === 's1').release();
  t.is((await first.response).body, 's1 slow');
  t.is(await fast(3), 's1 s1 s1');
  t.is(servers.s2.seen.length, 1, 's2, pinned all along, got nothing but its slow request');

  held.find((h) => h.name === 's2').release();
  t.is((await second.response).body, 's2 slow');
});
