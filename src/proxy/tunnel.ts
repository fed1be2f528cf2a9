// Upgrades (WebSocket and any other `Upgrade:`): routed by the same rules as requests, then the
// two sockets are joined and bytes flow both ways untouched until either side closes (docs/proxying.md).
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { isDescriptorShortage } from '../descriptors.js';
import { writeAccess } from '../log.js';
import type { FrontendSlot, Scheme } from './frontend.js';
import type { RuntimeHolder } from '../runtime/holder.js';
import type { ProxyTarget, RespondTarget, Target } from '../runtime/runtime.js';
import type { Candidate } from './balance/balancer.js';
import { STATUS_BODY, accessFields } from './exchange.js';
import { clientIpOf } from './client-ip.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { route } from './rules.js';
import { originForm } from './target.js';
import { redirectLocation } from './redirect.js';
import { linger } from './linger.js';
import { closedReason, REASONS } from './reasons.js';

/** An HTTP/1.1 response head written straight to a socket (there is no ServerResponse after an upgrade). */
function head(status: number, message: string, rawHeaders: readonly string[]): string {
  let out = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2) out += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  return `${out}\r\n`;
}

/**
 * The 'upgrade' listener for the frontend in `slot` (frontend.ts). Open tunnels are kept in `open`: an upgraded
 * socket leaves Node's HTTP connection tracking, so a shutdown must be able to end them itself.
 */
export function tunnelHandler(holder: RuntimeHolder, slot: FrontendSlot, open: Set<Duplex>, scheme: Scheme = 'http'): (req: http.IncomingMessage, socket: Duplex, headBytes: Buffer) => void {
  return (req, socket, headBytes) => {
    socket.on('error', () => socket.destroy()); // a client reset is not the proxy's error
    const runtime = holder.current;
    const frontend = runtime.frontends[slot.index];
    if (frontend === undefined) {
      socket.end(head(503, 'Service Unavailable', ['Content-Length', '0', 'Connection', 'close']));
      return linger(socket);
    }
    open.add(socket);
    const clientIp = clientIpOf(req.socket);
    const started = performance.now();
    let status = 0;
    let bytes = 0;
    let target: Target | null = null;
    let serverName: string | null = null;
    /** The access line's `reason` (docs/logs.md): why the answer is flagman's own or was cut. */
    let reason: string | null = null;
    let done = false;
    frontend.counters.requests++;
    frontend.counters.active++;
    // The exchange ends when its answer is flushed (a refusal, a respond or redirect backend, a
    // declined upgrade: linger() then closes the socket) or when the socket closes (a tunnel, or a
    // client gone first), whichever comes first.
    const finish = (): void => {
      if (done) return;
      done = true;
      frontend.counters.active--;
      const cls = status >= 100 && status < 600 ? (status / 100) | 0 : 0;
      frontend.counters.responses[cls]!++;
      if (target !== null) target.counters.responses[cls]!++;
      if (runtime.accessLog) {
        const why = reason === null ? '' : `,"reason":${JSON.stringify(reason)}`;
        writeAccess(`${accessFields(frontend.name, target?.name ?? null, serverName, req, status, bytes, started, clientIp)},"upgrade":${JSON.stringify(req.headers.upgrade ?? null)}${why}`);
      }
    };
    socket.once('close', () => {
      open.delete(socket);
      // Closed before its answer was flushed, or a tunnel closed by the shutdown deadline (a tunnel
      // that either peer closes has simply ended).
      if (!done && (status !== 101 || closedReason() === REASONS.shutdown)) reason ??= closedReason();
      finish();
    });

    /** Writes a whole answer made here (no tunnel follows) and closes the socket. */
    const answer = (code: number, rawHeaders: readonly string[], body: string | Buffer): void => {
      status = code;
      bytes = body.length;
      socket.write(head(code, http.STATUS_CODES[code] ?? '', [...rawHeaders, 'Content-Length', String(body.length), 'Connection', 'close']));
      socket.end(body);
      linger(socket, finish);
    };

    const refuse = (code: number, why: string): void => {
      reason ??= why;
      answer(code, ['Content-Type', 'text/plain; charset=utf-8'], STATUS_BODY[code] ?? `${code}\n`);
    };

    const respondWith = (t: RespondTarget): void => {
      t.counters.requests++;
      answer(t.status, t.headers, t.page.body);
    };

    const url = originForm(req.url ?? '', req.headers.host);
    if (url === null) return refuse(400, 'invalid request target');
    req.url = url;
    const headers = upstreamRequestHeaders(req.rawHeaders, req.headers.connection, { clientIp, proto: scheme, underscores: frontend.underscoreHeaders });
    if (typeof headers === 'string') return refuse(400, headers);
    // The upgrade handshake needs the two hop-by-hop headers the request path drops.
    headers.push('Connection', 'Upgrade', 'Upgrade', req.headers.upgrade ?? '');

    const connect = (t: Target, tried: Set<Candidate> | null): void => {
      target = t;
      if (t.kind === 'respond') return respondWith(t);
      if (t.kind === 'redirect') {
        t.counters.requests++;
        return answer(t.status, ['Location', redirectLocation(t, req.headers.host!, req.url!)], '');
      }
      if (t.kind === 'refuse') return void socket.destroy(); // tcp-only (config/refs.ts); closes as it would
      const server = t.balancer.pick(t.eligible, tried ?? undefined);
      if (server === null) {
        if (tried !== null) return refuse(502, REASONS.unreachable);
        return t.fallback !== null ? connect(t.fallback, null) : refuse(503, REASONS.noServer);
      }
      serverName = server.name;
      join(t, server, tried);
    };

    const join = (t: ProxyTarget, server: Candidate, tried: Set<Candidate> | null): void => {
      const state = server.state;
      state.active++;
      state.requests++;
      t.counters.requests++;
      let connected = false;
      let answered = false; // the server's answer to a declined upgrade has started
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        state.active--;
      };
      // A tunnel holds its connection for its whole life; it never goes back to the pool.
      const upReq = http.request({ host: server.host, port: server.port, method: req.method, path: req.url, headers: headers as unknown as http.OutgoingHttpHeaders, setHost: false, agent: false });
      const connectTimer = setTimeout(() => upReq.destroy(new Error('connect timeout')), t.timeouts.connect);
      upReq.once('socket', (s) => s.once('connect', () => {
        connected = true;
        clearTimeout(connectTimer);
      }));
      upReq.setTimeout(t.timeouts.server, () => upReq.destroy(new Error('server timeout')));
      upReq.once('error', (err) => {
        clearTimeout(connectTimer);
        release();
        if (socket.destroyed) return;
        const code = (err as NodeJS.ErrnoException).code;
        // flagman out of descriptors: not the server's failure (as on the request path, upstream.ts).
        if (!connected && isDescriptorShortage(code)) return refuse(503, code!);
        state.failures++;
        // A connection refused, reset or never made is a failed passive check, as on the request path.
        if (err.message !== 'server timeout' && t.health !== null) state.check(false, t.health, 'passive', code ?? err.message);
        if (!connected) return connect(t, (tried ?? new Set()).add(server));
        const timedOut = err.message === 'server timeout';
        // Too late for a status: cutting the connection is the only honest signal left.
        if (answered) {
          reason ??= timedOut ? 'server timeout mid-body' : `server error mid-body: ${(err as NodeJS.ErrnoException).code ?? err.message}`;
          return void socket.destroy();
        }
        refuse(timedOut ? 504 : 502, timedOut ? 'server timeout' : ((err as NodeJS.ErrnoException).code ?? 'server closed the connection'));
      });
      upReq.once('upgrade', (upRes, upSocket, upHead) => {
        status = upRes.statusCode ?? 101;
        upSocket.setTimeout(0); // a tunnel may idle for as long as its peers like
        socket.write(head(status, upRes.statusMessage ?? 'Switching Protocols', upRes.rawHeaders));
        if (upHead.length > 0) socket.write(upHead);
        if (headBytes.length > 0) upSocket.write(headBytes);
        upSocket.pipe(socket).on('error', () => {});
        socket.pipe(upSocket);
        upSocket.on('error', () => upSocket.destroy());
        upSocket.once('close', () => {
          release();
          socket.destroy();
        });
        socket.once('close', () => upSocket.destroy());
      });
      upReq.once('response', (upRes) => {
        // The server declined the upgrade: relay its answer as a plain response, then close.
        answered = true;
        status = upRes.statusCode ?? 502;
        socket.write(head(status, upRes.statusMessage ?? '', [...clientResponseHeaders(upRes.rawHeaders, upRes.headers.connection), 'Connection', 'close']));
        upRes.on('data', (chunk: Buffer) => (bytes += chunk.length));
        upRes.pipe(socket); // ends the socket with the body
        // A body cut short upstream is cut short to the client too: closed without its end.
        upRes.once('close', () => {
          release();
          if (upRes.complete) return;
          reason ??= 'server closed mid-body';
          socket.destroy();
        });
        socket.once('close', () => upRes.destroy()); // a client gone stops the server's answer
        linger(socket, finish);
      });
      upReq.end();
    };

    const first = route(frontend, req, clientIp, scheme);
    if (first === null) return refuse(503, REASONS.noRule);
    connect(first, null);
  };
}
