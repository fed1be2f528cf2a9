// TCP fixtures for `mode: tcp` tests: echo servers that prefix each reply with their name (so a test
// can tell which server a connection reached), a line client, and a listener that never accepts
// (for connect timeouts). Everything on 127.0.0.1, port 0, closed at teardown.
import net from 'node:net';
import { execa } from './execa.js';
import { eachLine, listenAgain } from './e2e.js';

/**
 * A TCP server on 127.0.0.1:0 that answers each line `x` with `NAME:x`. `stop()` closes the
 * listener and every connection (a killed database); `start()` listens on the same port again.
 */
export async function echoServer(t, name) {
  const sockets = new Set();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    // Lines through eachLine: a connection flagman resets would otherwise throw from readline.
    eachLine(socket, (line) => {
      if (!socket.destroyed) socket.write(`${name}:${line}\n`);
    });
    // Half-close: a client's FIN is answered with ours once the lines are out.
    socket.once('end', () => socket.end());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  const stop = () => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  t.teardown(() => (server.listening ? stop() : undefined));
  const start = () => listenAgain(server, port);
  return {
    name,
    port,
    stop,
    start,
    get connections() {
      return connections;
    },
    get open() {
      return sockets.size;
    },
  };
}

/**
 * A client connection to 127.0.0.1:`port`: `say(text)` sends a line and resolves with the reply line;
 * `closed` resolves once the connection is closed, with everything received and whether it errored.
 */
export function lineClient(t, port, { localAddress } = {}) {
  const socket = net.connect({ host: '127.0.0.1', port, ...(localAddress && { localAddress }) });
  t.teardown(() => socket.destroy());
  let received = '';
  let pending = [];
  let buffer = '';
  socket.on('data', (chunk) => {
    received += chunk;
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      pending.shift()?.resolve(line);
    }
  });
  let error = null;
  socket.on('error', (err) => (error = err));
  const closed = new Promise((resolve) =>
    socket.once('close', () => {
      for (const p of pending) p.reject(new Error(`connection closed before a reply (received ${JSON.stringify(received)})`));
      pending = [];
      resolve({ received, error });
    }),
  );
  const connected = new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  // Awaited by the tests that care; a refusal nobody awaits is not an unhandled rejection.
  connected.catch(() => {});
  return {
    socket,
    connected,
    closed,
    /** Sends `text` and a newline; resolves with the reply line (rejects if the connection closes first). */
    say(text) {
      return new Promise((resolve, reject) => {
        pending.push({ resolve, reject });
        socket.write(`${text}\n`);
      });
    },
  };
}

/**
 * A listening socket on 127.0.0.1 that never accepts, its queue already full: a connect to it gets no
 * answer at all (the kernel drops the SYN), as a host behind a black-holing firewall would. It lives
 * in a child process whose event loop is blocked, so nothing ever calls accept(); killed at teardown.
 */
export async function blackHole(t) {
  const script = `
    const net = require('node:net');
    const s = net.createServer().listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
      process.stdout.write(s.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    });`;
  const child = execa(process.execPath, ['-e', script], { reject: false, buffer: false });
  t.teardown(() => child.kill('SIGKILL'));
  const port = await new Promise((resolve) => eachLine(child.stdout, (l) => resolve(Number(l))));
  // Fill the accept queue (backlog + 1 on Linux): later SYNs are dropped.
  for (let i = 0; i < 2; i++) {
    const c = net.connect({ host: '127.0.0.1', port });
    t.teardown(() => c.destroy());
    await new Promise((resolve, reject) => c.once('connect', resolve).once('error', reject));
  }
  return { port };
}
