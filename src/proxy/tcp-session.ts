// One client connection of a tcp frontend, from accept to the access-log line: routed once by the
// frontend's rules, joined to a connection of its own to a server, then bytes flow both ways
// untouched until either side closes or nothing moves for the backend's idle timeout.
//
// What may be retried: only the connect. Until the server connection is up the client socket is
// not read (the listener pauses it on accept), so nothing has been sent and another server can take
// the connection as it is. Once joined, a connection stays on its server whatever flags, weights or
// health do next: they steer new connections only.
//
// Hot path: the runtime, frontend and targets come from memory (read once at accept); per chunk,
// plain counter increments; no file, no lookup by name.
import net from 'node:net';
import { isDescriptorShortage } from '../descriptors.js';
import { writeAccess } from '../log.js';
import type { ProxyTarget, Runtime, RuntimeFrontend, Target } from '../runtime/runtime.js';
import type { ServerState } from '../runtime/servers.js';
import type { Candidate } from './balance/balancer.js';
import { REASONS } from './reasons.js';

/** Why a connection ended, as the access log's `reason` says it (docs/tcp.md). */
export const TCP_REASONS = {
  ...REASONS,
  serverClosed: 'server closed',
  idle: 'idle timeout',
} as const;

// A connect that takes longer than the backend's timeouts.connect fails with this code.
const CONNECT_TIMEOUT = 'ETIMEDOUT';

export class TcpSession {
  readonly #client: net.Socket;
  readonly #runtime: Runtime;
  readonly #frontend: RuntimeFrontend;
  readonly #clientIp: string;
  readonly #start = performance.now();
  readonly #onDone: (s: TcpSession) => void;
  /** The backend that took the connection (a fallback, when it came to that); null: none did. */
  #target: Target | null = null;
  #server: Candidate | null = null;
  /** The connection to the server: being made, or joined. */
  #upstream: net.Socket | null = null;
  #joined = false;
  #reason: string | null = null;
  /** Ended by an error, a timeout or flagman itself: the other side is cut, not flushed. */
  #cut = false;
  #bytesIn = 0;
  #bytesOut = 0;
  /** Sockets not yet closed: the access line is written when the last one closes. */
  #open = 1;
  #released = true;

  constructor(client: net.Socket, runtime: Runtime, frontend: RuntimeFrontend, clientIp: string, onDone: (s: TcpSession) => void) {
    this.#client = client;
    this.#runtime = runtime;
    this.#frontend = frontend;
    this.#clientIp = clientIp;
    this.#onDone = onDone;
    frontend.counters.requests++;
    frontend.counters.active++;
    client.setNoDelay(true); // a proxy must not add Nagle's delay to a database's small round trips
    client.on('error', (err: NodeJS.ErrnoException) => this.#end(`client error: ${err.code ?? err.message}`, true));
    client.once('end', () => this.#end(TCP_REASONS.clientClosed));
    client.once('close', () => this.#closed(this.#joined ? this.#upstream : null, this.#upstream));
  }

  /** Sends the connection to `target` (the first matching rule's backend), or closes it when null. */
  start(target: Target | null): void {
    if (target === null) return this.#refuse(TCP_REASONS.noRule);
    this.#use(target, null, false);
  }

  /** Ends the connection now (the shutdown deadline). */
  abort(reason: string = TCP_REASONS.shutdown): void {
    this.#end(reason, true);
    this.#client.destroy();
    this.#upstream?.destroy();
  }

  #use(target: Target, tried: Set<Candidate> | null, timedOut: boolean): void {
    this.#target = target;
    if (target.kind === 'refuse') {
      target.counters.requests++;
      return this.#refuse(TCP_REASONS.refused);
    }
    // A respond backend answers HTTP: config/refs.ts keeps it from tcp frontends.
    if (target.kind !== 'proxy') return this.#refuse(TCP_REASONS.refused);
    const server = target.balancer.pick(target.eligible, tried ?? undefined);
    if (server === null) {
      // Every eligible server was tried: an upstream failure, not an absence of servers.
      if (tried !== null) return this.#refuse(timedOut ? TCP_REASONS.connectTimeout : TCP_REASONS.unreachable);
      if (target.fallback !== null) return this.#use(target.fallback, null, false);
      return this.#refuse(TCP_REASONS.noServer);
    }
    this.#connect(target, server, tried);
  }

  // Closes the client connection without a byte: no rule, a refuse backend, no server.
  #refuse(reason: string): void {
    this.#end(reason);
    this.#client.destroy();
  }

  #connect(target: ProxyTarget, server: Candidate, tried: Set<Candidate> | null): void {
    const state = server.state;
    state.active++;
    state.requests++;
    target.counters.requests++;
    target.counters.active++;
    this.#released = false;
    this.#server = server;
    const up = net.connect({ host: server.host, port: server.port, allowHalfOpen: true, noDelay: true });
    this.#upstream = up;
    this.#open++;
    const timer = setTimeout(() => up.destroy(Object.assign(new Error('connect timeout'), { code: CONNECT_TIMEOUT })), target.timeouts.connect);
    up.once('connect', () => {
      clearTimeout(timer);
      this.#join(target, state, up);
    });
    // A connection refused, reset or never made is a failed passive check, as on the request path.
    const failed = (code: string): void => {
      state.failures++;
      if (target.health !== null) state.check(false, target.health, 'passive', code === CONNECT_TIMEOUT ? `connect timeout after ${target.timeouts.connect}ms` : code);
    };
    up.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const code = err.code ?? err.message;
      if (this.#joined) {
        // A reset in the middle of a connection counts; an error while it was already ending (a
        // write after the server closed, say) says nothing about the server.
        if (this.#reason === null) failed(code);
        return this.#end(`server error: ${code}`, true);
      }
      if (this.#reason !== null) return; // the client left while this connect ran
      this.#release();
      // flagman out of descriptors: not the server's failure, and no other server would do better.
      if (isDescriptorShortage(code)) return this.#refuse(code);
      failed(code);
      // Nothing was sent: the next server takes the connection as it is.
      this.#use(target, (tried ?? new Set()).add(server), code === CONNECT_TIMEOUT);
    });
    // A failed attempt's socket only counts down; the joined one also ends the client's side.
    up.once('close', () => {
      clearTimeout(timer); // an attempt given up when the client left ends no error, and no timer
      if (this.#joined && up === this.#upstream) this.#closed(this.#client, null);
      else this.#closed(null, null);
    });
  }

  #join(target: ProxyTarget, state: ServerState, up: net.Socket): void {
    const client = this.#client;
    if (client.destroyed) return void up.destroy();
    this.#joined = true;
    const fe = this.#frontend.counters;
    const be = target.counters;
    client.on('data', (chunk: Buffer) => {
      const n = chunk.length;
      this.#bytesIn += n;
      fe.bytesIn += n;
      be.bytesIn += n;
      state.bytesIn += n;
    });
    up.on('data', (chunk: Buffer) => {
      const n = chunk.length;
      this.#bytesOut += n;
      fe.bytesOut += n;
      be.bytesOut += n;
      state.bytesOut += n;
    });
    up.once('end', () => this.#end(TCP_REASONS.serverClosed));
    // A socket's timer is refreshed by reads and by writes, and every byte either way passes through
    // the client socket: one timer is "no byte either way for timeouts.idle".
    client.setTimeout(target.timeouts.idle, () => this.abort(TCP_REASONS.idle));
    // pipe() forwards with back-pressure and passes a half-close (FIN) on: both sockets allow half-open.
    client.pipe(up);
    up.pipe(client);
  }

  // The first reason wins: it says who ended the connection.
  #end(reason: string, cut = false): void {
    this.#reason ??= reason;
    if (cut) this.#cut = true;
  }

  // One socket closed. `other`: the joined socket on the other side. After an error it is cut too;
  // otherwise it gets what it is owed, then closes (destroySoon: end, destroy once written).
  // `attempt`: a server connection still being made when the client left, which is given up.
  #closed(other: net.Socket | null, attempt: net.Socket | null): void {
    if (other !== null && !other.destroyed) {
      if (this.#cut) other.destroy();
      else other.destroySoon();
    }
    if (attempt !== null && !this.#joined && !attempt.destroyed) attempt.destroy();
    if (--this.#open === 0) this.#done();
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    const target = this.#target as ProxyTarget;
    this.#server!.state.active--;
    target.counters.active--;
  }

  #done(): void {
    this.#release();
    this.#frontend.counters.active--;
    this.#onDone(this);
    if (!this.#runtime.accessLog) return;
    const ms = Math.round((performance.now() - this.#start) * 1000) / 1000;
    const t = this.#target;
    const s = this.#joined ? this.#server : null;
    writeAccess(
      `,"frontend":${JSON.stringify(this.#frontend.name)},"mode":"tcp","backend":${t === null ? 'null' : JSON.stringify(t.name)},"server":${s === null ? 'null' : JSON.stringify(s.name)},"ip":"${this.#clientIp}","bytesIn":${this.#bytesIn},"bytesOut":${this.#bytesOut},"ms":${ms},"reason":${JSON.stringify(this.#reason ?? TCP_REASONS.clientClosed)}`,
    );
  }
}
