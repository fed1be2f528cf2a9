// What a frontend's HTTP/1.1 server does when Node's parser gives up on a connection ('clientError'):
// a request head that broke HTTP's syntax, or one not complete within timeouts.client (Node's
// headersTimeout, ERR_HTTP_REQUEST_TIMEOUT), or a request body that broke its framing after the
// request reached the handler. The answer is Node's own (the same bytes as its default handling,
// which a listener replaces); a head that was started and timed out gets an access line with status
// 408 and is counted, as HAProxy and nginx log theirs; a request already taken gets that answer
// in its own line (exchange.ts, PARSER_ANSWER), not a client that closed.
import type net from 'node:net';
import type { RuntimeHolder } from '../runtime/holder.js';
import { clientIpOf, proxyHeaderBytes } from './client-ip.js';
import { AccessRecord, tlsVersionOf } from '../access-line.js';
import { PARSER_ANSWER, type ParserAnswered } from './exchange.js';
import type { FrontendSlot } from './slot.js';
import { REASONS } from './reasons.js';

// Node's answers (lib/_http_server.js), sent when no response of the connection has started: the
// status, and the bytes.
const answer = (status: number, text: string): readonly [number, string] => [
  status,
  `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n\r\n`,
];
const ANSWERS: Readonly<Record<string, readonly [number, string]>> = {
  HPE_HEADER_OVERFLOW: answer(431, 'Request Header Fields Too Large'),
  HPE_CHUNK_EXTENSIONS_OVERFLOW: answer(413, 'Payload Too Large'),
  ERR_HTTP_REQUEST_TIMEOUT: answer(408, 'Request Timeout'),
};
const BAD_REQUEST = answer(400, 'Bad Request');

/** The socket as Node's HTTP server keeps it: the response in progress on it, if any. */
interface ServerSocket extends net.Socket {
  _httpMessage?: ({ headersSent: boolean } & ParserAnswered) | null;
}

/**
 * A parser error in the access log's words: Node's reason (`Invalid character in chunk size`)
 * lower-cased as flagman's own are, else its code.
 */
function whyOf(err: NodeJS.ErrnoException & { reason?: unknown }): string {
  const reason = err.reason;
  if (typeof reason !== 'string' || reason === '') return err.code ?? err.message;
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}

/**
 * The 'clientError' listener of the HTTP/1.1 server of the frontend in `slot`. `clientMs` gives
 * timeouts.client as the server applies it.
 */
export function clientErrorHandler(
  holder: RuntimeHolder,
  slot: FrontendSlot,
  clientMs: () => number,
): (err: NodeJS.ErrnoException, socket: net.Socket) => void {
  return (err, socket) => {
    const s = socket as ServerSocket;
    // A response already on its way (a request pipelined behind one being answered): a status line
    // now would land inside it. Node then only closes the connection.
    const res = s._httpMessage;
    if (s.writable && (res == null || !res.headersSent)) {
      const [status, bytes] = ANSWERS[err.code ?? ''] ?? BAD_REQUEST;
      s.write(bytes);
      const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      // Only a head that was started is a request timing out. A connection that sent nothing at all
      // (a browser's speculative connection, a port probe) is closed as it is, without a line: Node
      // times a kept-alive connection only once a next request starts, so nothing read means a new
      // connection that sent nothing. A PROXY header (acceptProxy) is no request.
      if (timedOut && s.bytesRead > proxyHeaderBytes(s)) headTimedOut(holder, slot, s, clientMs());
      // A request flagman has taken (its body broke its framing, or a request pipelined behind it
      // did): this answer is the one its client gets. Its line says so when the socket closes next.
      else if (!timedOut && res != null) res[PARSER_ANSWER] = { status, reason: whyOf(err) };
    }
    s.destroy(err);
  };
}

// The access line and the counters of a request whose head did not complete: nothing of it is known
// (method, path), and the time is the one it was given, as the head's first byte is not recorded.
function headTimedOut(holder: RuntimeHolder, slot: FrontendSlot, socket: net.Socket, ms: number): void {
  const runtime = holder.current;
  const frontend = runtime.frontends[slot.index];
  // The frontend was removed by a reload: its listener drains, and its requests are no one's.
  if (frontend === undefined) return;
  const c = frontend.counters;
  c.requests++;
  c.responses[4]!++;
  const log = runtime.accessLog;
  if (log === null) return;
  const r = new AccessRecord();
  r.frontend = frontend.name;
  r.tls = tlsVersionOf(socket);
  r.status = 408;
  r.start = performance.now() - ms;
  r.ip = r.peer = clientIpOf(socket);
  r.reason = REASONS.clientTimeout;
  log.write(r);
}
