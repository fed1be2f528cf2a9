// The keep-alive connections to one server address (docs/proxying.md, "pooled upstream connections"): an
// idle connection is taken most-recently-used first, so a quiet period lets the rest idle out;
// a request that finds none opens a new one (no limit, no queue: the server's backlog is the queue,
// as with HAProxy's default). Idle connections close after timeouts.idle, or sooner when the server
// announced a shorter Keep-Alive timeout (less 1 s, so the server's own close rarely races a reuse;
// proxy/attempt.ts replays a request that loses that race anyway). One timer per pool times them all.
//
// A server sent PROXY headers (`sendProxy`) learns a connection's client once, from its first
// bytes: such a connection is private to the client connection whose header it carried, as
// HAProxy makes it. It is reused only for that client's next requests (kept-alive HTTP/1.1, or the
// streams of one HTTP/2 connection), and closes when that client connection closes, or idles out
// as any other. Another client opens a connection of its own. A pool without sendProxy is untouched.
import { nodeHttp } from '../node-http.js';
import type { PoolFactory, PoolTimeouts, ServerPool } from '../runtime/server-pool.js';
import { UpstreamConnection, type ClientConnection, type ConnectionOwner, type UpstreamRequest } from './connection.js';
import { addressOf, awaitConnect } from './dial.js';
import { UpstreamError } from './error.js';

// A server's Keep-Alive timeout is trusted less this margin.
const KEEP_ALIVE_MARGIN_MS = 1000;

export class UpstreamPool implements ConnectionOwner, ServerPool {
  readonly address: string;
  readonly #host: string;
  readonly #port: number;
  readonly #timeouts: PoolTimeouts;
  readonly #idle: UpstreamConnection[] = [];
  readonly #all = new Set<UpstreamConnection>();
  /** The PROXY protocol version sent on each new connection; null: none, every connection shared. */
  readonly #sendProxy: 1 | 2 | null;
  /** sendProxy only: the idle connection of each client connection, in place of `#idle`. */
  readonly #private = new Map<ClientConnection, UpstreamConnection>();
  /** sendProxy only: what closes each connection when its client connection closes. */
  readonly #unfollow = new Map<UpstreamConnection, () => void>();
  #sweep: NodeJS.Timeout | null = null;
  #sweepAt = Infinity;
  #destroyed = false;

  constructor(host: string, port: number, timeouts: PoolTimeouts, sendProxy: 1 | 2 | null = null) {
    this.#host = host;
    this.#port = port;
    this.#timeouts = timeouts;
    this.#sendProxy = sendProxy;
    this.address = addressOf(host, port);
  }

  /** Connections open now, idle or busy. */
  get connections(): number {
    return this.#all.size;
  }

  /** Sends `req` on an idle connection, or on a new one; failures reach `req.onError`. */
  request(req: UpstreamRequest): void {
    if (this.#destroyed) return req.onError(new UpstreamError('SHUTDOWN', 'flagman is shutting down', this.address));
    if (this.#sendProxy !== null) return this.#requestPrivate(req);
    const idle = this.#idle;
    while (idle.length > 0) {
      const conn = idle.pop()!;
      if (!conn.socket.destroyed) return conn.send(req);
    }
    this.#connect(req);
  }

  // sendProxy: the client's own idle connection, or a new one that carries its header.
  #requestPrivate(req: UpstreamRequest): void {
    const client = req.client;
    const conn = this.#private.get(client);
    if (conn !== undefined) {
      this.#private.delete(client);
      if (!conn.socket.destroyed) return conn.send(req);
    }
    if (client.destroyed) return req.onError(new UpstreamError('SERVER_CLOSED', 'the client connection closed', this.address));
    this.#connect(req, client);
  }

  #connect(req: UpstreamRequest, client: ClientConnection | null = null): void {
    const version = this.#sendProxy;
    const conn = new UpstreamConnection(
      this,
      this.#host,
      this.#port,
      nodeHttp.maxHeaderSize,
      version === null ? null : req.proxyHeader(version),
    );
    this.#all.add(conn);
    if (client !== null) {
      conn.privateTo = client;
      // An idle connection goes with its client; one still serving ends with its exchange, whose
      // client is gone (the exchange aborts it), and is not put back (release()).
      const unfollow = (): void => {
        if (this.#private.get(client) === conn) conn.destroy();
      };
      client.once('close', unfollow);
      this.#unfollow.set(conn, unfollow);
    }
    // The request waits until the connection is up, or fails with what ended the connect
    // (CONNECT_TIMEOUT after timeouts.connect): dial.ts times it as it times every connect.
    awaitConnect(conn.socket, this.#timeouts.connect, this.address, {
      onConnect: (_socket, ms) => {
        conn.connectMs = ms;
        conn.send(req);
      },
      onError: (err) => req.onError(err),
    });
  }

  release(conn: UpstreamConnection): void {
    const now = performance.now();
    const ka = conn.keepAliveMs;
    const deadline = now + (ka >= 0 ? Math.min(this.#timeouts.idle, ka - KEEP_ALIVE_MARGIN_MS) : this.#timeouts.idle);
    if (this.#destroyed || deadline <= now) return conn.destroy();
    conn.idleDeadline = deadline;
    const client = conn.privateTo;
    if (client !== null) {
      // Its client left, or already keeps another idle one (HTTP/2 streams in parallel): no one else may take it.
      if (client.destroyed || this.#private.has(client)) return conn.destroy();
      this.#private.set(client, conn);
    } else {
      this.#idle.push(conn);
    }
    if (deadline < this.#sweepAt) this.#arm(deadline, now);
  }

  forget(conn: UpstreamConnection): void {
    this.#all.delete(conn);
    const client = conn.privateTo;
    if (client !== null) {
      if (this.#private.get(client) === conn) this.#private.delete(client);
      const unfollow = this.#unfollow.get(conn);
      if (unfollow !== undefined) {
        this.#unfollow.delete(conn);
        client.off('close', unfollow);
      }
      return;
    }
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
  }

  #arm(at: number, now: number): void {
    if (this.#sweep !== null) clearTimeout(this.#sweep);
    this.#sweepAt = at;
    this.#sweep = setTimeout(() => this.#expire(), Math.max(1, Math.ceil(at - now)));
    this.#sweep.unref();
  }

  // Closes the connections idle past their deadline; re-arms for the next one.
  #expire(): void {
    this.#sweep = null;
    this.#sweepAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const conn of [...this.#idle, ...this.#private.values()]) {
      if (conn.idleDeadline <= now) conn.destroy();
      else if (conn.idleDeadline < next) next = conn.idleDeadline;
    }
    if (next !== Infinity) this.#arm(next, now);
  }

  /** Closes every connection, failing requests still on them (at shutdown). */
  destroy(): Promise<void> {
    this.#destroyed = true;
    if (this.#sweep !== null) clearTimeout(this.#sweep);
    this.#sweep = null;
    for (const conn of [...this.#all]) conn.destroy();
    return Promise.resolve();
  }
}

/** The pools observed state keeps for each server (runtime/server-pool.ts): these. */
export const makeUpstreamPool: PoolFactory = (host, port, timeouts, sendProxy) => new UpstreamPool(host, port, timeouts, sendProxy);
