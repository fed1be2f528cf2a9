// A server on 127.0.0.1:0 that answers HTTP request heads with bytes given as they are, whatever
// they say: how tests play a server whose responses are wrong (framing, folding, a 101 unasked).
// Closed at teardown.
import net from 'node:net';

/**
 * Answers every request head on a connection with `answer` (latin-1), or with `close` only the
 * first, then ends the connection. `heads`: each head received, through its blank line's start
 * (with a PROXY header before it, when one came).
 */
export async function rawAnswering(t, answer, { close = false } = {}) {
  const heads = [];
  const server = net.createServer((s) => {
    let buf = '';
    s.on('error', () => {});
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n\r\n'); i >= 0 && !s.writableEnded; i = buf.indexOf('\r\n\r\n')) {
        heads.push(buf.slice(0, i + 2));
        buf = buf.slice(i + 4);
        if (close) s.end(answer, 'latin1');
        else s.write(answer, 'latin1');
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { port: server.address().port, heads };
}
