// A frontend's listeners and the request path: read the runtime once, validate, match the first
// rule, dispatch. Nothing here reads a file or looks a name up in a config.
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { ListenAddress, Timeouts } from '../config/schema.js';
import { FlagmanError } from '../errors.js';
import type { RuntimeHolder } from '../runtime/holder.js';
import { clientErrorHandler } from './client-error.js';
import { clientIpOf } from './client-ip.js';
import { dispatch } from './dispatch.js';
import { Exchange, REFUSED } from './exchange.js';
import { headMsOf, markAccepted } from './head-timer.js';
import { REASONS } from './reasons.js';
import { upstreamRequestHeaders } from './headers.js';
import { overLimits } from './limits.js';
import { route } from './rules.js';
import { checkInterval } from './slow-reader.js';
import type { FrontendSlot, Scheme } from './slot.js';
import { inheritedSocket } from './systemd.js';
import { originForm } from './target.js';
import { tunnelHandler } from './tunnel.js';

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
export function refuseRemoved(res: http.ServerResponse): void {
  res.shouldKeepAlive = false;
  res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '31', Connection: 'close' });
  res.end('this listener is shutting down\n');
}

/**
 * The request handler for the frontend in `slot` of every runtime `holder` publishes. `clientMs`
 * gives timeouts.client (a reload may change it): a request body that stalls that long is cut off.
 * `scheme` is what the listener speaks (HTTP/1.1 over TLS is `https`): fixed per listener.
 * `expecting`: the handler of requests that sent `Expect: 100-continue` ('checkContinue'): the
 * client is told to send its body only once the request is going somewhere, so a body refused by
 * the rule's limits (413, 429) is never sent at all.
 */
export function requestHandler(
  holder: RuntimeHolder,
  slot: FrontendSlot,
  clientMs: () => number = () => 0,
  scheme: Scheme = 'http',
  expecting = false,
): http.RequestListener {
  return (req, res) => {
    // Pipelined behind a refused malformed request: its framing cannot be trusted either.
    if ((req.socket as { [REFUSED]?: boolean })[REFUSED] === true) return void res.destroy();
    const runtime = holder.current;
    const frontend = runtime.frontends[slot.index];
    if (frontend === undefined) return refuseRemoved(res);
    const ex = new Exchange(req, res, runtime, frontend, clientIpOf(req.socket), scheme);
    ex.headMs = headMsOf(req.socket, ex.start);
    if (req.rawHeaders.length > MAX_HEADERS * 2) return ex.fail(400, 'more than 100 headers');
    const url = originForm(req.url ?? '', req.headers.host);
    if (url === null) return ex.fail(400, 'absolute-form target that disagrees with Host');
    req.url = url;
    // A slow sender of a body (slow POST): cut off after timeouts.client without a byte. Only while
    // the body comes in — the response has its own timeouts — and only for requests with one.
    if (!req.complete && (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined))
      watchBody(ex, clientMs());
    const headers = upstreamRequestHeaders(req.rawHeaders, req.headers.connection, {
      peer: ex.peer,
      clientIp: ex.clientIp,
      trusted: ex.trusted,
      proto: scheme,
      framesBody: true,
      underscores: frontend.underscoreHeaders,
      idHeader: frontend.requestId,
      id: ex.requestId,
    });
    if (typeof headers === 'string') return ex.fail(400, headers);
    const rule = route(frontend, req, ex);
    if (rule === null) return ex.fail(503, REASONS.noRule);
    if (overLimits(ex, rule)) return;
    if (expecting) res.writeContinue();
    dispatch(ex, rule.target, headers);
  };
}

function watchBody(ex: Exchange, ms: number): void {
  if (ms <= 0) return;
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

/** An HTTP server for one frontend with the configured client-side timeouts. */
export function createFrontendServer(holder: RuntimeHolder, slot: FrontendSlot, timeouts: Timeouts, tunnels: Set<Duplex>): http.Server {
  const server: http.Server = http.createServer(
    {
      keepAliveTimeout: timeouts.idle,
      headersTimeout: timeouts.client,
      // Bodies may legitimately take long (uploads): a stalled one is cut by watchBody instead.
      requestTimeout: 0,
      // Node checks headersTimeout only this often (30 s by default): a slowloris client would hold
      // its connection up to 30 s past timeouts.client. Sub-second, and cheap (a timer per server).
      connectionsCheckingInterval: checkInterval(timeouts.client),
      maxHeaderSize: 16384,
    },
    requestHandler(holder, slot, (): number => server.headersTimeout),
  );
  server.maxHeadersCount = PARSER_MAX_HEADERS;
  server.on('connection', markAccepted);
  server.on(
    'checkContinue',
    requestHandler(holder, slot, (): number => server.headersTimeout, 'http', true),
  );
  server.on('upgrade', tunnelHandler(holder, slot, tunnels));
  server.on(
    'clientError',
    clientErrorHandler(holder, slot, (): number => server.headersTimeout),
  );
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
