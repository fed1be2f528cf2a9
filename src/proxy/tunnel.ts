// Upgrades (WebSocket and any other `Upgrade:`): routed by the same rules as requests, then the
// two sockets are joined and bytes flow both ways untouched until either side closes (docs/proxying.md).
// Which server, what a failed connect or handshake means, and the active counters are the
// attempt's (attempt.ts), as for requests: a connect timeout is a 504 here too.
import type http from 'node:http';
import { nodeHttp } from '../node-http.js';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { AccessRecord, tlsVersionOf } from '../access-line.js';
import type { FrontendSlot, Scheme } from './slot.js';
import type { RuntimeHolder } from '../runtime/holder.js';
import type { Runtime, RuntimeFrontend, Target } from '../runtime/runtime.js';
import { requestHead } from '../upstream/connection.js';
import { addressOf, type ConnectWaiter } from '../upstream/dial.js';
import { UpstreamError } from '../upstream/error.js';
import { BadResponse, ResponseParser } from '../upstream/response.js';
import { Attempt, Stage, takerOf } from './attempt.js';
import type { Candidate } from '../runtime/balance/balancer.js';
import { STATUS_BODY } from './exchange.js';
import { headMsOf } from './head-timer.js';
import { clientIpOf } from './client-ip.js';
import { clientOf, forwardedHostOf, schemeOf, trusts, type Origin } from './origin.js';
import { requestIdOf } from './request-id.js';
import { upstreamRequestHeaders } from './headers.js';
import { route } from './rules.js';
import { originForm } from './target.js';
import { redirectLocation } from './redirect.js';
import { linger } from './linger.js';
import { rateWait } from './limits.js';
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
export function tunnelHandler(
  holder: RuntimeHolder,
  slot: FrontendSlot,
  open: Set<Duplex>,
  scheme: Scheme = 'http',
): (req: http.IncomingMessage, socket: Duplex, headBytes: Buffer) => void {
  return (req, socket, headBytes) => {
    socket.on('error', () => socket.destroy()); // a client reset is not the proxy's error
    const runtime = holder.current;
    const frontend = runtime.frontends[slot.index];
    if (frontend === undefined) {
      socket.end(head(503, 'Service Unavailable', ['Content-Length', '0', 'Connection', 'close']));
      return linger(socket);
    }
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    new Tunnel(runtime, frontend, req, socket, headBytes, scheme).route();
  };
}

/** One upgrade request, from its head to the access-log line: answered here, or tunnelled to a server. */
class Tunnel extends Attempt implements ConnectWaiter, Origin {
  readonly #runtime: Runtime;
  readonly #frontend: RuntimeFrontend;
  readonly #req: http.IncomingMessage;
  readonly #socket: Duplex;
  /** What the client sent after its head (a first frame), for the server once the tunnel is up. */
  readonly #headBytes: Buffer;
  readonly peer: string;
  readonly trusted: boolean;
  readonly clientIp: string;
  readonly scheme: string;
  readonly forwardedHost: string | null;
  /** What the listener speaks: X-Forwarded-Proto, unless a trusted proxy said. */
  readonly #listener: Scheme;
  /** The upgrade's ID (request-id.ts); null: its frontend gives none. */
  readonly #requestId: string | null;
  readonly #started = performance.now();
  /** The access line's headMs (head-timer.ts). */
  readonly #headMs: number;
  /** The connection's TLS version (null: plain), read while it is open. */
  readonly #tls: string | null;
  #status = 0;
  #bytes = 0;
  /** The backend that took the upgrade (a fallback, when it came to that). */
  #backend: Target | null = null;
  #serverName: string | null = null;
  /** The access line's `reason` (docs/logs.md): why the answer is flagman's own or was cut. */
  #reason: string | null = null;
  #done = false;
  /** The handshake's headers, as the server gets them. */
  #headers: string[] = [];
  /** The connection to the server: being made, carrying the handshake, then the tunnel. */
  #up: net.Socket | null = null;
  /** The server's answer to a declined upgrade has started reaching the client. */
  #answered = false;
  /** How long it waited in its backend's queue (ms); -1: it did not. */
  #queueMs = -1;

  constructor(runtime: Runtime, frontend: RuntimeFrontend, req: http.IncomingMessage, socket: Duplex, headBytes: Buffer, listener: Scheme) {
    super();
    this.#runtime = runtime;
    this.#frontend = frontend;
    this.#req = req;
    this.#socket = socket;
    this.#headBytes = headBytes;
    this.#headMs = headMsOf(req.socket, this.#started);
    this.#tls = tlsVersionOf(req.socket);
    this.peer = clientIpOf(req.socket);
    this.trusted = trusts(frontend, this.peer);
    this.clientIp = clientOf(frontend, this.peer, this.trusted, req.headers);
    this.scheme = schemeOf(this.trusted, listener, req.headers);
    this.forwardedHost = forwardedHostOf(this.trusted, req.headers);
    this.#listener = listener;
    this.#requestId = frontend.requestId === null ? null : requestIdOf(frontend.requestId, req.headers, this.trusted);
    frontend.counters.requests++;
    frontend.counters.active++;
    // The exchange ends when its answer is flushed (a refusal, a respond or redirect backend, a
    // declined upgrade: linger() then closes the socket) or when the socket closes (a tunnel, or a
    // client gone first), whichever comes first.
    socket.once('close', () => {
      // Closed before its answer was flushed, or a tunnel closed by the shutdown deadline (a tunnel
      // that either peer closes has simply ended).
      if (!this.#done && (this.#status !== 101 || closedReason() === REASONS.shutdown)) this.#reason ??= closedReason();
      // A client gone stops what it started upstream, wherever it got: a wait in the queue, a
      // connect (the attempt then ends, its server unblamed), a handshake, a declined upgrade's
      // answer, a tunnel.
      this.withdraw();
      this.#up?.destroy();
      this.#finish();
    });
  }

  route(): void {
    const req = this.#req;
    const url = originForm(req.url ?? '', req.headers.host);
    if (url === null) return this.#refuse(400, 'invalid request target');
    req.url = url;
    const headers = upstreamRequestHeaders(req.rawHeaders, req.headers.connection, {
      peer: this.peer,
      clientIp: this.clientIp,
      trusted: this.trusted,
      proto: this.#listener,
      underscores: this.#frontend.underscoreHeaders,
      idHeader: this.#frontend.requestId,
      id: this.#requestId,
    });
    if (typeof headers === 'string') return this.#refuse(400, headers);
    // The upgrade handshake needs the two hop-by-hop headers the request path drops.
    headers.push('Connection', 'Upgrade', 'Upgrade', req.headers.upgrade ?? '');
    this.#headers = headers;
    const rule = route(this.#frontend, req, this);
    if (rule === null) return this.#refuse(503, REASONS.noRule);
    // An upgrade is a request of its rule: it takes a token of its rate limit too (a WebSocket
    // reconnect storm is one of the things a rate limit is for). Its body, if any, is the tunnel's.
    const wait = rateWait(rule.limits, this.#frontend.limitCounters, req, this);
    if (wait > 0) return this.#refuse(429, REASONS.rateLimited, String(wait));
    const t = takerOf(rule.target);
    this.#backend = t;
    if (t.kind === 'respond') {
      t.counters.requests++;
      return this.#answer(t.status, t.headers, t.page.body);
    }
    if (t.kind === 'redirect') {
      t.counters.requests++;
      return this.#answer(t.status, ['Location', redirectLocation(t, req.headers.host!, req.url!)], '');
    }
    if (t.kind === 'refuse') return void this.#socket.destroy(); // tcp-only (config/refs.ts); closes as it would
    this.start(t);
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    const counters = this.#frontend.counters;
    counters.active--;
    const status = this.#status;
    const cls = status >= 100 && status < 600 ? (status / 100) | 0 : 0;
    counters.responses[cls]!++;
    const target = this.#backend;
    if (target !== null) target.counters.responses[cls]!++;
    const log = this.#runtime.accessLog;
    if (log === null) return;
    const req = this.#req;
    const r = new AccessRecord();
    r.frontend = this.#frontend.name;
    r.backend = target?.name ?? null;
    r.server = this.#serverName;
    r.req = req;
    r.upgrade = req.headers.upgrade ?? '';
    r.tls = this.#tls;
    r.status = status;
    // A tunnel's bytes go through pipes flagman does not count; a declined upgrade's answer is counted.
    r.bytesIn = -1;
    r.bytesOut = this.#bytes;
    r.start = this.#started;
    r.headMs = this.#headMs;
    r.queueMs = this.#queueMs;
    r.connectMs = this.connectMs;
    r.ttfbMs = this.ttfbMs;
    r.tries = this.tries;
    r.ip = this.clientIp;
    r.peer = this.peer;
    r.id = this.#requestId;
    r.reason = this.#reason;
    log.write(r);
  }

  /** Writes a whole answer made here (no tunnel follows) and closes the socket. */
  #answer(code: number, rawHeaders: readonly string[], body: string | Buffer): void {
    const socket = this.#socket;
    this.#status = code;
    this.#bytes = body.length;
    const headers = [...rawHeaders, 'Content-Length', String(body.length), 'Connection', 'close'];
    if (this.#requestId !== null) headers.push(this.#frontend.requestId!.header, this.#requestId);
    socket.write(head(code, nodeHttp.STATUS_CODES[code] ?? '', headers));
    socket.end(body);
    linger(socket, () => this.#finish());
  }

  #refuse(code: number, why: string, retryAfter?: string): void {
    this.#reason ??= why;
    const headers = ['Content-Type', 'text/plain; charset=utf-8'];
    if (retryAfter !== undefined) headers.push('Retry-After', retryAfter);
    this.#answer(code, headers, STATUS_BODY[code] ?? `${code}\n`);
  }

  // A tunnel holds its connection for its whole life: one of its own, never a pooled one.
  protected connect(server: Candidate): void {
    this.#serverName = server.name;
    this.#up = this.dialFor(server, false, this, this.#req.socket);
  }

  protected answer(status: number, reason: string, retryAfter?: string): void {
    this.#refuse(status, reason, retryAfter);
  }

  protected override waited(ms: number): void {
    this.#queueMs = ms;
  }

  protected cut(reason: string): void {
    // Too late for a status: cutting the connection is the only honest signal left.
    this.#reason ??= reason;
    this.#socket.destroy();
  }

  protected abandoned(): boolean {
    return this.#socket.destroyed;
  }

  onError(err: UpstreamError): void {
    this.failed(err, Stage.CONNECTING);
  }

  /**
   * Connected: the handshake goes out on the connection, and its answer is read by the parser
   * requests' answers are (upstream/response.ts), with the same refusals: a 101 opens the tunnel;
   * any other answer is relayed as a plain response, and one a request would get a 502 for
   * (Content-Length with Transfer-Encoding, a folded header, a bad chunk size…) gets the same 502
   * (or a cut, once its head went out), never a second reading of where it ends.
   */
  onConnect(up: net.Socket, ms: number): void {
    this.connected(ms);
    const sentAt = performance.now();
    const socket = this.#socket;
    const req = this.#req;
    const server = this.server!;
    const address = addressOf(server.host, server.port);
    const timeoutMs = this.target.timeouts.server;
    let upgraded = false;
    let complete = false;
    let over = false;
    let paused = false;
    const onDrain = (): void => {
      paused = false;
      up.resume();
    };
    const detach = (): void => {
      over = true;
      up.off('data', onData);
      up.off('end', onEnd);
      up.off('close', onClose);
      up.off('timeout', onTimeout);
      up.setTimeout(0);
      socket.off('drain', onDrain);
    };
    const fail = (err: UpstreamError): void => {
      if (over) return;
      detach();
      up.destroy();
      this.failed(err, this.#answered ? Stage.RELAYED : Stage.SENT);
    };
    const parser = new ResponseParser(
      {
        onHead: (status, statusText, headers) => {
          this.responded(performance.now() - sentAt);
          this.#status = status;
          if (status === 101) {
            upgraded = true;
            socket.write(head(101, statusText === '' ? 'Switching Protocols' : statusText, headers));
            return;
          }
          // The server declined the upgrade: its answer goes on as a plain response, then the connection closes.
          this.#answered = true;
          socket.write(head(status, statusText, [...headers, 'Connection', 'close']));
          linger(socket, () => this.#finish());
        },
        onBody: (chunk) => {
          this.#bytes += chunk.length;
          // A view of a buffer of the socket's own, never reused: safe to queue as it is.
          if (!socket.write(chunk) && !paused) {
            paused = true;
            up.pause();
            socket.once('drain', onDrain);
          }
        },
        onEnd: () => (complete = true),
      },
      nodeHttp.maxHeaderSize,
    );
    parser.expect(req.method === 'HEAD', true);
    const ended = (): void => {
      detach();
      up.destroy();
      socket.end();
      this.release();
    };
    const onData = (buf: Buffer): void => {
      let used: number;
      try {
        used = parser.execute(buf);
      } catch (err) {
        if (!(err instanceof BadResponse)) throw err;
        return fail(new UpstreamError('BAD_RESPONSE', err.message, address));
      }
      if (upgraded) {
        detach();
        this.#join(up, used < buf.length ? buf.subarray(used) : null);
      } else if (complete) {
        ended();
      }
    };
    // A body that runs until close ends here; anything else the server cut short.
    const onEnd = (): void => {
      if (parser.finish()) ended();
      else fail(new UpstreamError('SERVER_CLOSED', this.#answered ? 'server closed mid-body' : 'server closed the connection', address));
    };
    const onClose = (): void => fail(new UpstreamError('SERVER_CLOSED', 'connection closed', address));
    const onTimeout = (): void => fail(new UpstreamError('SERVER_TIMEOUT', `no answer within ${timeoutMs} ms`, address));
    up.on('data', onData);
    up.on('end', onEnd);
    up.on('close', onClose);
    up.on('timeout', onTimeout);
    up.on('error', (err: NodeJS.ErrnoException) => fail(new UpstreamError(err.code ?? 'ECONNRESET', err.message, address, { cause: err })));
    up.setTimeout(timeoutMs);
    // A chunked request ends its (empty) body here, as Node's client did: what the client sent
    // after its head goes up only once the tunnel is open.
    let chunked = false;
    for (let i = 0; i < this.#headers.length; i += 2) if (this.#headers[i] === 'Transfer-Encoding') chunked = true;
    up.write(`${requestHead(req.method!, req.url!, this.#headers)}\r\n${chunked ? '0\r\n\r\n' : ''}`, 'latin1');
  }

  /** The 101 is out: `up` and the client's socket are joined; `upHead`: what the server sent after its 101, or null. */
  #join(up: net.Socket, upHead: Buffer | null): void {
    const socket = this.#socket;
    if (upHead !== null) socket.write(upHead);
    if (this.#headBytes.length > 0) up.write(this.#headBytes);
    up.pipe(socket).on('error', () => {});
    socket.pipe(up);
    up.on('error', () => up.destroy());
    up.once('close', () => {
      this.release();
      socket.destroy();
    });
  }
}
