// proxy/maxconn.ts, a frontend's maxconn: a connection past it is accepted and held without a byte
// of it read (the server's pauseOnConnect property, which flagman sets on Node's HTTP server: not a
// public API, so checked here on whichever Node line runs the tests), reaches the server's own
// connection handling only when a served one closes, and is then served.
import http from 'node:http';
import net from 'node:net';
import test from 'ava';
import { FrontendGate } from '../../dist/proxy/maxconn.js';
import { waitFor } from '../helpers/e2e.js';

/** A holder whose current runtime has one frontend, `web`, with room for `cap` connections. */
function holderWith(cap) {
  const limitCounters = { bodyTooLarge: 0, rateLimited: 0, open: 0, waiting: 0, waited: 0, proxyHeaderRefused: 0 };
  return { holder: { current: { frontends: [{ name: 'web', connCap: cap, limitCounters }] } }, counters: limitCounters };
}

/** A keep-alive client on its own connection: send(path) resolves with the body of the answer. */
function client(t, port) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  t.teardown(() => socket.destroy());
  let buffered = '';
  let waiter = null;
  socket.on('data', (d) => {
    buffered += d;
    const m = /\r\n\r\n(.*)$/s.exec(buffered);
    if (m !== null && waiter !== null && m[1].length >= 2) {
      const w = waiter;
      waiter = null;
      buffered = '';
      w(m[1]);
    }
  });
  return {
    socket,
    send(path) {
      return new Promise((resolve) => {
        waiter = resolve;
        socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      });
    },
  };
}

test('past maxconn a connection is held unread, reaches the HTTP server only when a served one closes, and is served', async (t) => {
  const { holder, counters } = holderWith(1);
  const gate = new FrontendGate(holder);
  // Two-byte bodies, so the client knows an answer is whole.
  const server = http.createServer((req, res) => res.end(req.url.slice(1, 3)));
  const accepted = [];
  gate.guard(server, { index: 0 });
  // After the gate's: every accepted socket, whether it waits or not.
  server.on('connection', (s) => accepted.push(s));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = server.address().port;

  const a = client(t, port);
  t.is(await a.send('/a1'), 'a1');
  const b = client(t, port);
  let answered = false;
  const bAnswer = b.send('/b1').then((v) => ((answered = true), v));
  await waitFor(() => counters.waiting === 1, { what: 'the second connection waiting' });
  // A round trip on the served connection after b's request was written: had b's socket been
  // reading, its bytes would have been read by now.
  t.is(await a.send('/a2'), 'a2');
  t.is(accepted.length, 2);
  t.is(accepted[1].bytesRead, 0, 'not a byte of the waiting connection is read');
  t.false(answered);
  t.like(counters, { open: 1, waiting: 1, waited: 1 });

  a.socket.end();
  t.is(await bAnswer, 'b1');
  t.like(counters, { open: 1, waiting: 0, waited: 1 });
  t.true(accepted[1].bytesRead > 0);
});

test('with no cap every connection is served at once, and counted', async (t) => {
  const { holder, counters } = holderWith(null);
  const gate = new FrontendGate(holder);
  const server = http.createServer((req, res) => res.end(req.url.slice(1, 3)));
  gate.guard(server, { index: 0 });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = server.address().port;
  const clients = [client(t, port), client(t, port), client(t, port)];
  t.deepEqual(await Promise.all(clients.map((c, i) => c.send(`/c${i}`))), ['c0', 'c1', 'c2']);
  t.like(counters, { open: 3, waiting: 0, waited: 0 });
  for (const c of clients) c.socket.destroy();
  await waitFor(() => counters.open === 0, { what: 'every connection closed' });
});
