// The balancer interface (STYLE 8): one method. Implementations live beside this file and are
// registered in the table in ./index.ts.
import type { ServerState } from '../../runtime/servers.js';

/** A server as a balancer sees it: declared weight (from flags) and observed state. */
export interface Candidate {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** 0–256; 0 drains. */
  readonly weight: number;
  readonly state: ServerState;
}

export interface Balancer {
  /** The server for the next request, or null when none is eligible. `skip` excludes servers already tried. */
  pick(servers: readonly Candidate[], skip?: ReadonlySet<Candidate>): Candidate | null;
}

export type BalancerFactory = () => Balancer;
