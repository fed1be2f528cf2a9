// Forwarding one request to a server of a proxy backend and streaming the answer back (docs/proxying.md).
// The upstream side is flagman's own HTTP/1.1 client (src/upstream/): a pool of keep-alive
// connections per server address, each writing a request's head in one write and parsing the answer
// into this handler: the status, headers and body chunks go straight into the client's response,
// with back-pressure both ways and no stream in between. This is the hot path; the own client costs
// less per request than undici's Pool did (bench/RESULTS.md, "flagman's own HTTP/1.1 client"): no
// request object validated again, no copy of each read into a WebAssembly parser's memory, no
// per-request timers.
//
// Which failures are tried again on another server, and the active counters and passive checks,
// are the attempt's (attempt.ts), shared with upgrades and tcp connections: this handler is the
// attempt of one request, so trying a server allocates nothing more.
import type http from 'node:http';
import type { H2Request, H2Response } from './h2-stream.js';
import { Attempt, proxyHeaderOf, Stage } from './attempt.js';
import type { Candidate } from '../runtime/balance/balancer.js';
import { hasBody, type Exchange, type UpstreamLink } from './exchange.js';
import { refuseBody } from './limits.js';
import { SlowReaderWatch } from './slow-reader.js';
import type { ProxyTarget } from '../runtime/runtime.js';
import type { ClientConnection, UpstreamConnection, UpstreamRequest } from '../upstream/connection.js';
import type { UpstreamError } from '../upstream/error.js';
import type { UpstreamPool } from '../upstream/pool.js';

/**
 * Sends now what Node's HTTP/1.1 server corked for this tick: it corks on a response's write and
 * uncorks on the next tick. Node 26 corks the response itself, counted in `writableCorked`, and
 * holds a chunked body's writes in the response while that count is above zero. Node 20 to 24 cork
 * the socket, and from Node 22 the response counts only its own cork() calls: a response uncork()
 * there took the count below zero, after which Node held every chunked write in the response until
 * its end (no back-pressure; an echoing server deadlocked).
 */
function flushCork(res: http.ServerResponse): void {
  if (res.writableCorked > 0) res.uncork();
  res.socket?.uncork();
}

// Idempotent methods (RFC 9110 §9.2.2), replayable after the keep-alive race when they carry no
// body: the body has been streamed and is gone.
const REPLAYABLE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

// A body this small that arrives whole in one chunk goes out with the response head as one string,
// in one write() instead of a writev() of head, body and an empty end chunk: the cheaper call for
// the most common response (bench/RESULTS.md). Larger bodies take the streaming path,
// whose back-pressure also cuts off a client that does not read (a body this small always fits in
// the socket's send buffer, so it never waits for the client).
const ONE_STRING_MAX = 2048;

// The client connection of an HTTP/2 request whose stream has left its session.
const CLOSED: ClientConnection = { destroyed: true, once: () => undefined, off: () => undefined };

/**
 * Sends `ex` to a server of `target` (the backend that takes it: attempt.ts, takerOf); `headers`
 * are the already rewritten request headers.
 */
export function forward(ex: Exchange, target: ProxyTarget, headers: string[]): void {
  const handler = new UpstreamHandler(ex, target, headers, hasBody(ex.req) ? ex.req : null);
  ex.upstream = handler;
  handler.begin(target);
}

/**
 * One request's upstream exchange, as the pool's connection sees it (upstream/connection.ts). A class
 * with its methods on the prototype instead of closures: one allocation per request, and no
 * listener on any socket.
 */
class UpstreamHandler extends Attempt implements UpstreamLink, UpstreamRequest {
  readonly #ex: Exchange;
  readonly method: string;
  readonly path: string;
  readonly headers: string[];
  /** The client's request as the body to stream up, or null when it has none. */
  readonly body: http.IncomingMessage | null;
  /** The body's length is not known ahead (no Content-Length): it goes up chunk-encoded. */
  readonly bodyChunked: boolean;
  /** The most body bytes that may go up (the rule's maxBody; Infinity: no limit). */
  readonly bodyLimit: number;
  readonly serverTimeout: number;
  bodyBytes = 0;
  /** The connection the request went out on, until the exchange ends. */
  #conn: UpstreamConnection | null = null;
  #connected = false;
  #reused = false;
  /** The server's response head came (whether or not it reached the client). */
  #responded = false;
  /** The response head, held back until its body's first bytes (see onHead); null once sent. */
  #headers: string[] | null = null;
  #status = 0;
  #statusText = '';
  #clientGone = false;
  #onDrain: (() => void) | null = null;
  /** When the request went out on its connection (performance.now()), for ttfbMs. */
  #sentAt = 0;
  /** Times the client while its response is held back; made at the first hold. */
  #slowReader: SlowReaderWatch | null = null;
  /** The response's Content-Length, -1 when it has none. */
  #bodyLength = -1;
  /** The response was ended with the chunk that completed its body. */
  #ended = false;

  constructor(ex: Exchange, target: ProxyTarget, headers: string[], body: http.IncomingMessage | null) {
    super();
    this.#ex = ex;
    const req = ex.req;
    this.method = req.method!;
    this.path = req.url!;
    this.headers = headers;
    this.body = body;
    this.bodyChunked = body !== null && req.headers['content-length'] === undefined;
    this.bodyLimit = ex.rule?.maxBody ?? Infinity;
    this.serverTimeout = target.timeouts.server;
  }

  begin(target: ProxyTarget): void {
    this.start(target);
  }

  // One try: every server of an http backend has a pool (runtime/compile.ts), which writes the
  // request on an idle connection or on a new one. A try after a failed one starts afresh. The
  // runtime knows a pool only as a ServerPool; every one is an UpstreamPool, made by the factory
  // the process gave its observed state (lifecycle/run.ts, cluster/worker.ts).
  protected connect(server: Candidate): void {
    this.#ex.server = server.name;
    this.bodyBytes = 0;
    this.#conn = null;
    this.#connected = false;
    this.#reused = false;
    this.#responded = false;
    (server.pool as UpstreamPool).request(this);
  }

  protected answer(status: number, reason: string, retryAfter?: string): void {
    this.#ex.fail(status, reason, retryAfter);
  }

  // Read by a pool with sendProxy only. An HTTP/2 request's connection is its stream's session
  // (none once the stream is gone: a client connection closed).
  get client(): ClientConnection {
    const ex = this.#ex;
    return ex.http1 ? ex.req.socket : ((ex.req as unknown as H2Request).stream.session ?? CLOSED);
  }

  proxyHeader(version: 1 | 2): Buffer {
    return proxyHeaderOf(version, this.#ex.req.socket);
  }

  // Nothing reads the body while the request waits: the client is not timed for sending none.
  protected override waiting(): void {
    const ex = this.#ex;
    if (ex.bodyMs > 0) ex.bodyTimer(0);
  }

  protected override waited(ms: number, served: boolean): void {
    const ex = this.#ex;
    ex.queueMs = ms;
    if (served && ex.bodyMs > 0) ex.bodyTimer(ex.bodyMs);
  }

  protected cut(reason: string): void {
    this.#ex.cut(reason);
  }

  // The client left first, or the shutdown deadline closed its connection (before the pools):
  // nothing failed upstream, and nothing can be answered.
  protected abandoned(): boolean {
    return this.#clientGone || this.#ex.clientGone;
  }

  #release(): void {
    this.#conn = null;
    this.release();
  }

  /** The client went away before its response was finished (Exchange's one 'close' listener). */
  clientGone(): void {
    this.#clientGone = true;
    // Stop the upstream work it asked for. Before onStart the connection is still being made:
    // onStart then sends nothing and keeps the new connection for another request. Waiting in the
    // queue, it leaves it (release()).
    const conn = this.#conn;
    this.#release();
    conn?.abort(this);
  }

  /**
   * The body went over the rule's maxBody on its way up (one without a declared length): the request
   * stops here. The connection is closed, and with it the request, which the server got cut short
   * of its last chunk — a request it must not act on. Nobody failed: no server is blamed, nothing is
   * tried again. The client gets 413, or a cut once a response head went out (limits.ts).
   */
  onBodyLimit(): void {
    const conn = this.#conn;
    this.#release();
    conn?.abort(this);
    refuseBody(this.#ex);
  }

  onStart(conn: UpstreamConnection, reused: boolean): boolean {
    if (this.#clientGone) return false;
    this.#conn = conn;
    this.#connected = true;
    this.#reused = reused;
    if (reused) this.connectMs = 0;
    else this.connected(conn.connectMs);
    this.#sentAt = performance.now();
    return true;
  }

  // The head is held back until the body's first bytes have parsed, or its end: a response that
  // fails before then (an invalid first chunk size, a server gone or silent after its head) is
  // still answered 502 or 504, not cut before a byte reached the client — an empty reply, which a
  // client takes for a stale keep-alive connection and sends its request again. Node sends an
  // HTTP/1.1 head only with the first body write anyway, so this delays nothing on the wire, and
  // it costs three fields and one test per chunk. Checking the first chunk-size line in the parser
  // instead would cover only a size line read with the head, not one in the next read, nor a
  // Content-Length body cut before its first byte. An HTTP/2 head waits for its body the same way.
  onHead(status: number, statusText: string, headers: string[], bodyLength: number): void {
    this.#responded = true;
    this.responded(performance.now() - this.#sentAt);
    this.#bodyLength = bodyLength;
    this.#status = status;
    this.#statusText = statusText;
    this.#headers = headers;
  }

  #sendHead(headers: string[]): void {
    this.#headers = null;
    this.#ex.res.writeHead(this.#status, this.#statusText, headers);
  }

  onData(chunk: Buffer): boolean {
    const res = this.#ex.res;
    const ex = this.#ex;
    if (this.#headers !== null) this.#sendHead(this.#headers);
    if (ex.bytes === 0 && chunk.length === this.#bodyLength && chunk.length <= ONE_STRING_MAX) {
      // The whole small body in one chunk. Node prepends the head to a string written first, and
      // corks the socket until the next tick; uncorking before end() sends the two as one write(),
      // where end(body) would add an empty chunk and flush both with writev(). The connection still
      // calls onComplete, which finds the response ended.
      // An HTTP/2 stream takes the body with its end: one DATA frame that ends the stream, and no
      // trailers step (h2-stream.ts). The string is a copy: the chunk is a view of the connection's
      // read buffer, which its next read reuses, and a stream sends later.
      ex.bytes = chunk.length;
      this.#ended = true;
      if (!ex.http1) {
        res.end(chunk.toString('latin1'), 'latin1');
        return true;
      }
      res.write(chunk.toString('latin1'), 'latin1');
      flushCork(res as http.ServerResponse);
      res.end();
      return true;
    }
    ex.bytes += chunk.length;
    // Nothing queued on a TLS client socket before this write: the write goes straight down to the
    // TLS layer, which encrypts a copy of the bytes before it returns (into the record it sends, or
    // the record it holds while the kernel is full), yet reports the write done only on the next
    // turn of the loop, always. Its chunk is counted as queued meanwhile, and one over the 16 KiB
    // high-water mark reports back-pressure: every large HTTPS response paid the pause path below
    // per chunk, and a fresh read buffer each, 2.5-5x HAProxy's CPU at 64 KiB (bench/RESULTS.md,
    // "TLS termination"). A write that really waits on the client holds the next chunk back here.
    const tlsClear = ex.tls !== null && ex.http1 && res.writableLength === 0;
    // An HTTP/2 stream says when it has sent the chunk, and the connection's buffer is free again.
    const more = ex.http1 ? res.write(chunk) : (res as unknown as H2Response).write(chunk, undefined, this.#conn?.lend());
    if (ex.http1) {
      // Send it now rather than when Node uncorks the socket on the next tick: when the kernel took
      // all of it, nothing references the chunk (a view of the connection's read buffer, reused by
      // its next read) and nothing is queued, so the server's socket keeps being read. A chunk over
      // the socket's 16 KiB high-water mark always reports back-pressure (Node corks the socket for
      // the write and counts the chunk as queued before it tries to send it): pausing there meant
      // a readStop/readStart pair, a 'drain' listener and a timer per chunk of every large
      // response (bench/RESULTS.md). An HTTP/2 stream's queue drains through its session.
      flushCork(res as http.ServerResponse);
      if (res.writableLength === 0 || tlsClear) return true;
      // Node keeps the chunk queued: the connection's next read must go elsewhere.
      this.#conn?.retained();
    }
    if (more) return true;
    // The client reads slower than the server sends: the connection stops reading the server's
    // socket until the client's drains, so nothing piles up here.
    this.#onDrain ??= () => {
      this.#slowReader!.drained();
      this.#conn?.resume();
    };
    res.once('drain', this.#onDrain);
    // A client that takes nothing for timeouts.server is cut off (slow-reader.ts): the server's
    // silence is not timed while its response is held back.
    if (this.#slowReader === null) this.#slowReader = new SlowReaderWatch(ex, this.serverTimeout);
    else this.#slowReader.held();
    return false;
  }

  onComplete(): void {
    this.#release();
    if (this.#headers !== null) this.#sendHead(this.#headers);
    if (!this.#ended) this.#ex.res.end();
  }

  onError(err: UpstreamError): void {
    this.#release();
    // How far it got: the head held back (onHead) has not reached the client until #sendHead.
    const stage = this.#ex.res.headersSent
      ? Stage.RELAYED
      : !this.#connected
        ? Stage.CONNECTING
        : this.#responded
          ? Stage.ANSWERED
          : Stage.SENT;
    this.failed(err, stage, this.#reused && this.body === null && REPLAYABLE.has(this.method));
  }
}
