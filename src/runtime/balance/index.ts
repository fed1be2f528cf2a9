// Balancers by their config name (docs/design/conventions.md): the schema, docs and tests iterate over this table.
import type { BalancerFactory } from './balancer.js';
import { leastConn } from './least-conn.js';
import { roundRobin } from './round-robin.js';

export const BALANCER_TABLE = {
  roundrobin: roundRobin,
  leastconn: leastConn,
} as const satisfies Record<string, BalancerFactory>;
