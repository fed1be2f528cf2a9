// One client request from arrival to the access-log line: which frontend, backend and server it got,
// the status sent and the bytes of body, and the counters that move when it ends.
import type http from 'node:http';
import type http2 from 'node:http2';
import { AccessRecord, tlsVersionOf } from '../access-line.js';
import { nodeHttp2 } from '../node-http.js';
import { markResponded } from './head-timer.js';
import { lingerOnClose } from './linger.js';
import { clientOf, forwardedHostOf, schemeOf, trusts, type Origin } from './origin.js';
import { closedReason } from './reasons.js';
import { requestIdOf } from './request-id.js';
import type { RuleLimits, Runtime, RuntimeFrontend, Target } from '../runtime/runtime.js';

/** Marks a client connection on which a malformed request was refused (frontend.ts checks it). */
export const REFUSED = Symbol('flagman.refused');

/**
 * Marks a response whose request Node's parser refused after the handler took it (client-error.ts):
 * the status of Node's answer, sent on the socket in its place, and why. Set only then, and read only
 * for a response that did not finish: a request that goes well never has it looked up.
 */
export const PARSER_ANSWER = Symbol('flagman.parserAnswer');
export interface ParserAnswered {
  [PARSER_ANSWER]?: { readonly status: number; readonly reason: string };
}

/** Short plain-text bodies for the responses the proxy makes itself. */
export const STATUS_BODY: Readonly<Record<number, string>> = {
  400: '400 Bad Request\n',
  404: '404 Not Found\n',
  413: '413 Content Too Large\n',
  429: '429 Too Many Requests\n',
  431: '431 Request Header Fields Too Large\n',
  502: '502 Bad Gateway\n',
  503: '503 Service Unavailable\n',
  504: '504 Gateway Timeout\n',
};

/**
 * Whether a request has a body: a Content-Length other than 0, or a Transfer-Encoding (h2.ts says
 * chunked for an HTTP/2 request whose body comes without a length).
 */
export function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** The upstream side of an exchange in flight, as the Exchange sees it. */
export interface UpstreamLink {
  /** The client went away before its response was finished: stop the upstream work. */
  clientGone(): void;
  /** The access line's figures of the upstream side (attempt.ts). */
  readonly tries: number;
  readonly connectMs: number;
  readonly ttfbMs: number;
  /** Request body bytes sent on to the server. */
  readonly bodyBytes: number;
}

export class Exchange implements Origin {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly runtime: Runtime;
  readonly frontend: RuntimeFrontend;
  readonly peer: string;
  readonly trusted: boolean;
  readonly clientIp: string;
  readonly scheme: string;
  readonly forwardedHost: string | null;
  /** The request's ID (request-id.ts); null: its frontend gives none. */
  readonly requestId: string | null;
  readonly start = performance.now();
  /** The access line's headMs (head-timer.ts); -1: not timed (HTTP/2). */
  headMs = -1;
  /** The client connection's TLS version (null: plain), read while it is open. */
  readonly tls: string | null;
  target: Target | null = null;
  server: string | null = null;
  bytes = 0;
  /** The upstream attempt in flight, if any (upstream.ts); told when the client goes away. */
  upstream: UpstreamLink | null = null;
  /** An HTTP/1 response straight on a client socket (handler.ts clears it for an HTTP/2 stream). */
  http1 = true;
  /** How long the request waited in its backend's queue (ms); -1: it did not (attempt.ts). */
  queueMs = -1;
  /** timeouts.client while the request body comes in and is watched for stalls (frontend.ts, h2.ts); 0: not watched. */
  bodyMs = 0;
  /** The limits of the rule that matched (limits.ts), once one did. */
  rule: RuleLimits | null = null;

  /**
   * `peer`: the address the connection came from (client-ip.ts); who the client is follows from it
   * (origin.ts). `listener`: what the listener speaks, `request.scheme` unless a trusted proxy said.
   */
  constructor(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    runtime: Runtime,
    frontend: RuntimeFrontend,
    peer: string,
    listener: 'http' | 'https',
  ) {
    this.req = req;
    this.res = res;
    this.runtime = runtime;
    this.frontend = frontend;
    this.peer = peer;
    this.trusted = trusts(frontend, peer);
    this.tls = tlsVersionOf(req.socket);
    this.clientIp = clientOf(frontend, peer, this.trusted, req.headers);
    this.scheme = schemeOf(this.trusted, listener, req.headers);
    this.forwardedHost = forwardedHostOf(this.trusted, req.headers);
    this.requestId = frontend.requestId === null ? null : requestIdOf(frontend.requestId, req.headers, this.trusted);
    frontend.counters.requests++;
    frontend.counters.active++;
    // The one 'close' listener of a request: the access log line, and the upstream abort when the
    // client left early (the upstream side adds no listener of its own).
    res.once('close', () => this.#done());
  }

  /**
   * Sends a response the proxy makes itself (errors, no route), `reason` in its access line; once a
   * head went out, cuts the response instead. `retryAfter`: a Retry-After header (seconds).
   */
  fail(status: number, reason: string, retryAfter?: string): void {
    const res = this.res;
    // Too late for a status: cutting the connection is the only honest signal left.
    if (res.headersSent) return this.cut(reason);
    // Nothing can reach the client any more: a status written now would be logged as sent.
    if (this.clientGone) {
      this.reason ??= reason;
      return;
    }
    const body = STATUS_BODY[status] ?? `${status}\n`;
    // A request refused as malformed says nothing trustworthy about where the next one starts on
    // this connection (the smuggling case): answer, then close it.
    if (status === 400) {
      res.shouldKeepAlive = false;
      // Requests the client pipelined behind it were parsed already: none of them is served.
      (this.req.socket as { [REFUSED]?: boolean })[REFUSED] = true;
    }
    const headers = [
      'Content-Type',
      'text/plain; charset=utf-8',
      'Content-Length',
      String(Buffer.byteLength(body)),
      'Cache-Control',
      'no-store',
    ];
    if (retryAfter !== undefined) headers.push('Retry-After', retryAfter);
    this.idOn(headers);
    res.writeHead(status, headers);
    res.end(body);
    this.bytes += body.length;
    this.reason ??= reason;
  }

  /**
   * Refuses the request for its rule's limits (413, or 429 with `retryAfter`), before it went
   * anywhere, as fail() answers. A body still coming is read no further: HTTP/1.1 closes the
   * connection once the answer is out — lingering (linger.ts), so a client still sending reads the
   * answer rather than a reset — and requests pipelined behind it are not served; HTTP/2 resets the
   * stream with NO_ERROR once the answer is out, which asks the client to stop sending (RFC 9113
   * §8.1) and leaves the connection's other streams alone.
   */
  refuse(status: number, reason: string, retryAfter?: string): void {
    const res = this.res;
    if (!res.headersSent && !this.clientGone && hasBody(this.req) && !this.req.complete) {
      if (this.http1) {
        res.shouldKeepAlive = false;
        (this.req.socket as { [REFUSED]?: boolean })[REFUSED] = true;
        lingerOnClose(this.req.socket);
      } else {
        // The stream's own 'finish' (its END_STREAM handed to the session): the response's comes only
        // once the stream has closed.
        const stream = (res as unknown as { stream: http2.ServerHttp2Stream }).stream;
        stream.once('finish', () => stream.close(nodeHttp2().constants.NGHTTP2_NO_ERROR));
      }
    }
    this.fail(status, reason, retryAfter);
  }

  /** Adds the request's ID to `headers` (flat) of an answer flagman makes itself, when it has one: the client can quote it. */
  idOn(headers: string[]): string[] {
    if (this.requestId !== null) headers.push(this.frontend.requestId!.header, this.requestId);
    return headers;
  }

  /**
   * Pauses (0) or resumes (bodyMs) the watch on the request body's stalls. Nothing reads the body
   * while the request waits in its backend's queue, so the client cannot send more of it then,
   * and is not to be cut off for that.
   */
  bodyTimer(ms: number): void {
    if (this.http1) this.req.socket.setTimeout(ms);
    else (this.res as unknown as { stream: http2.ServerHttp2Stream }).stream.setTimeout(ms);
  }

  /** Cuts the response short, closing its connection (HTTP/1.1) or stream (HTTP/2); `reason` says why. */
  cut(reason: string): void {
    this.reason ??= reason;
    // An HTTP/2 stream destroyed without an error is reset with NO_ERROR, which clients (curl,
    // Node's) take for the end of a complete response: reset it as an error, so they never do.
    if (!this.http1)
      (this.res as unknown as { stream: http2.ServerHttp2Stream }).stream.close(nodeHttp2().constants.NGHTTP2_INTERNAL_ERROR);
    this.res.destroy();
  }

  /**
   * The client's connection (HTTP/2: its stream) is closed, or being closed: nothing more reaches
   * it. Asked of the connection, not the response: the response is told of its socket's close only
   * in a later turn of the event loop (the shutdown deadline closes every connection, and then the
   * upstream pools, in between).
   */
  get clientGone(): boolean {
    if (!this.http1) return (this.res as unknown as { stream: { destroyed: boolean } }).stream.destroyed;
    return this.res.destroyed || this.req.socket.destroyed;
  }

  /**
   * Why the response is not the whole answer it looks like, or is flagman's own: the access line's
   * `reason`. The first one given wins: it names what ended the response.
   */
  reason: string | null = null;

  #done(): void {
    // A response cut before its headers went out is counted as what the client saw: nothing (class 0),
    // or the answer Node's parser sent in its place.
    let status = this.res.headersSent ? this.res.statusCode : 0;
    if (!this.res.writableFinished) {
      const parser = (this.res as ParserAnswered)[PARSER_ANSWER];
      if (parser !== undefined) {
        status = parser.status;
        this.reason ??= parser.reason;
      }
      // Ended before the response was complete, and not by a cut that named itself.
      this.reason ??= closedReason();
      this.upstream?.clientGone();
    }
    const fe = this.frontend.counters;
    fe.active--;
    // Upgrades and tcp connections never come here (tunnel.ts, tcp-session.ts): only requests are timed.
    const now = performance.now();
    const ms = now - this.start;
    fe.duration.observe(ms);
    const cls = status >= 100 && status < 600 ? (status / 100) | 0 : 0;
    fe.responses[cls]!++;
    const t = this.target;
    if (t !== null) {
      t.counters.responses[cls]!++;
      t.counters.duration.observe(ms);
    }
    if (this.http1) markResponded(this.req.socket, now);
    const log = this.runtime.accessLog;
    if (log === null) return;
    const r = new AccessRecord();
    r.frontend = this.frontend.name;
    r.backend = t?.name ?? null;
    r.server = this.server;
    r.req = this.req;
    r.tls = this.tls;
    r.status = status;
    r.bytesOut = this.bytes;
    r.start = this.start;
    r.ms = ms;
    r.headMs = this.headMs;
    r.queueMs = this.queueMs;
    const up = this.upstream;
    if (up !== null) {
      r.bytesIn = up.bodyBytes;
      r.connectMs = up.connectMs;
      r.ttfbMs = up.ttfbMs;
      r.tries = up.tries;
    }
    r.ip = this.clientIp;
    r.peer = this.peer;
    r.id = this.requestId;
    r.reason = this.reason;
    log.write(r);
  }
}
