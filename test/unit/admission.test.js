// proxy/admission.ts: client connections over the cap are closed as soon as accepted, before any
// of the server's own connection handling sees them, and accepting resumes when one closes.
import http from 'node:http';
import net from 'node:net';
import test from 'ava';
import { ConnectionGate } from '../../dist/proxy/admission.js';
import { waitFor } from '../helpers/e2e.js';

const budget = (maxConnections) => ({ limit: 1000, base: 20, reserve: 32, maxConnections });

async function listen(t, server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections?.();
    return new Promise((resolve) => server.close(resolve));
  });
  return server.address().port;
}

function connect(t, port) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  t.teardown(() => socket.destroy());
  const closed = new Promise((resolve) => socket.once('close', resolve));
  return { socket, closed };
}

test('past the cap a connection is closed at accept, on every guarded listener together; one closing makes room', async (t) => {
  const counters = { open: 0, refused: 0, max: null };
  const gate = new ConnectionGate(counters);
  gate.apply(budget(2));
  t.is(counters.max, 2);
  const seen = [];
  // Server-side sockets the test closes from the client's side: a reset must not go unheard.
  const keep = (name) => (s) => {
    s.on('error', () => {});
    seen.push([name, s]);
  };
  const a = net.createServer(keep('a'));
  const b = net.createServer(keep('b'));
  gate.guard(a);
  gate.guard(b);
  const [pa, pb] = [await listen(t, a), await listen(t, b)];

  const one = connect(t, pa);
  await waitFor(() => counters.open === 1, { what: 'the first connection' });
  const two = connect(t, pb);
  await waitFor(() => counters.open === 2, { what: 'the second connection' });
  const three = connect(t, pa);
  await three.closed;
  t.like(counters, { open: 2, refused: 1 });
  t.deepEqual(
    seen.map(([name]) => name),
    ['a', 'b'],
    'the refused connection never reached the listener',
  );

  one.socket.destroy();
  await waitFor(() => counters.open === 1, { what: 'the first connection closed' });
  connect(t, pb);
  await waitFor(() => seen.length === 3, { what: 'a new connection admitted' });
  t.like(counters, { open: 2, refused: 1 });
  two.socket.destroy();
});

test('an HTTP server under the cap answers; a connection over it gets no answer and costs the handler nothing', async (t) => {
  const counters = { open: 0, refused: 0, max: null };
  const gate = new ConnectionGate(counters);
  gate.apply(budget(1));
  let requests = 0;
  const server = http.createServer((_req, res) => {
    requests++;
    res.end('ok');
  });
  gate.guard(server);
  const port = await listen(t, server);
  // A kept-alive connection holds the one place.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const get = (a) =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, agent: a }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', (err) => resolve(err.code));
    });
  t.is(await get(agent), 200);
  t.not(await get(false), 200, 'refused');
  t.is(requests, 1);
  t.is(counters.refused, 1);
  t.is(await get(agent), 200, 'the held connection still serves');
  agent.destroy();
  await waitFor(() => counters.open === 0, { what: 'the kept-alive connection closed' });
  t.is(await get(false), 200, 'room again');
});

test('without a known limit nothing is capped', async (t) => {
  const counters = { open: 0, refused: 0, max: null };
  const gate = new ConnectionGate(counters);
  gate.apply({ limit: null, base: null, reserve: null, maxConnections: null });
  const server = net.createServer((s) => s.on('error', () => {}));
  gate.guard(server);
  const port = await listen(t, server);
  for (let i = 0; i < 5; i++) connect(t, port);
  await waitFor(() => counters.open === 5, { what: 'five connections' });
  t.like(counters, { refused: 0, max: null });
});
