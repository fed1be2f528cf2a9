// A TLS frontend's server: HTTPS with ALPN `h2` and `http/1.1` on one port (node:http2 with
// allowHTTP1). HTTP/1.1 connections go through the fast path (h1-connection.ts) and Node's own
// HTTP/1.1 machinery with the same handlers, timeouts and upgrade tunnel as a plain listener
// (frontend.ts); HTTP/2 streams through
// the same request handler (handler.ts), as h2.ts describes them. Certificates come from memory
// (tls/certs.ts): SNI picks among the frontend's pairs, and a reload swaps the set without
// touching the listening socket.
import type http from 'node:http';
import type http2 from 'node:http2';
import { nodeHttp, nodeHttp2 } from '../node-http.js';
import type { Duplex } from 'node:stream';
import type { Timeouts } from '../config/schema.js';
import { events } from '../log.js';
import type { RuntimeHolder } from '../runtime/holder.js';
import type { TlsSite } from '../tls/certs.js';
import { clientErrorHandler } from './client-error.js';
import { markAccepted } from './head-timer.js';
import { applyTimeouts, type FrontendSlot, HTTPS1, type Http1Timeouts, MAX_HEADERS, PARSER_MAX_HEADERS } from './frontend.js';
import { clientIpOf } from './client-ip.js';
import { MAX_HEADER_BYTES, h2StreamHandler } from './h2.js';
import { RESET_BURST, RESET_RATE, watchResets } from './h2-resets.js';
import { requestHandler } from './handler.js';
import { tunnelHandler } from './tunnel.js';
import type tls from 'node:tls';
import { closeAllFast, fastPath } from './h1-connection.js';

/** Which site a TLS listener serves; the lifecycle moves it when a reload changes the frontend. */
export interface TlsBinding {
  site: TlsSite;
}

/** The HTTP/1.1 settings Node's HTTP/1.1 code reads off a server; an allowHTTP1 server has them too. */
interface Http1Settings extends Http1Timeouts {
  maxHeadersCount: number;
}

/** A TLS frontend server and what a graceful stop needs to know of its HTTP/2 sessions. */
export interface SecureFrontend {
  readonly server: http2.Http2SecureServer;
  /** Applies the client-side timeouts (start, and each reload). */
  setTimeouts(timeouts: Timeouts): void;
  /** Stop: every HTTP/2 connection is sent GOAWAY; its streams in flight finish. */
  drain(): void;
  /** The shutdown deadline: every connection ends now. */
  forceClose(): void;
}

/** A server for the frontend in `slot`, serving `binding`'s certificates. */
export function createSecureFrontend(
  holder: RuntimeHolder,
  slot: FrontendSlot,
  timeouts: Timeouts,
  tunnels: Set<Duplex>,
  binding: TlsBinding,
): SecureFrontend {
  const server = nodeHttp2().createSecureServer({
    allowHTTP1: true,
    ...binding.site.set.defaultOptions,
    // A client sending a name gets that name's pair, from memory: no file is read per connection.
    SNICallback: (name, cb) => cb(null, binding.site.set.pick(name)),
    // A client that opens a connection and never finishes its handshake is a slowloris too.
    handshakeTimeout: timeouts.client,
    // Told to clients: the 16 KiB of request headers an HTTP/1.1 client may send (MAX_HEADER_BYTES),
    // plus the 32 octets HTTP/2 counts for each field (RFC 9113 §6.5.2). Node does not enforce an
    // advertised limit: h2.ts does.
    settings: { maxHeaderListSize: MAX_HEADER_BYTES + (MAX_HEADERS + 4) * 32 },
  });
  const h1 = server as unknown as Http1Settings;
  const setTimeouts = (t: Timeouts): void => applyTimeouts(h1, t);
  setTimeouts(timeouts);
  h1.maxHeadersCount = PARSER_MAX_HEADERS;
  // HTTP/1.1 requests come as 'request' events, and those with `Expect: 100-continue` as
  // 'checkContinue' (handler.ts says why). HTTP/2 streams are taken from each session (below), not
  // as Node's compatibility objects: a 'request' listener has Node add the server 'stream' listener
  // that makes them, removed here (h2-stream.ts says what they cost). Nothing else listens there.
  const clientMs = (): number => h1.headersTimeout;
  for (const expecting of [false, true]) {
    server.on(expecting ? 'checkContinue' : 'request', requestHandler(holder, slot, HTTPS1, clientMs, expecting));
  }
  server.removeAllListeners('stream');
  const onStream = h2StreamHandler(holder, slot, clientMs);
  server.on('connection', markAccepted);
  // After the handshake: HTTP/2 to Node's HTTP/2 code, HTTP/1.1 to the fast path (h1-connection.ts),
  // which hands a connection to Node's HTTP/1.1 server (the same listener: it tells the protocols
  // apart by ALPN) at its first request it does not serve itself.
  const nodeListener = server.listeners('secureConnection')[0] as (socket: tls.TLSSocket) => void;
  server.removeAllListeners('secureConnection');
  const take = fastPath(server, (socket) => nodeListener.call(server, socket as tls.TLSSocket), h1);
  // The socket of the HTTP/2 connection being set up: Node makes its session and emits 'session'
  // within nodeListener's call.
  let h2Socket: tls.TLSSocket | null = null;
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    if (socket.alpnProtocol !== 'h2') return take(socket);
    h2Socket = socket;
    nodeListener.call(server, socket);
    h2Socket = null;
  });
  server.on('upgrade', tunnelHandler(holder, slot, tunnels, 'https'));
  server.on('clientError', clientErrorHandler(holder, slot, clientMs));

  const sessions = new Set<http2.ServerHttp2Session>();
  let draining = false;
  server.on('session', (session) => {
    if (draining) return void session.close();
    sessions.add(session);
    const socket = h2Socket!;
    let streams = 0;
    const idleMs = h1.keepAliveTimeout;
    // Idle from the last stream's end: the timer restarts now, whatever it did meanwhile. One
    // function for the session's streams ('close' comes once: `on` makes no wrapper per stream).
    const streamClosed = (): void => {
      if (--streams === 0 && idleMs > 0 && !session.destroyed) session.setTimeout(idleMs);
    };
    session.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
      onStream(stream, headers, raw, socket);
      streams++;
      stream.on('close', streamClosed);
    });
    // Keep-alive idle (timeouts.idle) for HTTP/2: a connection with no stream open and nothing sent
    // for that long is sent GOAWAY. One with a stream open is left to the request's own timeouts.
    // The listener is `on`, not setTimeout's callback: Node adds that with once(), so a first
    // timeout during a stream (a request slower than timeouts.idle) used it up, and the connection
    // was never closed for idleness after.
    session.setTimeout(idleMs);
    session.on('timeout', () => {
      if (streams === 0) session.close();
    });
    session.once('close', () => sessions.delete(session));
    // A client resetting streams faster than any real one does (rapid reset) is cut off.
    watchResets(session, (resets) => {
      const frontend = holder.current.frontends[slot.index]?.name ?? null;
      const ip = clientIpOf(session.socket);
      events.warn(
        { event: 'h2.rapid_reset', frontend, ip, resets },
        `frontend ${frontend}: HTTP/2 client ${ip} reset ${resets} streams, ` +
          `over the budget of ${RESET_BURST} at once and ${RESET_RATE}/s; connection closed with GOAWAY ENHANCE_YOUR_CALM`,
      );
    });
    // A client that resets is not the proxy's error.
    session.on('error', () => session.destroy());
  });
  return {
    server,
    setTimeouts,
    drain: () => {
      draining = true;
      for (const s of sessions) s.close();
    },
    forceClose: () => {
      // Every stream still open is cut: reset as an error (Exchange.cut says why), not with the
      // NO_ERROR a plain destroy() sends, which clients take for a complete response.
      for (const s of sessions) s.destroy(new Error('shutdown deadline'), nodeHttp2().constants.NGHTTP2_INTERNAL_ERROR);
      // The HTTP/1.1 connections: Node's HTTP/1.1 code tracks those it took, on this server as on a
      // plain one; the fast path the others.
      nodeHttp.Server.prototype.closeAllConnections.call(server as unknown as http.Server);
      closeAllFast(server);
    },
  };
}
