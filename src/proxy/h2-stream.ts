// An HTTP/2 stream as the request and the response the shared request path reads (handler.ts,
// Exchange, upstream.ts): the members that path uses, read straight off the stream. Node's
// compatibility objects (Http2ServerRequest/Response) offer the same members, at a price paid per
// request: a Readable and a Stream beside the stream, their listeners on it, a Proxy of the
// connection's socket per stream, every response header checked twice, and a trailers step at the
// end of every response. Without them flagman pays 0.78x the CPU per small HTTP/2 request
// (bench/RESULTS.md, "HTTP/2 streams without Node's compatibility layer").
//
// Only the members the shared path uses for an HTTP/2 request are here, with the compatibility
// layer's meaning: a write after the stream closed is dropped, a response to HEAD (or a 204 or 304)
// ends with its head, and a response head takes the header list as it comes, repeated names as one
// field of several values.
import type { EventEmitter } from 'node:events';
import type http from 'node:http';
import type http2 from 'node:http2';
import type tls from 'node:tls';

// Connection-specific fields (RFC 9113 §8.2.2): Node throws on any of them in an HTTP/2 response.
// The upstream path drops them already; a respond backend's configured headers may still hold one.
const H2_FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

function ignore(): void {}

/**
 * Lets `stream` error unheard. A stream that errors (the client reset it, the connection went away)
 * emits 'error', which with no listener would throw; what went wrong is told by its 'close' and the
 * exchange's own checks.
 */
export function quietErrors(stream: http2.ServerHttp2Stream): void {
  stream.on('error', ignore);
}

/** The request half: method, target and headers as Node parsed them, the body read off the stream. */
export class H2Request {
  readonly stream: http2.ServerHttp2Stream;
  /** Node's header object of the stream, pseudo-headers included; handler.ts adds `host` and `cookie`. */
  readonly headers: http.IncomingHttpHeaders;
  /** Names and values as received, pseudo-headers included (flat). */
  readonly rawHeaders: string[];
  readonly method: string;
  url: string;
  /** The connection's TLS socket (not a Proxy of it): its address, TLS version, PROXY header. */
  readonly socket: tls.TLSSocket;
  /** HTTP/2: the access line's protocol is `h2` (access-line.ts). */
  readonly httpVersionMajor = 2;

  constructor(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: string[], socket: tls.TLSSocket) {
    this.stream = stream;
    this.headers = headers as http.IncomingHttpHeaders;
    this.rawHeaders = rawHeaders;
    this.method = headers[':method'] as string;
    this.url = (headers[':path'] as string | undefined) ?? '';
    this.socket = socket;
    quietErrors(stream);
  }

  /** The body has been read whole, or never will be (the stream is gone). */
  get complete(): boolean {
    const s = this.stream;
    return s.readableEnded || s.destroyed || s.closed;
  }

  // The body's events and flow are the stream's ('data', 'end').
  on(event: string, listener: (...args: never[]) => void): this {
    this.stream.on(event, listener as (...args: unknown[]) => void);
    return this;
  }
  once(event: string, listener: (...args: never[]) => void): this {
    this.stream.once(event, listener as (...args: unknown[]) => void);
    return this;
  }
  off(event: string, listener: (...args: never[]) => void): this {
    this.stream.off(event, listener as (...args: unknown[]) => void);
    return this;
  }
  pause(): this {
    this.stream.pause();
    return this;
  }
  resume(): this {
    this.stream.resume();
    return this;
  }
}

// A streamed response is sent with waitForTrailers, and its end with no trailers. Then a response
// cut short (Exchange.cut: RST_STREAM INTERNAL_ERROR) is never seen as complete: without it, Node's
// close() ends the stream's writable side first, and the client gets END_STREAM before the reset.
const STREAMED: http2.ServerStreamResponseOptions = { waitForTrailers: true };
function sendNoTrailers(this: http2.ServerHttp2Stream): void {
  this.sendTrailers({});
}

/**
 * The response half: a head from a flat header list, then the body, on the stream. The head goes
 * out with the first write or the end, which tells a streamed body (above) from one sent whole.
 */
export class H2Response {
  readonly stream: http2.ServerHttp2Stream;
  statusCode = 200;
  /** HTTP/1.1's keep-alive switch: an HTTP/2 stream ends alone, whatever it says. */
  shouldKeepAlive = true;
  #ended = false;
  /** The head given to writeHead, until the first write or the end sends it. */
  #head: http2.OutgoingHttpHeaders | null = null;

  constructor(stream: http2.ServerHttp2Stream) {
    this.stream = stream;
  }

  get headersSent(): boolean {
    return this.#head !== null || this.stream.headersSent;
  }

  /** Ended by us and handed whole to the session; a stream the client cancelled is not finished. */
  get writableFinished(): boolean {
    return this.#ended && this.stream.writableFinished;
  }

  /**
   * Takes the head: `headers` flat ([name, value, …]) or an object. HTTP/2 has no reason phrase
   * (`message` is dropped, as the compatibility layer warns about it), nor connection-specific fields.
   */
  writeHead(statusCode: number, message?: unknown, headers?: unknown): this {
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return this;
    if (this.headersSent) throw new Error('writeHead: the head was given already');
    const h = (typeof message === 'string' ? headers : message) as http.OutgoingHttpHeaders | string[] | undefined;
    const out: http2.OutgoingHttpHeaders = { ':status': statusCode };
    if (Array.isArray(h)) {
      for (let i = 0; i < h.length; i += 2) {
        const name = h[i]!.toLowerCase();
        if (H2_FORBIDDEN.has(name)) continue;
        const seen = out[name];
        if (seen === undefined) out[name] = h[i + 1]!;
        else if (Array.isArray(seen)) seen.push(h[i + 1]!);
        else out[name] = [seen as string, h[i + 1]!];
      }
    } else if (h !== undefined) {
      for (const name of Object.keys(h)) {
        const lower = name.toLowerCase();
        if (!H2_FORBIDDEN.has(lower)) out[lower] = h[name] as string | string[];
      }
    }
    this.statusCode = statusCode;
    this.#head = out;
    return this;
  }

  /** Sends the head taken; `streamed`: a body follows in writes (then its end sends no trailers). */
  #sendHead(streamed: boolean, endStream: boolean): void {
    const head = this.#head ?? { ':status': this.statusCode };
    this.#head = null;
    const stream = this.stream;
    if (!streamed) return stream.respond(head, endStream ? { endStream } : undefined);
    stream.respond(head, STREAMED);
    stream.once('wantTrailers', sendNoTrailers);
  }

  /** `sent`: called once the stream has sent the chunk (not when it is dropped, nor always on an error). */
  write(chunk: string | Buffer, encoding?: BufferEncoding, sent?: () => void): boolean {
    const stream = this.stream;
    if (this.#ended || stream.destroyed || stream.closed) return false;
    if (!stream.headersSent) this.#sendHead(true, false);
    // A response to HEAD, or a 204 or 304, ended with its head (Node's respond()): no body follows.
    if (stream.writableEnded) return true;
    return stream.write(chunk, encoding as BufferEncoding, sent === undefined ? undefined : (err) => err || sent());
  }

  end(chunk?: string | Buffer, encoding?: BufferEncoding): this {
    if (this.#ended) return this;
    this.#ended = true;
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return this;
    const empty = chunk === undefined || chunk.length === 0;
    if (!stream.headersSent) this.#sendHead(false, empty);
    if (stream.writableEnded) return this;
    if (empty) stream.end();
    else if (encoding === undefined) stream.end(chunk);
    else stream.end(chunk, encoding);
    return this;
  }

  /** `Expect: 100-continue` answered: the client may send its body. */
  writeContinue(): void {
    const stream = this.stream;
    if (!stream.headersSent && !stream.closed) stream.additionalHeaders({ ':status': 100 });
  }

  /** Ends the stream now. One closed already with a code of its own (Exchange.cut) keeps that code. */
  destroy(err?: Error): this {
    if (!this.stream.closed) this.stream.destroy(err);
    return this;
  }

  // 'close' (the stream closed: the exchange's end) and 'drain' are the stream's. 'close' comes
  // once (Exchange's one listener): `on` spares a wrapper per stream.
  once(event: string, listener: (...args: never[]) => void): this {
    const s = this.stream as EventEmitter;
    if (event === 'close') s.on(event, listener as (...args: unknown[]) => void);
    else s.once(event, listener as (...args: unknown[]) => void);
    return this;
  }
}
