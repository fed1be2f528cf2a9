// The request path of every HTTP frontend, HTTP/1.1 and HTTP/2 alike: read the runtime once,
// validate, match the first rule, apply its limits, dispatch. What differs between the protocols —
// how the head is read, how a body is announced and watched, how a request not taken up is closed —
// is a Protocol: one constant object per protocol (frontend.ts, h2.ts), made when the module loads,
// so a request allocates nothing more for it and looks no name up. Nothing here reads a file.
import type http from 'node:http';
import type { RuntimeHolder } from '../runtime/holder.js';
import { clientIpOf } from './client-ip.js';
import { dispatch } from './dispatch.js';
import { Exchange } from './exchange.js';
import { headMsOf } from './head-timer.js';
import { upstreamRequestHeaders } from './headers.js';
import { overLimits } from './limits.js';
import { REASONS } from './reasons.js';
import { route } from './rules.js';
import type { FrontendSlot, Scheme } from './slot.js';

/**
 * What one protocol does at each step of the request path. HTTP/2 requests come as H2Request and
 * H2Response (h2-stream.ts), which offer every member the shared path uses; its functions take them
 * as the HTTP/1.1 types and read the HTTP/2 members themselves.
 */
export interface Protocol {
  /** What the listener speaks: the Exchange's scheme and X-Forwarded-Proto (HTTP/2 is TLS only). */
  readonly scheme: Scheme;
  /**
   * Exchange.http1: the response goes straight on a client socket. The access line's protocol
   * follows from the request; its headMs is timed on HTTP/1 only (head-timer.ts), from the socket.
   */
  readonly http1: boolean;
  /** rawHeaders entries (names and values) a request may have; over that: 400 `more than 100 headers`. */
  readonly rawHeaderEntries: number;
  /** The request's Connection header names more hop-by-hop fields (HTTP/1.1; HTTP/2 has no Connection). */
  readonly connectionHeader: boolean;
  /** The access line's reason for a target `target` refuses (400). */
  readonly badTarget: string;
  /** True: the request is not taken up at all, and is closed the way this protocol closes it. */
  dropped(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** Answers a request on a listener whose frontend a reload removed (it is draining). */
  refuseRemoved(req: http.IncomingMessage, res: http.ServerResponse): void;
  /** Puts the request's target in origin form into req.url; false: it has none (400). */
  target(req: http.IncomingMessage): boolean;
  /** The headers as an HTTP/1.1 client sends them (flat [name, value, …]); null: over 16 KiB (431). */
  headers(req: http.IncomingMessage): string[] | null;
  /** A body follows the head: its framing is stated in req.headers for the upstream side (upstream.ts). */
  hasBody(req: http.IncomingMessage): boolean;
  /** Cuts a request body that stalls for `ms` (> 0), naming the client timeout. */
  watchBody(ex: Exchange, ms: number): void;
}

/**
 * The request handler of the frontend in `slot` of every runtime `holder` publishes, for requests
 * in `protocol`. `clientMs` gives timeouts.client (a reload may change it): a request body that
 * stalls that long is cut off. `expecting`: the handler of requests that sent `Expect:
 * 100-continue` ('checkContinue', on both protocols): the client is told to send its body only once
 * the request is going somewhere, so a body refused by the rule's limits (413, 429) is never sent.
 */
export function requestHandler(
  holder: RuntimeHolder,
  slot: FrontendSlot,
  protocol: Protocol,
  clientMs: () => number,
  expecting = false,
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const p = protocol;
  return (req, res) => {
    if (p.dropped(req, res)) return;
    const runtime = holder.current;
    const frontend = runtime.frontends[slot.index];
    if (frontend === undefined) return p.refuseRemoved(req, res);
    const ex = new Exchange(req, res, runtime, frontend, clientIpOf(req.socket), p.scheme);
    if (p.http1) ex.headMs = headMsOf(req.socket, ex.start);
    else ex.http1 = false;
    if (req.rawHeaders.length > p.rawHeaderEntries) return ex.fail(400, 'more than 100 headers');
    if (!p.target(req)) return ex.fail(400, p.badTarget);
    const raw = p.headers(req);
    if (raw === null) return ex.fail(431, 'request headers larger than 16 KiB');
    // A slow sender of a body (slow POST): cut off after timeouts.client without a byte. Only while
    // the body comes in — the response has its own timeouts — and only for requests with one.
    if (p.hasBody(req)) {
      const ms = clientMs();
      if (ms > 0) p.watchBody(ex, ms);
    }
    const headers = upstreamRequestHeaders(raw, p.connectionHeader ? req.headers.connection : undefined, {
      peer: ex.peer,
      clientIp: ex.clientIp,
      trusted: ex.trusted,
      proto: p.scheme,
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
