// A minimal HTTP/2 client over TLS on one node:http2 session, for benchmarks: the calls of
// KeepAliveClient (lib/http.js: connect, get, close, connected), so a bench can pace either one.
// The certificate is not checked (the bench's are self-signed); SNI is "localhost". It also counts
// what a server sends a silent client on its own: PINGs, and the error code of a GOAWAY.
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';

const now = () => performance.now();

/** One HTTP/2 session to https://127.0.0.1:`port`. Call connect() first; get() resolves per response. */
export class H2Client {
  #port;
  #path;
  #timeoutMs;
  #window;
  #session = null;
  /** PING frames the server sent. */
  pings = 0;
  /** The error code of the server's GOAWAY (0: NO_ERROR), or null when none came. */
  goaway = null;

  /**
   * `window`: the flow-control window (bytes) the client grants each stream and the session, or null
   * for HTTP/2's default of 65,535: then a 64 KiB answer waits a WINDOW_UPDATE for its last byte.
   */
  constructor(port, { path = '/', timeoutMs = 5000, window = null } = {}) {
    this.#port = port;
    this.#path = path;
    this.#timeoutMs = timeoutMs;
    this.#window = window;
  }

  get connected() {
    return this.#session !== null && !this.#session.closed && !this.#session.destroyed;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const s = http2.connect(`https://127.0.0.1:${this.#port}`, {
        servername: 'localhost',
        rejectUnauthorized: false,
        ...(this.#window === null ? {} : { settings: { initialWindowSize: this.#window } }),
      });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect to 127.0.0.1:${this.#port} timed out`));
      }, this.#timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        if (this.#window !== null) s.setLocalWindowSize(this.#window);
        this.#session = s;
        resolve(this);
      });
      s.on('error', (err) => {
        clearTimeout(timer);
        if (this.#session === null) reject(err);
      });
      s.once('close', () => {
        clearTimeout(timer);
        if (this.#session === null) reject(new Error('session closed before it was set up'));
      });
      s.on('ping', () => this.pings++);
      s.on('goaway', (code) => (this.goaway = code));
    });
  }

  /**
   * Sends one GET (of `path` when given, else the constructor's); resolves {status, body, tSent,
   * tFirst, tEnd} (performance.now() ms).
   */
  get(path = this.#path) {
    if (!this.connected) return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) => {
      const tSent = now();
      let tFirst = 0;
      let status = 0;
      let settled = false;
      const chunks = [];
      const fail = (err) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      const req = this.#session.request({ ':path': path }, { endStream: true });
      req.setTimeout(this.#timeoutMs, () => {
        fail(new Error(`no response within ${this.#timeoutMs} ms`));
        req.close(http2.constants.NGHTTP2_CANCEL);
      });
      req.on('response', (h) => {
        tFirst = now();
        status = h[':status'];
      });
      req.on('data', (d) => chunks.push(d));
      req.on('end', () => {
        if (settled) return;
        settled = true;
        resolve({ status, body: Buffer.concat(chunks).toString('latin1'), tSent, tFirst, tEnd: now() });
      });
      req.on('error', fail);
      req.on('close', () => fail(new Error(`stream closed mid-response (code ${req.rstCode})`)));
    });
  }

  close() {
    this.#session?.destroy();
  }
}
