// One keep-alive connection to a server: it writes a request, parses the response
// (upstream/response.ts) and hands head, body and end to the request, one request at a time (no
// pipelining). Only 'data', 'end', 'error', 'close' and 'timeout' listeners, added once per
// connection, never per request: a request costs one write of its head and one parse of the answer.
import net from 'node:net';
import type { Readable } from 'node:stream';
import { UpstreamError } from './error.js';
import { BadResponse, ResponseParser, type ResponseSink } from './response.js';
import { ReadBuffer } from './read-buffer.js';
import { bodyBytesMoved } from './scavenge.js';

/**
 * A request's line and header lines, without the blank line that ends the head: one latin-1
 * string, for one write(). Names and values came from Node's parser as latin-1, so every byte
 * goes out as it came in.
 */
export function requestHead(method: string, path: string, headers: readonly string[]): string {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return head;
}

/** One request as the connection sends it, and the receiver of what comes back. */
export interface UpstreamRequest {
  readonly method: string;
  /** The request target in origin-form. */
  readonly path: string;
  /** Flat [name, value, …], Host among them, latin-1 strings; no Transfer-Encoding or Connection (the connection adds its own). */
  readonly headers: readonly string[];
  /** The body to stream up, or null; chunk-encoded unless `headers` has a Content-Length. */
  readonly body: Readable | null;
  readonly bodyChunked: boolean;
  /** The most body bytes that may go up; Infinity: no limit. */
  readonly bodyLimit: number;
  /** Body bytes sent so far (the connection counts them, against `bodyLimit`): the access line's `bytesIn`. */
  bodyBytes: number;
  /** The body went over `bodyLimit`: nothing of the chunk that crossed it was sent. The request must end (abort()). */
  onBodyLimit(): void;
  /** ms the server may stay silent (nothing read from it, nothing it reads) while the request is on. */
  readonly serverTimeout: number;
  /**
   * The request is about to be written on `conn`; `reused`: the connection served requests before.
   * Return false to send nothing after all (the client left while the connection was made).
   */
  onStart(conn: UpstreamConnection, reused: boolean): boolean;
  onHead(status: number, statusText: string, headers: string[], bodyLength: number): void;
  /**
   * A body chunk: a view of the connection's read buffer, valid until this returns, unless
   * `conn.retained()` is called. False asks for no more until `conn.resume()`.
   */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  /** The exchange failed; nothing more is called. Not called after `conn.abort()`. */
  onError(err: UpstreamError): void;
  /**
   * The client connection the request came on (an HTTP/1.1 socket, an HTTP/2 session): read only
   * by a pool whose server is sent PROXY headers (pool.ts), whose connections are each its own.
   */
  readonly client: ClientConnection;
  /** The PROXY header naming the request's client, for a new connection to a server with sendProxy. */
  proxyHeader(version: 1 | 2): Buffer;
}

/** A client connection as a private upstream connection follows it (pool.ts): it closes once. */
export interface ClientConnection {
  readonly destroyed: boolean;
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

/** What a connection tells its pool. */
export interface ConnectionOwner {
  readonly address: string;
  /** The connection is free for another request (its `keepAliveMs` bounds how long it may idle). */
  release(conn: UpstreamConnection): void;
  /** The connection is closed or closing: never hand it out again. */
  forget(conn: UpstreamConnection): void;
}

export class UpstreamConnection implements ResponseSink {
  readonly socket: net.Socket;
  readonly #owner: ConnectionOwner;
  readonly #parser: ResponseParser;
  #inFlight: UpstreamRequest | null = null;
  #served = 0;
  #timeoutMs = 0;
  #paused = false;
  /** Reads from the socket so far: a timeout checks that none came in meanwhile. */
  #reads = 0;
  #ended = false;
  #bodyDone = true;
  #closed = false;
  /** When the pool may close it while idle (performance.now() ms); the pool sets it. */
  idleDeadline = 0;
  #buf: ReadBuffer;
  /** The server's `Keep-Alive: timeout=N` in ms, as last announced, or -1. */
  keepAliveMs = -1;
  /** How long the connection took to connect (ms; pool.ts): its first request's `connectMs`. */
  connectMs = 0;
  /** The client whose PROXY header the connection carried (pool.ts); null: a shared connection. */
  privateTo: ClientConnection | null = null;

  /**
   * Connects to `host:port`; the pool listens for 'connect' and connect errors on `socket`.
   * `preface`: bytes that go first, before any request (a PROXY header); null: none.
   */
  constructor(owner: ConnectionOwner, host: string, port: number, maxHead: number, preface: Buffer | null = null) {
    this.#owner = owner;
    this.#parser = new ResponseParser(this, maxHead);
    // Reads go into one buffer per connection, reused read after read (`onread`): no 64 KiB
    // ArrayBuffer allocated, filled and collected per read, which cost about a fifth of the CPU of
    // a 64 KiB response (allocation, page faults, GC; bench/RESULTS.md). Body chunks are
    // views of it, so a chunk the client's socket could not take at once, and keeps queued,
    // must not be overwritten: the request says so (retained(), lend()) and the next read goes
    // into another buffer (read-buffer.ts).
    this.#buf = ReadBuffer.take();
    const socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: { buffer: () => this.#readBuffer(), callback: (n: number, buf: Uint8Array) => this.#onRead(n, buf as Buffer) },
    });
    this.socket = socket;
    // Written now, sent first once connected: Node queues writes made while connecting.
    if (preface !== null) socket.write(preface);
    socket.on('end', () => this.#onEnd());
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.#fail(new UpstreamError(err.code ?? 'ECONNRESET', err.message, owner.address, { cause: err })),
    );
    socket.on('close', () => this.#onClose());
    socket.on('timeout', () => this.#onTimeout());
  }

  #readBuffer(): Buffer {
    if (this.#buf.held) {
      this.#buf.leave();
      this.#buf = ReadBuffer.take();
    }
    return this.#buf.bytes;
  }

  /** The body chunk just handed to onData is still referenced after it returned: the next read must not overwrite it. */
  retained(): void {
    this.#buf.retain();
  }

  /**
   * The body chunk just handed to onData is still referenced after it returned, until the returned
   * function is called (once: a write's callback). Its buffer is then free for any connection's
   * reads (read-buffer.ts).
   */
  lend(): () => void {
    return this.#buf.lend();
  }

  /** Writes `req` and reads its response. */
  send(req: UpstreamRequest): void {
    const reused = this.#served > 0;
    if (!req.onStart(this, reused)) {
      this.#owner.release(this);
      return;
    }
    this.#served++;
    this.#inFlight = req;
    this.#ended = false;
    this.#paused = false;
    this.#parser.expect(req.method === 'HEAD');
    if (this.#timeoutMs !== req.serverTimeout) {
      this.#timeoutMs = req.serverTimeout;
      this.socket.setTimeout(req.serverTimeout);
    }
    // Connection: keep-alive is HTTP/1.1's default, said anyway for servers that speak HTTP/1.0 first.
    const head = `${requestHead(req.method, req.path, req.headers)}Connection: keep-alive\r\n`;
    const body = req.body;
    if (body === null) {
      this.#bodyDone = true;
      this.socket.write(`${head}\r\n`, 'latin1');
      return;
    }
    this.#bodyDone = false;
    this.socket.write(req.bodyChunked ? `${head}Transfer-Encoding: chunked\r\n\r\n` : `${head}\r\n`, 'latin1');
    new BodyPump(this, body, req.bodyChunked);
  }

  /** The request's body went out whole. */
  bodySent(): void {
    this.#bodyDone = true;
  }

  /** The request being served, if any (BodyPump stops when it is no longer its own). */
  get inFlight(): UpstreamRequest | null {
    return this.#inFlight;
  }

  /** Reads from the server again after onData returned false. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.socket.resume();
  }

  /** Drops `req` if it is still in flight (its client left): the connection closes, nothing more is called. */
  abort(req: UpstreamRequest): void {
    if (this.#inFlight !== req) return;
    this.#inFlight = null;
    this.#close();
  }

  /**
   * Closes the connection: an idle one, or at shutdown, where a request still on it fails with
   * SHUTDOWN (flagman's doing, not the server's).
   */
  destroy(): void {
    this.#fail(new UpstreamError('SHUTDOWN', 'connection closed by flagman', this.#owner.address));
  }

  onHead(status: number, statusText: string, headers: string[], bodyLength: number): void {
    this.#inFlight?.onHead(status, statusText, headers, bodyLength);
  }

  onBody(chunk: Buffer): void {
    const req = this.#inFlight;
    if (req !== null && !req.onData(chunk) && !this.#paused) {
      this.#paused = true;
      this.socket.pause();
    }
  }

  onEnd(): void {
    this.#ended = true;
  }

  // True: the connection pauses its socket itself (onBody), not through this return value.
  #onRead(n: number, buf: Buffer): boolean {
    this.#reads++;
    if (n > 0) this.#onData(buf.subarray(0, n));
    return true;
  }

  #onData(buf: Buffer): void {
    if (this.#inFlight === null) {
      // Bytes from an idle server, or after an abort: no request to give them to, and no way to know
      // where the next response would start.
      this.#close();
      return;
    }
    try {
      this.#parser.execute(buf);
    } catch (err) {
      if (!(err instanceof BadResponse)) throw err;
      this.#fail(new UpstreamError('BAD_RESPONSE', err.message, this.#owner.address));
      return;
    }
    if (this.#ended) this.#complete();
  }

  // Ends the request after the parse that completed it returned: a request sent from onComplete
  // (none is today) could not find the parser still in the old response.
  #complete(): void {
    const req = this.#inFlight!;
    this.#inFlight = null;
    this.#ended = false;
    const parser = this.#parser;
    // A response that ended before its request's body was sent whole leaves the server reading a
    // body nobody will finish: the connection cannot carry another request.
    const reusable = parser.keepAlive && !parser.trailingBytes && this.#bodyDone && !this.#closed;
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
    if (parser.keepAliveMs >= 0) this.keepAliveMs = parser.keepAliveMs;
    req.onComplete();
    if (reusable) this.#owner.release(this);
    else this.#close();
  }

  #onEnd(): void {
    // A body that runs until close ends here; anything else the server cut short.
    if (this.#inFlight !== null && this.#parser.finish()) {
      this.#complete();
      return;
    }
    this.#fail(new UpstreamError('SERVER_CLOSED', 'server closed the connection', this.#owner.address));
  }

  #onTimeout(): void {
    // Idle connections are timed by the pool. Neither a response held back for a slow reader nor a
    // request body that waits for a slow sender is the server's silence: timeouts.client and the
    // slow-reader cut (proxy/upstream.ts) time those clients. A body the server stops reading is.
    if (this.#inFlight === null || this.#paused) return;
    if (!this.#bodyDone && this.socket.writableLength === 0) return;
    // The timer runs before the event loop's poll for I/O: after a stall of flagman's own (a loaded
    // machine, a long GC) as long as the timeout, bytes the server sent in time may be waiting
    // unread. The verdict waits for that poll (setImmediate runs right after it): a read in it
    // was the server answering, not silence. Only a timeout pays for this.
    const req = this.#inFlight;
    const reads = this.#reads;
    setImmediate(() => {
      if (this.#inFlight !== req || this.#paused || this.#reads !== reads || this.#closed) return;
      this.#fail(new UpstreamError('SERVER_TIMEOUT', `no answer within ${this.#timeoutMs} ms`, this.#owner.address));
    });
  }

  #onClose(): void {
    this.#fail(new UpstreamError('SERVER_CLOSED', 'connection closed', this.#owner.address));
  }

  // Closes the connection first, always; then fails the request on it, if any.
  #fail(err: UpstreamError): void {
    const req = this.#inFlight;
    this.#close();
    if (req === null) return;
    this.#inFlight = null;
    req.onError(err);
  }

  #close(): void {
    if (!this.#closed) {
      this.#closed = true;
      this.#owner.forget(this);
    }
    this.socket.destroy();
  }
}

/**
 * A request body streamed up with back-pressure: the client's request is paused while the server's
 * socket is full. Chunk-encoded when its length is unknown. Stops when its request no longer owns
 * the connection (answered early, failed, aborted).
 */
class BodyPump {
  readonly #conn: UpstreamConnection;
  readonly #body: Readable;
  readonly #chunked: boolean;
  readonly #req: UpstreamRequest;
  readonly #onData = (chunk: Buffer): void => this.#data(chunk);
  readonly #onEnd = (): void => this.#end();
  readonly #onDrain = (): void => void this.#body.resume();

  constructor(conn: UpstreamConnection, body: Readable, chunked: boolean) {
    this.#conn = conn;
    this.#body = body;
    this.#chunked = chunked;
    this.#req = conn.inFlight!;
    body.on('data', this.#onData);
    body.on('end', this.#onEnd);
    body.resume();
  }

  #stop(): boolean {
    if (this.#conn.inFlight === this.#req && !this.#conn.socket.destroyed) return false;
    this.#body.off('data', this.#onData);
    this.#body.off('end', this.#onEnd);
    this.#conn.socket.off('drain', this.#onDrain);
    return true;
  }

  #data(chunk: Buffer): void {
    if (chunk.length === 0 || this.#stop()) return;
    const req = this.#req;
    if (req.bodyBytes + chunk.length > req.bodyLimit) {
      // Not a byte of the chunk that crossed the limit goes up; the request aborts this connection,
      // and #stop() takes the listeners off.
      req.onBodyLimit();
      this.#stop();
      return;
    }
    req.bodyBytes += chunk.length;
    bodyBytesMoved(chunk.length);
    const socket = this.#conn.socket;
    let ok: boolean;
    if (this.#chunked) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else {
      ok = socket.write(chunk);
    }
    if (!ok) {
      this.#body.pause();
      socket.once('drain', this.#onDrain);
    }
  }

  #end(): void {
    if (this.#stop()) return;
    if (this.#chunked) this.#conn.socket.write('0\r\n\r\n', 'latin1');
    this.#body.off('data', this.#onData);
    this.#conn.bodySent();
  }
}
