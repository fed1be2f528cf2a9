// proxy/linger.ts, lingerOnClose(): an answer that closes its connection while the client is still
// uploading (a 413) reaches the client whole, rather than being cut by the reset that unread bytes
// cause. It replaces the socket's destroySoon(), which Node's HTTP server calls at the end of such a
// response: not a public API, so checked here on whichever Node line runs the tests.
import http from 'node:http';
import net from 'node:net';
import test from 'ava';
import { lingerOnClose } from '../../dist/proxy/linger.js';

const ANSWER = '413 Content Too Large\n';

/**
 * A server that answers every request at once with 413 and Connection: close, without reading its
 * body; `linger`: through lingerOnClose(). Resolves with its port and what it saw.
 */
async function refusingServer(t, linger) {
  const seen = { destroySoon: 0 };
  const server = http.createServer((req, res) => {
    const socket = req.socket;
    if (linger) lingerOnClose(socket);
    const own = socket.destroySoon;
    socket.destroySoon = function (...args) {
      seen.destroySoon++;
      return own.apply(this, args);
    };
    res.shouldKeepAlive = false;
    res.writeHead(413, { 'Content-Length': Buffer.byteLength(ANSWER) });
    res.end(ANSWER);
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: server.address().port, seen };
}

/**
 * Uploads a 4 MiB declared body and keeps sending after the answer comes: resolves with what was
 * read of the answer, and the socket error if the connection was reset.
 */
function upload(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    let error = null;
    socket.on('data', (d) => (got += d));
    socket.on('error', (e) => (error = e.code));
    socket.on('close', () => resolve({ got, error }));
    socket.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${4 * 1024 * 1024}\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const pump = () => {
      while (sent < 4 * 1024 * 1024 && !socket.destroyed) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      socket.end();
    };
    pump();
  });
}

test("Node's HTTP server ends a Connection: close response through the socket's destroySoon()", async (t) => {
  const { port, seen } = await refusingServer(t, false);
  await upload(port);
  t.is(seen.destroySoon, 1, 'lingerOnClose() replaces the method this server calls');
});

test('with lingerOnClose(), a client still uploading reads the whole answer and sees no reset', async (t) => {
  const { port, seen } = await refusingServer(t, true);
  for (let i = 0; i < 3; i++) {
    const { got, error } = await upload(port);
    t.is(error, null);
    t.regex(got, /^HTTP\/1\.1 413 /);
    t.true(got.endsWith(`\r\n\r\n${ANSWER}`), got);
  }
  t.is(seen.destroySoon, 3);
});
