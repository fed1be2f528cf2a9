// A minimal HTTP/1.1 keep-alive client on one raw socket, for benchmarks: one request in flight at a
// time, timestamps taken where they matter (request written, first response byte, response
// complete), no agent, no pooling, no allocation beyond the response itself. Handles
// Content-Length and chunked bodies (all the bench's servers send one of the two). With `tls: true`
// it speaks HTTPS instead: certificate not checked (the bench's are self-signed), SNI "localhost",
// ALPN http/1.1 only, so a server offering h2 too keeps to HTTP/1.1.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';

const now = () => performance.now();

/** One keep-alive connection to 127.0.0.1:`port`. Call connect() first; get() resolves per response. */
export class KeepAliveClient {
  #port;
  #host;
  #req;
  #extra;
  #timeoutMs;
  #tls;
  #socket = null;
  #buf = Buffer.alloc(0);
  #head = null;
  #pending = null;
  #closed = false;

  constructor(port, { host = '127.0.0.1', path = '/', timeoutMs = 5000, headers = {}, tls = false } = {}) {
    this.#port = port;
    this.#host = host;
    this.#timeoutMs = timeoutMs;
    this.#tls = tls;
    this.#extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    this.#req = this.#request(path);
  }

  #request(path) {
    return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: bench.local\r\n${this.#extra}\r\n`, 'latin1');
  }

  get connected() {
    return this.#socket !== null && !this.#closed;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const s = this.#tls
        ? tls.connect({
            port: this.#port,
            host: this.#host,
            servername: 'localhost',
            rejectUnauthorized: false,
            ALPNProtocols: ['http/1.1'],
          })
        : net.connect({ port: this.#port, host: this.#host });
      s.setNoDelay(true);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect to ${this.#host}:${this.#port} timed out`));
      }, this.#timeoutMs);
      // A TLS socket is ready once its handshake is done, not at the TCP connect.
      s.once(this.#tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        this.#socket = s;
        resolve(this);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        if (!this.#socket) reject(err);
      });
      s.on('error', (err) => this.#fail(err));
      s.on('close', () => {
        this.#closed = true;
        this.#finishOnClose();
      });
      s.on('data', (chunk) => this.#onData(chunk));
    });
  }

  /**
   * Sends one GET (of `path` when given, else the constructor's); resolves {status, body, tSent,
   * tFirst, tEnd} (performance.now() ms).
   */
  get(path) {
    if (this.#pending) return Promise.reject(new Error('a request is already in flight'));
    if (!this.connected) return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) => {
      const p = { resolve, reject, tSent: now(), tFirst: 0, timer: null };
      p.timer = setTimeout(() => this.#fail(new Error(`no response within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      this.#pending = p;
      this.#buf = Buffer.alloc(0);
      this.#head = null;
      this.#socket.write(path === undefined ? this.#req : this.#request(path));
    });
  }

  close() {
    this.#closed = true;
    this.#socket?.destroy();
  }

  #fail(err) {
    const p = this.#pending;
    this.#pending = null;
    this.#closed = true;
    this.#socket?.destroy();
    if (p) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  #finishOnClose() {
    const p = this.#pending;
    if (!p) return;
    // A response without length ends at close; anything else cut short is an error.
    if (this.#head && this.#head.len === null && !this.#head.chunked) this.#complete(this.#buf);
    else this.#fail(new Error('connection closed mid-response'));
  }

  #onData(chunk) {
    const p = this.#pending;
    if (!p) return; // nothing asked: stray bytes (never expected) are dropped
    if (p.tFirst === 0) p.tFirst = now();
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    if (!this.#head) {
      const i = this.#buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      const lines = this.#buf.toString('latin1', 0, i).split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      let len = null;
      let chunked = false;
      let close = false;
      for (const line of lines.slice(1)) {
        const c = line.indexOf(':');
        const k = line.slice(0, c).trim().toLowerCase();
        const v = line.slice(c + 1).trim();
        if (k === 'content-length') len = Number(v);
        else if (k === 'transfer-encoding' && /chunked/i.test(v)) chunked = true;
        else if (k === 'connection' && /close/i.test(v)) close = true;
      }
      this.#head = { status, len, chunked, close };
      this.#buf = this.#buf.subarray(i + 4);
    }
    const h = this.#head;
    if (h.chunked) {
      const body = decodeChunked(this.#buf);
      if (body) this.#complete(body);
    } else if (h.len !== null) {
      if (this.#buf.length >= h.len) this.#complete(this.#buf.subarray(0, h.len));
    }
  }

  #complete(body) {
    const p = this.#pending;
    this.#pending = null;
    clearTimeout(p.timer);
    const h = this.#head;
    if (h.close) {
      this.#closed = true;
      this.#socket.end();
    }
    p.resolve({ status: h.status, body: body.toString('latin1'), tSent: p.tSent, tFirst: p.tFirst, tEnd: now() });
  }
}

// The whole decoded body once the terminating chunk (and its CRLF) has arrived, else null.
function decodeChunked(buf) {
  const parts = [];
  let at = 0;
  for (let guard = 0; guard < 100_000; guard++) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return null;
    const size = parseInt(buf.toString('latin1', at, eol).split(';')[0], 16);
    if (Number.isNaN(size)) throw new Error('bad chunk size');
    if (size === 0) {
      // No trailers from our servers: the body ends with "0\r\n\r\n".
      return buf.length >= eol + 4 ? Buffer.concat(parts) : null;
    }
    if (buf.length < eol + 2 + size + 2) return null;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  throw new Error('too many chunks');
}
