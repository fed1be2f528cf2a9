// HTTP/2 requests on a TLS frontend (secure.ts), made into what the HTTP/1.1 request path expects so
// they go through the same request handler (handler.ts), Exchange, rules, dispatch and upstream code
// to HTTP/1.1 servers: the pseudo-headers become the request line and Host, cookie crumbs are
// joined, and the framing the server needs is stated. Each stream is read as an H2Request and
// answered as an H2Response (h2-stream.ts), which offer every member that path uses (method, url,
// headers, socket, 'close', write/drain, writeHead with a flat header list, destroy).
import type http2 from 'node:http2';
import type tls from 'node:tls';
import type { RuntimeHolder } from '../runtime/holder.js';
import type { Exchange } from './exchange.js';
import { MAX_HEADERS, type FrontendSlot } from './frontend.js';
import { cancelStream, overBudget } from './h2-resets.js';
import { H2Request, H2Response, quietErrors } from './h2-stream.js';
import { type Protocol, requestHandler } from './handler.js';
import { REASONS } from './reasons.js';

/** Request header bytes (names and values) accepted, as Node's HTTP/1.1 parser does (maxHeaderSize). */
export const MAX_HEADER_BYTES = 16384;

/**
 * The request's headers as an HTTP/1.1 client would have sent them (flat [name, value, …]):
 * pseudo-headers dropped, `:authority` as Host (it wins over a Host header, RFC 9113 §8.3.1), and
 * the cookie crumbs HTTP/2 allows joined into one Cookie (RFC 9113 §8.2.3). Sets `headers.host`
 * too, which the rules (request.host) and explain read. null: the headers are larger than an
 * HTTP/1.1 request's may be.
 */
export function h1Headers(req: H2Request): string[] | null {
  const raw = req.rawHeaders;
  const out: string[] = [];
  const authority = req.headers[':authority'] as string | undefined;
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
function refuseRemoved(req: H2Request, res: H2Response): void {
  res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '31' });
  res.end('this listener is shutting down\n');
  // GOAWAY: the streams in flight finish, the client opens its next ones elsewhere.
  req.stream.session?.close();
}

type Request = H2Request;

/** HTTP/2 for handler.ts (its functions take H2Request and H2Response as the HTTP/1.1 types). */
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

/** Answers a stream that is no request flagman serves with `status` alone: no access line, as Node's own answers. */
function answerBare(stream: http2.ServerHttp2Stream, status: number): void {
  quietErrors(stream);
  if (!stream.closed) stream.respond({ ':status': status }, { endStream: true });
}

/** What secure.ts hands over for each stream a client opens: Node's 'stream' event, and the connection's socket. */
export type StreamHandler = (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  rawHeaders: string[],
  socket: tls.TLSSocket,
) => void;

/**
 * The HTTP/2 stream handler for the frontend in `slot`; `clientMs` gives timeouts.client.
 *
 * A request is taken up once the read that brought it has been parsed whole, not when Node hands it
 * over. Node emits a stream as soon as nghttp2 has parsed its HEADERS, before the frames behind
 * it in the same read: a client that sends HEADERS and RST_STREAM back to back (the rapid reset,
 * CVE-2023-44487) had each stream routed, logged, counted and sent to a server, which meant
 * opening an upstream connection per stream or cutting a pooled one, only for the stream to be
 * closed a moment later. 2,000 such streams on one connection stalled another client 0.8–1.1 s
 * (medians; 0.19–0.34 s on a bare node:http2 server: bench/RESULTS.md). Now the streams of a read
 * are queued, one setImmediate for all of them (after the I/O phase, once every read of this turn
 * has been parsed), and a stream closed by then is dropped for the price of a check: it never was
 * a request. h2-resets.ts counts it against the connection's reset budget.
 *
 * `Expect: 100-continue` goes to the handler that answers 100 once the request is going somewhere
 * (handler.ts); any other expectation is answered 417, and CONNECT 405, as Node answers them.
 */
export function h2StreamHandler(holder: RuntimeHolder, slot: FrontendSlot, clientMs: () => number): StreamHandler {
  const handle = requestHandler(holder, slot, HTTP2, clientMs) as unknown as (req: H2Request, res: H2Response) => void;
  const expecting = requestHandler(holder, slot, HTTP2, clientMs, true) as unknown as (req: H2Request, res: H2Response) => void;
  let queue: Array<H2Request | H2Response | typeof handle> = [];
  const flush = (): void => {
    const taken = queue;
    queue = [];
    // A request reset meanwhile is dropped by the handler (HTTP2.dropped).
    for (let i = 0; i < taken.length; i += 3) (taken[i] as typeof handle)(taken[i + 1] as H2Request, taken[i + 2] as H2Response);
  };
  return (stream, headers, rawHeaders, socket) => {
    const expect = headers.expect;
    let take = handle;
    if (expect !== undefined || headers[':method'] === 'CONNECT') {
      const status = headers[':method'] === 'CONNECT' ? 405 : expect === '100-continue' ? 0 : 417;
      if (status !== 0) return answerBare(stream, status);
      take = expecting;
    }
    if (queue.length === 0) setImmediate(flush);
    queue.push(take, new H2Request(stream, headers, rawHeaders, socket), new H2Response(stream));
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
