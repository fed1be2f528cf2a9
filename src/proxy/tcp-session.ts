// One client connection of a tcp frontend, from accept to the access-log line: routed once by the
// frontend's rules, joined to a connection of its own to a server, then bytes flow both ways
// untouched until either side closes or nothing moves for the backend's idle timeout.
//
// Which server, what a failed connect means, and the active counters are the attempt's
// (attempt.ts), as for requests and upgrades. Only the connect is ever tried again: until the
// server connection is up the client socket is not read (the listener pauses it on accept), so
// nothing has been sent and another server can take the connection as it is. Once joined, a
// connection stays on its server whatever flags, weights or health do next: they steer new
// connections only.
//
// Waiting in the queue (every server at its maxconn, attempt.ts) is the one time the client is read
// before its server connection is up: what it sends is held (up to EARLY_MAX) and goes to the
// server first once joined, and reading is what tells a client that went away (a close, a reset, a
// FIN) from one still waiting, so it leaves the queue at once instead of taking a slot later.
//
// Hot path: the runtime, frontend and targets come from memory (read once at accept); per chunk,
// plain counter increments; no file, no lookup by name.
import type net from 'node:net';
import type { Runtime, RuntimeFrontend, Target } from '../runtime/runtime.js';
import { addressOf, type ConnectWaiter } from '../upstream/dial.js';
import { UpstreamError } from '../upstream/error.js';
import { Attempt, Stage, takerOf } from './attempt.js';
import type { Candidate } from '../runtime/balance/balancer.js';
import { REASONS } from './reasons.js';
import { AccessRecord, tlsVersionOf } from '../access-line.js';
import { Relay } from './relay.js';
import { bodyBytesMoved } from '../upstream/scavenge.js';

// What a client may send while its connection waits in the queue; past it, reading stops until the
// connection is joined (and a client leaving is then seen only at the queue timeout).
const EARLY_MAX = 64 * 1024;

export class TcpSession extends Attempt implements ConnectWaiter {
  readonly #client: net.Socket;
  readonly #runtime: Runtime;
  readonly #frontend: RuntimeFrontend;
  readonly #clientIp: string;
  readonly #start = performance.now();
  /** The client connection's TLS version (null: plain), read while it is open. */
  readonly #tls: string | null;
  readonly #onDone: (s: TcpSession) => void;
  /** The backend that took the connection (a fallback, when it came to that); null: none did. */
  #backend: Target | null = null;
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
  /** What the client sent while its connection waited in the queue, for the server; null: not read before joining. */
  #early: Buffer[] | null = null;
  #earlyBytes = 0;
  #hold: ((chunk: Buffer) => void) | null = null;
  /** How long it waited in its backend's queue (ms); -1: it did not. */
  #queueMs = -1;
  /** Server → client bytes, through one buffer of the connection's own; shared by every try (only the joined one reads). */
  #relay: Relay | null = null;

  constructor(client: net.Socket, runtime: Runtime, frontend: RuntimeFrontend, clientIp: string, onDone: (s: TcpSession) => void) {
    super();
    this.#client = client;
    this.#runtime = runtime;
    this.#frontend = frontend;
    this.#clientIp = clientIp;
    this.#tls = tlsVersionOf(client);
    this.#onDone = onDone;
    frontend.counters.requests++;
    frontend.counters.active++;
    client.setNoDelay(true); // a proxy must not add Nagle's delay to a database's small round trips
    client.on('error', (err: NodeJS.ErrnoException) => this.#end(`client error: ${err.code ?? err.message}`, true));
    client.once('end', () => {
      this.#end(REASONS.clientClosed);
      // Before joining, a client is read only while it waits: one that closes its side then is gone.
      if (!this.#joined) client.destroy();
    });
    client.once('close', () => this.#closed(this.#joined ? this.#upstream : null, this.#upstream));
  }

  /** Sends the connection to `routed` (the first matching rule's backend, or its fallback), or closes it when null. */
  route(routed: Target | null): void {
    if (routed === null) return this.#refuse(REASONS.noRule);
    const target = takerOf(routed);
    this.#backend = target;
    if (target.kind === 'refuse') {
      target.counters.requests++;
      return this.#refuse(REASONS.refused);
    }
    // A respond backend answers HTTP: config/refs.ts keeps it from tcp frontends.
    if (target.kind !== 'proxy') return this.#refuse(REASONS.refused);
    this.start(target);
  }

  /** Ends the connection now (the shutdown deadline). */
  abort(reason: string = REASONS.shutdown): void {
    this.#end(reason, true);
    this.#client.destroy();
    this.#upstream?.destroy();
  }

  // Closes the client connection without a byte: no rule, a refuse backend, no server.
  #refuse(reason: string): void {
    this.#end(reason);
    this.#client.destroy();
  }

  protected connect(server: Candidate): void {
    // allowHalfOpen: a FIN is passed on as a FIN, either way (see tcp-frontend.ts).
    this.#relay ??= new Relay();
    const up = this.dialFor(server, true, this, this.#client, this.#relay.onread);
    this.#upstream = up;
    this.#open++;
    // A failed try's socket only counts down; the joined one also ends the client's side.
    up.once('close', () => {
      if (this.#joined && up === this.#upstream) this.#closed(this.#client, null);
      else this.#closed(null, null);
    });
  }

  // No status to send: the connection closes without a byte, the reason in its access line.
  protected answer(_status: number, reason: string): void {
    this.#refuse(reason);
  }

  // Waiting for a free slot: read the client meanwhile, to hear it leave (see the top of the file).
  // A connection put back in the queue after a failed connect is read already.
  protected override waiting(): void {
    if (this.#early !== null) return;
    const client = this.#client;
    const early: Buffer[] = [];
    this.#early = early;
    this.#hold = (chunk: Buffer) => {
      early.push(chunk);
      this.#earlyBytes += chunk.length;
      if (this.#earlyBytes >= EARLY_MAX) client.pause();
    };
    client.on('data', this.#hold);
    client.resume();
  }

  protected override waited(ms: number): void {
    this.#queueMs = ms;
  }

  // Never called: a tcp connection fails a try only while connecting (Stage.CONNECTING).
  protected cut(reason: string): void {
    this.abort(reason);
  }

  // The client left while the connect ran (its reason is set, or its socket is gone), or the
  // shutdown deadline came.
  protected abandoned(): boolean {
    return this.#reason !== null || this.#client.destroyed;
  }

  onError(err: UpstreamError): void {
    this.failed(err, Stage.CONNECTING);
  }

  onConnect(up: net.Socket, ms: number): void {
    this.connected(ms);
    const client = this.#client;
    if (client.destroyed) return void up.destroy();
    this.#joined = true;
    const state = this.server!.state;
    const fe = this.#frontend.counters;
    const be = this.target.counters;
    const early = this.#early;
    if (early !== null) {
      // Sent while it waited: to the server first, counted as the bytes that follow are.
      client.off('data', this.#hold!);
      client.pause();
      this.#early = null;
      this.#hold = null;
      for (const chunk of early) up.write(chunk);
      const n = this.#earlyBytes;
      this.#bytesIn += n;
      fe.bytesIn += n;
      be.bytesIn += n;
      state.bytesIn += n;
    }
    client.on('data', (chunk: Buffer) => {
      const n = chunk.length;
      this.#bytesIn += n;
      fe.bytesIn += n;
      be.bytesIn += n;
      state.bytesIn += n;
      // The client's side still gets a fresh buffer per read (relay.ts): young collections paced
      // by these bytes free them while young, as for request bodies (upstream/scavenge.ts).
      bodyBytesMoved(n);
    });
    const countOut = (n: number): void => {
      this.#bytesOut += n;
      fe.bytesOut += n;
      be.bytesOut += n;
      state.bytesOut += n;
    };
    up.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? err.message;
      // A reset in the middle of a connection is a failed passive check; an error while it was
      // already ending (a write after the server closed, say) says nothing about the server.
      if (this.#reason === null)
        this.blame(new UpstreamError(code, err.message, addressOf(this.server!.host, this.server!.port), { cause: err }));
      this.#end(`server error: ${code}`, true);
    });
    up.once('end', () => this.#end(REASONS.serverClosed));
    // A socket's timer is refreshed by reads and by writes, and every byte either way passes through
    // the client socket: one timer is "no byte either way for timeouts.idle".
    client.setTimeout(this.target.timeouts.idle, () => this.abort(REASONS.idle));
    // Both forward with back-pressure and pass a half-close (FIN) on: both sockets allow half-open.
    // The server's side reads into the relay's buffer (relay.ts); the client's cannot (accepted).
    client.pipe(up);
    this.#relay!.join(up, client, countOut);
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

  #done(): void {
    // Also takes a connection still waiting in the queue out of it.
    this.release();
    this.#frontend.counters.active--;
    this.#onDone(this);
    const log = this.#runtime.accessLog;
    if (log === null) return;
    const t = this.#backend;
    const s = this.#joined ? this.server : null;
    const r = new AccessRecord();
    r.frontend = this.#frontend.name;
    r.tcp = true;
    r.backend = t === null ? null : t.name;
    r.server = s === null ? null : s.name;
    r.tls = this.#tls;
    r.bytesIn = this.#bytesIn;
    r.bytesOut = this.#bytesOut;
    r.start = this.#start;
    r.queueMs = this.#queueMs;
    r.connectMs = this.connectMs;
    r.tries = this.tries;
    r.ip = this.#clientIp;
    r.peer = this.#clientIp;
    r.reason = this.#reason ?? REASONS.clientClosed;
    log.write(r);
  }
}
