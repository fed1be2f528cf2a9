// Admission of client connections near the descriptor limit. Every client connection may need a
// second descriptor for its server, so flagman holds at most `max` of them at once, on every
// frontend listener together (descriptors.ts sets the cap from the limit), and keeps the rest of
// its descriptors for server connections, health checks and flag reads. Without the cap a burst
// of clients took every descriptor: each connect to a server then failed with EMFILE, for every
// request, and the flags watcher lost its watch.
//
// HAProxy stops calling accept() at maxconn and lets the kernel's backlog hold the rest. Node has
// no public way to pause accepting on a listening socket (libuv accepts whatever is pending), and
// `server.maxConnections` is per listener (and 0 means none in Node 20); so a connection over the
// cap is accepted and closed at once — the client sees a reset or an empty reply, a refusal — and
// accepting resumes as soon as one closes. The check is one comparison per accepted connection; the
// refused connection never reaches the HTTP, TLS or tcp code.
import type net from 'node:net';
import type { DescriptorBudget } from '../descriptors.js';
import { events } from '../log.js';
import type { ConnectionCounters } from '../runtime/servers.js';

// A cap this low is worth a warning at start: a few hundred clients would already be refused.
const LOW_CAP = 256;

// An episode of refusals ends when none has happened for this long; then it is logged as over.
const QUIET_MS = 1000;

export class ConnectionGate {
  readonly #counters: ConnectionCounters;
  /** The cap as a number for the one comparison per connection (Infinity: none). */
  #max = Infinity;
  /** `refused` when the episode in progress was last looked at; null: no episode. */
  #episode: number | null = null;
  readonly #release = (): void => {
    this.#counters.open--;
  };

  constructor(counters: ConnectionCounters) {
    this.#counters = counters;
  }

  /** Caps connections by `budget` (no cap when its limit is unknown); connections open above it stay. */
  apply(budget: DescriptorBudget): void {
    const max = budget.maxConnections;
    this.#max = max ?? Infinity;
    this.#counters.max = max;
    if (max !== null && max < LOW_CAP) {
      events.warn(
        { event: 'descriptors', fdLimit: budget.limit, fdBase: budget.base, fdReserve: budget.reserve, maxConnections: max },
        `the descriptor limit (${budget.limit}) leaves room for ${max} client connections at once; raise it (ulimit -n, LimitNOFILE)`,
      );
    }
  }

  /**
   * Puts `server`'s connections under the cap. Call before it listens: its own 'connection'
   * listeners (Node's HTTP or TLS handling, a tcp frontend's) run only for admitted connections.
   */
  guard(server: net.Server): void {
    const inner = server.listeners('connection') as ((socket: net.Socket) => void)[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: net.Socket) => {
      if (!this.#admit(socket)) return;
      for (const listener of inner) listener.call(server, socket);
    });
  }

  #admit(socket: net.Socket): boolean {
    const c = this.#counters;
    if (c.open < this.#max) {
      c.open++;
      socket.on('close', this.#release);
      return true;
    }
    c.refused++;
    socket.destroy();
    if (this.#episode === null) this.#begin();
    return false;
  }

  #begin(): void {
    const c = this.#counters;
    this.#episode = c.refused - 1;
    events.warn(
      { event: 'connections.full', open: c.open, max: c.max },
      `${c.open} client connections open, the most the descriptor limit leaves room for: new connections are refused until some close`,
    );
    this.#watch(c.refused);
  }

  // Ends the episode once a QUIET_MS passes without a refusal. One timer per second while refusing.
  #watch(seen: number): void {
    setTimeout(() => {
      const c = this.#counters;
      if (c.refused !== seen) return this.#watch(c.refused);
      const refused = c.refused - this.#episode!;
      this.#episode = null;
      events.info({ event: 'connections.ok', open: c.open, max: c.max, refused }, `accepting new connections again (${refused} refused)`);
    }, QUIET_MS).unref();
  }
}
