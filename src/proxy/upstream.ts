// Forwarding one request to a server of a proxy backend and streaming the answer back (SPEC §3).
// Bodies stream both ways with back-pressure and are never buffered whole. The client's body is
// piped only once the upstream socket is connected, so a connect failure can move the untouched
// request to another server. What may be retried:
//   - a connect failure (refused, unreachable, connect timeout): nothing was sent; next server.
//   - a request sent on a reused pooled connection that the server closed before anything came
//     back (the keep-alive race), if it is idempotent and has no body: once, on any server.
//   - nothing else: a request that reached a server is answered 502 (504 on a timeout), and a POST
//     is never sent twice.
import http from 'node:http';
import type { Candidate } from './balance/balancer.js';
import { dispatch } from './dispatch.js';
import type { Exchange } from './exchange.js';
import { clientResponseHeaders } from './headers.js';
import type { ProxyTarget } from '../runtime/runtime.js';

// Idempotent methods (RFC 9110 §9.2.2), replayable after the keep-alive race when they carry no
// body: the body has been streamed and is gone.
const REPLAYABLE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

class UpstreamTimeout extends Error {
  override name = 'UpstreamTimeout';
}

function bodyless(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length === undefined || length === '0') && req.headers['transfer-encoding'] === undefined;
}

/**
 * Sends `ex` to a server of `target`; `headers` are the already rewritten request headers.
 * `tried` holds the servers this request already failed to connect to (null on the first attempt);
 * `timedOut` says whether the last of those failures was a connect timeout.
 */
export function forward(ex: Exchange, target: ProxyTarget, headers: string[], tried: Set<Candidate> | null = null, timedOut = false): void {
  const server = target.balancer.pick(target.eligible, tried ?? undefined);
  if (server === null) {
    // Every eligible server was tried: an upstream error, not an absence of servers.
    if (tried !== null) return timedOut ? ex.fail(504, 'connect timeout') : ex.fail(502, 'no server reachable');
    if (target.fallback !== null) return dispatch(ex, target.fallback, headers);
    return ex.fail(503, 'no eligible server');
  }
  ex.server = server.name;
  const state = server.state;
  state.active++;
  state.requests++;
  target.counters.requests++;
  target.counters.active++;

  const { req, res } = ex;
  const timeouts = target.timeouts;
  let connected = false;
  let reused = false;
  let responded = false;
  let settled = false;
  let failed = false;
  let timedOutHere = false;
  let clientGone = false;
  let connectTimer: NodeJS.Timeout | null = null;

  const release = (): void => {
    if (settled) return;
    settled = true;
    state.active--;
    target.counters.active--;
  };

  // One failure per attempt. `check`: the connection itself failed (refused, reset, cut), which
  // is a failed passive health check; a slow answer is not.
  const fail = (detail: string, check: boolean): void => {
    if (failed) return;
    failed = true;
    state.failures++;
    if (check && target.health !== null) state.check(false, target.health, 'passive', detail);
  };

  const timeout = (what: string): void => {
    timedOutHere = true;
    upReq.destroy(new UpstreamTimeout(what));
  };

  const upReq = http.request({
    agent: state.agent,
    host: server.host,
    port: server.port,
    method: req.method,
    path: req.url,
    headers: headers as unknown as http.OutgoingHttpHeaders, // Node accepts a flat raw array too
    setHost: false,
  });

  const onConnected = (): void => {
    connected = true;
    upReq.setTimeout(timeouts.server, () => timeout('server timeout'));
    req.pipe(upReq);
  };

  upReq.once('socket', (sock) => {
    if (!sock.connecting) {
      reused = true;
      onConnected();
      return;
    }
    connectTimer = setTimeout(() => timeout('connect timeout'), timeouts.connect);
    sock.once('connect', () => {
      if (connectTimer !== null) clearTimeout(connectTimer);
      onConnected();
    });
  });

  upReq.once('error', (err) => {
    if (connectTimer !== null) clearTimeout(connectTimer);
    release();
    if (clientGone || res.destroyed) return; // the client left first; nothing failed upstream
    const detail = err instanceof UpstreamTimeout ? err.message : ((err as NodeJS.ErrnoException).code ?? err.message);
    if (responded) {
      // Headers are out: the only honest signal left is to cut the client's connection too.
      fail(detail, !timedOutHere);
      res.destroy();
      return;
    }
    if (!connected) {
      // Nothing was sent: another server can take the request as it is.
      fail(detail, true);
      return forward(ex, target, headers, (tried ?? new Set()).add(server), timedOutHere);
    }
    if (reused && !timedOutHere && tried === null && bodyless(req) && REPLAYABLE.has(req.method ?? '')) {
      // A pooled connection the server closed as it was reused: nothing reached the application,
      // and the server is not at fault, so no failure is counted.
      return forward(ex, target, headers, new Set());
    }
    fail(detail, !timedOutHere);
    if (timedOutHere) ex.fail(504, detail);
    else ex.fail(502, detail);
  });

  upReq.once('response', (upRes) => {
    responded = true;
    res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, clientResponseHeaders(upRes.rawHeaders, upRes.headers.connection));
    upRes.on('data', (chunk: Buffer) => {
      ex.bytes += chunk.length;
      if (!res.write(chunk)) {
        upRes.pause();
        res.once('drain', () => upRes.resume());
      }
    });
    upRes.once('end', () => {
      release();
      res.end();
    });
    upRes.once('close', () => {
      if (upRes.complete || clientGone) return;
      // Cut short upstream: end the client's connection without a final chunk (or short of its
      // Content-Length), so the client never takes a truncated body for a whole one.
      release();
      fail('response cut short', !timedOutHere);
      res.destroy();
    });
  });

  res.once('close', () => {
    if (!res.writableFinished) {
      // The client went away: stop the upstream work it asked for.
      clientGone = true;
      release();
      upReq.destroy();
    }
  });
}
