// A frontend's listeners, and what HTTP/1.1 is for the request path they share with HTTP/2
// (handler.ts). Nothing on that path reads a file or looks a name up in a config.
import type http from 'node:http';
import { nodeHttp } from '../node-http.js';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { ListenAddress, Timeouts } from '../config/schema.js';
import { FlagmanError } from '../errors.js';
import type { RuntimeHolder } from '../runtime/holder.js';
import { clientErrorHandler } from './client-error.js';
import { type Exchange, REFUSED } from './exchange.js';
import { type Protocol, requestHandler } from './handler.js';
import { markAccepted } from './head-timer.js';
import { REASONS } from './reasons.js';
import { checkInterval } from './slow-reader.js';
import type { FrontendSlot, Scheme } from './slot.js';
import { inheritedSocket } from './systemd.js';
import { originForm } from './target.js';
import { tunnelHandler } from './tunnel.js';
import { fastPath } from './h1-connection.js';

// Also here, for the modules that take them with frontend.ts's values.
export type { FrontendSlot, Scheme } from './slot.js';

/** Headers a request may have; over that it gets 400 (`more than 100 headers`) and is not forwarded. */
export const MAX_HEADERS = 100;

// What Node's HTTP/1.1 parser may collect (server.maxHeadersCount), well above MAX_HEADERS so that
// the handler sees a request over MAX_HEADERS and refuses it itself, with its access line, on every
// Node line. Over maxHeadersCount Node 20 drops the rest of the headers silently, while Node
// 22.23.2, 24.18.1 and 26.5.1 on refuse the request in the parser (431, no access line). The
// 16 KiB head (maxHeaderSize) bounds the parser's work either way. Node's own default.
export const PARSER_MAX_HEADERS = 2000;

/** Answers a request that reached a listener whose frontend a reload removed: it is draining. */
function refuseRemoved(_req: http.IncomingMessage, res: http.ServerResponse): void {
  res.shouldKeepAlive = false;
  res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '31', Connection: 'close' });
  res.end('this listener is shutting down\n');
}

// HTTP/1.1 for handler.ts, over TCP (`http`) or TLS (`https`): the same steps, the listener's scheme.
function http1Protocol(scheme: Scheme): Protocol {
  return {
    scheme,
    http1: true,
    rawHeaderEntries: MAX_HEADERS * 2,
    connectionHeader: true,
    badTarget: 'absolute-form target that disagrees with Host',
    // Pipelined behind a refused malformed request: its framing cannot be trusted either.
    dropped: (req, res) => {
      if ((req.socket as { [REFUSED]?: boolean })[REFUSED] !== true) return false;
      res.destroy();
      return true;
    },
    refuseRemoved,
    target: (req) => {
      const url = originForm(req.url ?? '', req.headers.host);
      if (url === null) return false;
      req.url = url;
      return true;
    },
    // Node's parser refuses a head over maxHeaderSize (431, client-error.ts) before a handler sees it.
    headers: (req) => req.rawHeaders,
    hasBody: (req) => !req.complete && (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined),
    watchBody,
  };
}

/** HTTP/1.1 on a plain listener, and on a TLS one. */
export const HTTP1 = http1Protocol('http');
export const HTTPS1 = http1Protocol('https');

function watchBody(ex: Exchange, ms: number): void {
  const req = ex.req;
  const socket = req.socket;
  socket.setTimeout(ms);
  ex.bodyMs = ms;
  // Node tells the request of its socket's timeout while the body is incomplete, and closes the
  // connection itself unless a listener takes it: this one closes it the same way, and names why.
  req.once('timeout', () => {
    ex.reason ??= REASONS.clientTimeout;
    socket.destroy();
  });
  req.once('end', () => {
    ex.bodyMs = 0;
    socket.setTimeout(0);
  });
}

/** What Node's HTTP/1.1 code reads off a server for its client-side timeouts; an allowHTTP1 server has them too. */
export interface Http1Timeouts {
  keepAliveTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
  // Optional: @types/node leaves it out of http.Server, though Node reads it there.
  connectionsCheckingInterval?: number;
}

/** Applies the client-side timeouts to a frontend's HTTP/1.1 server, plain or TLS (secure.ts, at each reload too). */
export function applyTimeouts(server: Http1Timeouts, timeouts: Timeouts): void {
  server.keepAliveTimeout = timeouts.idle;
  server.headersTimeout = timeouts.client;
  // Bodies may legitimately take long (uploads): a stalled one is cut by watchBody instead.
  server.requestTimeout = 0;
  // Node checks headersTimeout only this often (30 s by default): a slowloris client would hold
  // its connection up to 30 s past timeouts.client. Sub-second, and cheap (a timer per server).
  // Read when the server starts listening (Node's connection tracking).
  server.connectionsCheckingInterval = checkInterval(timeouts.client);
}

/** An HTTP server for one frontend with the configured client-side timeouts. */
export function createFrontendServer(holder: RuntimeHolder, slot: FrontendSlot, timeouts: Timeouts, tunnels: Set<Duplex>): http.Server {
  const server: http.Server = nodeHttp.createServer({ maxHeaderSize: 16384 });
  applyTimeouts(server, timeouts);
  server.maxHeadersCount = PARSER_MAX_HEADERS;
  const clientMs = (): number => server.headersTimeout;
  // Node's own 'connection' listener, which a connection reaches through the fast path
  // (h1-connection.ts) when a request of it is not one the fast path serves.
  const nodeListener = server.listeners('connection')[0] as (socket: net.Socket) => void;
  server.removeAllListeners('connection');
  const take = fastPath(server, (socket) => nodeListener.call(server, socket), server);
  server.on('connection', markAccepted);
  server.on('connection', take);
  server.on('request', requestHandler(holder, slot, HTTP1, clientMs));
  server.on('checkContinue', requestHandler(holder, slot, HTTP1, clientMs, true));
  server.on('upgrade', tunnelHandler(holder, slot, tunnels));
  server.on('clientError', clientErrorHandler(holder, slot, clientMs));
  return server;
}

/** Starts `server` (HTTP or tcp) on `address`; rejects with a FlagmanError naming the address when it cannot. */
export function listen(server: net.Server, address: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new FlagmanError(
          'LISTEN',
          `cannot listen on ${address.text}: ${err.code === 'EADDRINUSE' ? 'address in use' : (err.code ?? err.message)}`,
          { address: address.text },
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    if (address.kind === 'systemd') {
      try {
        server.listen({ fd: inheritedSocket(address.name) }, done);
      } catch (err) {
        server.off('error', onError);
        reject(err);
      }
    } else {
      server.listen({ host: address.host, port: address.port }, done);
    }
  });
}
