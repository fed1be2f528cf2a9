// Least connections: the eligible server with the fewest requests in flight relative to its weight;
// ties go to the one picked least recently (by request count), so idle servers share evenly.
import type { BalancerFactory, Candidate, Skip } from './balancer.js';

export const leastConn = (() => ({
  pick(servers: readonly Candidate[], skip?: Skip): Candidate | null {
    let best: Candidate | null = null;
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      if (skip?.has(s)) continue;
      if (best === null) {
        best = s;
        continue;
      }
      // Compare active/weight without dividing: a.active * b.weight < b.active * a.weight.
      const lhs = s.state.active * best.weight;
      const rhs = best.state.active * s.weight;
      if (lhs < rhs || (lhs === rhs && s.state.requests < best.state.requests)) best = s;
    }
    return best;
  },
})) satisfies BalancerFactory;
