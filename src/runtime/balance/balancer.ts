// The balancer interface (docs/design/conventions.md): one method. Implementations live beside this file and are
// registered in the table in ./index.ts.
import type { Health, ServerStatus } from '../server-state.js';
import type { ObservedServer } from '../servers.js';
import type { ServerPool } from '../server-pool.js';

/** A server as a balancer sees it: declared weight (from flags), its state then, and observed state. */
export interface Candidate {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** 0–256; 0 drains. */
  readonly weight: number;
  /** Health when the runtime was built; always up for a backend without checks. */
  readonly health: Health;
  /** weight × health (runtime/server-state.ts). */
  readonly status: ServerStatus;
  /** The most requests (tcp: connections) in flight to it at once under these flags; 0: no limit. */
  readonly maxconn: number;
  readonly state: ObservedServer;
  /**
   * The connections to this server's address (runtime/server-pool.ts), looked up when the runtime is built,
   * not per request; null in a tcp backend, whose client connections each get a server connection of their own.
   */
  readonly pool: ServerPool | null;
  /** The PROXY protocol version each connection to it starts with (`sendProxy`); null: none. */
  readonly sendProxy: 1 | 2 | null;
}

/** The servers a pick must pass over: those already tried, and those at their maxconn (proxy/attempt.ts). */
export interface Skip {
  has(server: Candidate): boolean;
}

export interface Balancer {
  /**
   * The server for the next request, or null when there is none. `servers` are the eligible ones
   * (weight > 0, health up: the runtime precomputes them); `skip` excludes servers already tried,
   * and those without a free slot.
   */
  pick(servers: readonly Candidate[], skip?: Skip): Candidate | null;
}

export type BalancerFactory = () => Balancer;
