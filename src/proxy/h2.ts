// HTTP/2 requests on a TLS frontend (secure.ts), made into what the HTTP/1.1 request path expects so
// they go through the same request handler (handler.ts), Exchange, rules, dispatch and upstream code
// to HTTP/1.1 servers: the pseudo-headers become the request line and Host, cookie crumbs are
// joined, and the framing the server needs is stated. Node's compatibility objects
// (Http2ServerRequest/Response) offer every member that path uses (method, url, headers, socket,
// 'close', write/drain, writeHead with a flat header list, setTimeout, destroy), so they are passed
// on as they are.
import type http from 'node:http';
import type http2 from 'node:http2';
import { nodeHttp2 } from '../node-http.js';
import type { RuntimeHolder } from '../runtime/holder.js';
import type { Exchange } from './exchange.js';
import { MAX_HEADERS, type FrontendSlot } from './frontend.js';
import { cancelStream, overBudget } from './h2-resets.js';
import { type Protocol, requestHandler } from './handler.js';
import { REASONS } from './reasons.js';

/** Request header bytes (names and values) accepted, as Node's HTTP/1.1 parser does (maxHeaderSize). */
export const MAX_HEADER_BYTES = 16384;

// Connection-specific fields (RFC 9113 §8.2.2): Node throws on any of them in an HTTP/2 response.
// The upstream path drops them already; a respond backend's configured headers may still hold one.
const H2_FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/**
 * The response class of HTTP/2 requests on TLS frontends, for the shared HTTP/1.1 code: HTTP/2 has
 * no reason phrase, and Node's compatibility layer prints a warning (once, on stderr, not a JSON
 * line) when writeHead is given one, as the upstream path does; here it is dropped, and so are
 * connection-specific headers, which would throw.
 */
export class H2Response extends nodeHttp2().Http2ServerResponse {
  override writeHead(statusCode: number, message?: unknown, headers?: unknown): this {
    let h = (typeof message === 'string' ? headers : message) as http.OutgoingHttpHeaders | string[] | undefined;
    if (Array.isArray(h)) {
      const flat = h;
      for (let i = 0; i < flat.length; i += 2) {
        if (!H2_FORBIDDEN.has(flat[i]!.toLowerCase())) continue;
        h = flat.filter((_, j) => !H2_FORBIDDEN.has(flat[j - (j % 2)]!.toLowerCase()));
        break;
      }
    }
    return super.writeHead(statusCode, h as http.OutgoingHttpHeaders | undefined);
  }
}

// Exchange asks `writableFinished` when a response closes, to tell a client that left early from a
// response that was sent whole. Node's compatibility layer answers with its stream's flag, which a
// stream the client cancelled (RST_STREAM) also has: the upstream request would go on with nobody
// to read it, counted in flight until timeouts.server. Finished means ended by us, and flushed.
// (Defined on the prototype: @types/node declares it a data property, which a getter cannot override.)
const streamFinished = Object.getOwnPropertyDescriptor(nodeHttp2().Http2ServerResponse.prototype, 'writableFinished')!.get!;
Object.defineProperty(H2Response.prototype, 'writableFinished', {
  get(this: H2Response): boolean {
    return this.writableEnded && (streamFinished.call(this) as boolean);
  },
});

/**
 * The request's headers as an HTTP/1.1 client would have sent them (flat [name, value, …]):
 * pseudo-headers dropped, `:authority` as Host (it wins over a Host header, RFC 9113 §8.3.1), and
 * the cookie crumbs HTTP/2 allows joined into one Cookie (RFC 9113 §8.2.3). Sets `headers.host`
 * too, which the rules (request.host) and explain read. null: the headers are larger than an
 * HTTP/1.1 request's may be.
 */
export function h1Headers(req: http2.Http2ServerRequest): string[] | null {
  const raw = req.rawHeaders;
  const out: string[] = [];
  const authority = req.headers[':authority'];
  let cookie: string | null = null;
  let bytes = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    bytes += name.length + raw[i + 1]!.length;
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const lower = name.toLowerCase();
    if (lower === 'cookie') {
      cookie = cookie === null ? raw[i + 1]! : `${cookie}; ${raw[i + 1]}`;
      continue;
    }
    if (lower === 'host' && authority !== undefined) continue;
    out.push(name, raw[i + 1]!);
  }
  if (bytes > MAX_HEADER_BYTES) return null;
  if (authority !== undefined) {
    out.unshift('Host', authority);
    req.headers.host = authority;
  }
  if (cookie !== null) {
    out.push('Cookie', cookie);
    req.headers.cookie = cookie;
  }
  return out;
}

/** Answers an HTTP/2 request on a listener whose frontend a reload removed, and asks the client to go. */
function refuseRemoved(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void {
  res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '31' });
  res.end('this listener is shutting down\n');
  // GOAWAY: the streams in flight finish, the client opens its next ones elsewhere.
  req.stream.session?.close();
}

type Request = http2.Http2ServerRequest;

/** HTTP/2 for handler.ts (its functions take the compatibility objects as the HTTP/1.1 types). */
export const HTTP2: Protocol = {
  scheme: 'https',
  http1: false,
  // Four pseudo-headers come on top of the headers an HTTP/1.1 request may have.
  rawHeaderEntries: (MAX_HEADERS + 4) * 2,
  // A Connection header makes an HTTP/2 request malformed (RFC 9113 §8.2.2): Node refuses it.
  connectionHeader: false,
  badTarget: 'HTTP/2 request without an origin-form :path',
  // Reset by the client, or its connection gone or over its reset budget, before it was taken up
  // (h2RequestHandler): it never was a request, and its stream is closed already.
  dropped: (req) => {
    const stream = (req as unknown as Request).stream;
    return stream.closed || overBudget(stream.session);
  },
  refuseRemoved: refuseRemoved as unknown as Protocol['refuseRemoved'],
  // CONNECT (no :path) and anything not in origin-form has no HTTP/1.1 request line to become.
  target: (req) => {
    const url = req.url;
    return typeof url === 'string' && (url.charCodeAt(0) === 47 /* '/' */ || url === '*');
  },
  headers: (req) => h1Headers(req as unknown as Request),
  // HTTP/2 frames a body without Content-Length; say it is chunked, as an HTTP/1.1 client would,
  // so the shared path (upstream.ts) streams it up instead of taking the request as bodyless.
  hasBody: (req) => {
    if ((req as unknown as Request).stream.endAfterHeaders) return false;
    if (req.headers['content-length'] === undefined) req.headers['transfer-encoding'] = 'chunked';
    return true;
  },
  watchBody,
};

/**
 * The HTTP/2 request handler for the frontend in `slot`; `clientMs` gives timeouts.client.
 *
 * A request is taken up once the read that brought it has been parsed whole, not when Node hands it
 * over. Node runs the 'request' handler as soon as nghttp2 has parsed a stream's HEADERS, before the
 * frames behind it in the same read: a client that sends HEADERS and RST_STREAM back to back (the
 * rapid reset, CVE-2023-44487) had each stream routed, logged, counted and sent to a server, which
 * meant opening an upstream connection per stream or cutting a pooled one, only for the stream to
 * be closed a moment later. 2,000 such streams on one connection stalled another client 0.8–1.1 s
 * (medians; 0.19–0.34 s on a bare node:http2 server: bench/RESULTS.md). Now the requests of a read
 * are queued, one setImmediate for all of them (after the I/O phase, once every read of this turn
 * has been parsed), and a stream closed by then is dropped for the price of a check: it never was
 * a request. h2-resets.ts counts it against the connection's reset budget.
 */
export function h2RequestHandler(
  holder: RuntimeHolder,
  slot: FrontendSlot,
  clientMs: () => number,
  expecting = false,
): (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void {
  const handle = requestHandler(holder, slot, HTTP2, clientMs, expecting) as unknown as (
    req: http2.Http2ServerRequest,
    res: http2.Http2ServerResponse,
  ) => void;
  let queue: Array<http2.Http2ServerRequest | http2.Http2ServerResponse> = [];
  const flush = (): void => {
    const taken = queue;
    queue = [];
    // A request reset meanwhile is dropped by the handler (HTTP2.dropped).
    for (let i = 0; i < taken.length; i += 2) handle(taken[i] as http2.Http2ServerRequest, taken[i + 1] as http2.Http2ServerResponse);
  };
  return (req, res) => {
    if (queue.length === 0) setImmediate(flush);
    queue.push(req, res);
  };
}

// A request body that stalls for timeouts.client is cut off, as on HTTP/1.1 — by cancelling its
// stream: the connection's other streams go on (socket.setTimeout would end them all).
function watchBody(ex: Exchange, ms: number): void {
  const req = ex.req as unknown as Request;
  if (req.complete) return;
  const stream = req.stream;
  ex.bodyMs = ms;
  stream.setTimeout(ms, () => {
    ex.reason ??= REASONS.clientTimeout;
    cancelStream(stream);
  });
  req.once('end', () => {
    ex.bodyMs = 0;
    stream.setTimeout(0);
  });
}
