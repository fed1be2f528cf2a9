// Forwarding one request to a server of a proxy backend and streaming the answer back (SPEC §3).
// Bodies stream both ways with back-pressure and are never buffered whole. The client's body is
// piped only once the upstream socket is connected, so a connect failure can move the untouched
// request to another server.
import http from 'node:http';
import type { Candidate } from './balance/balancer.js';
import { dispatch } from './dispatch.js';
import type { Exchange } from './exchange.js';
import { clientResponseHeaders } from './headers.js';
import type { ProxyTarget } from '../runtime/runtime.js';

// Methods that may be replayed when a pooled connection turns out to be closed before anything came
// back (the keep-alive race), provided they carried no body.
const REPLAYABLE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'DELETE']);

class UpstreamTimeout extends Error {
  override name = 'UpstreamTimeout';
}

/** Sends `ex` to a server of `target`; `headers` are the already rewritten request headers. */
export function forward(ex: Exchange, target: ProxyTarget, headers: string[], tried: Set<Candidate> | null = null): void {
  const server = target.balancer.pick(target.servers, tried ?? undefined);
  if (server === null) {
    if (tried !== null) return ex.fail(502, 'no server reachable');
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
  let connectTimer: NodeJS.Timeout | null = null;

  const release = (): void => {
    if (settled) return;
    settled = true;
    state.active--;
    target.counters.active--;
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
    upReq.setTimeout(timeouts.server, () => upReq.destroy(new UpstreamTimeout('server timeout')));
    req.pipe(upReq);
  };

  upReq.once('socket', (sock) => {
    if (!sock.connecting) {
      reused = true;
      onConnected();
      return;
    }
    connectTimer = setTimeout(() => upReq.destroy(new UpstreamTimeout('connect timeout')), timeouts.connect);
    sock.once('connect', () => {
      if (connectTimer !== null) clearTimeout(connectTimer);
      onConnected();
    });
  });

  upReq.once('error', (err) => {
    if (connectTimer !== null) clearTimeout(connectTimer);
    release();
    if (responded) {
      res.destroy();
      return;
    }
    if (res.destroyed) return;
    if (!connected) {
      // Nothing was sent: another server can take the request as it is.
      state.failures++;
      (tried ??= new Set()).add(server);
      return forward(ex, target, headers, tried);
    }
    const bodyless = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
    if (reused && bodyless && REPLAYABLE.has(req.method ?? '') && !(err instanceof UpstreamTimeout) && tried === null) {
      // A pooled connection closed by the server as we reused it: nothing reached the application.
      return forward(ex, target, headers, new Set());
    }
    state.failures++;
    if (err instanceof UpstreamTimeout) ex.fail(504, err.message);
    else ex.fail(502, (err as NodeJS.ErrnoException).code ?? err.message);
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
      if (!upRes.complete) {
        // Cut short upstream: end the client's connection without a final chunk so the client never
        // takes a truncated body for a whole one.
        release();
        state.failures++;
        res.destroy();
      }
    });
  });

  res.once('close', () => {
    if (!res.writableFinished) {
      // The client went away: stop the upstream work it asked for.
      release();
      upReq.destroy();
    }
  });
}
