// Smooth weighted round-robin, as nginx does it: weights 1 and 3 give b a b b, never a a ... b b b,
// so a server is never handed a burst. The running `current` lives in observed state so a flag change
// (which recompiles the runtime) does not restart the sequence.
import type { BalancerFactory, Candidate, Skip } from './balancer.js';

export const roundRobin = (() => ({
  pick(servers: readonly Candidate[], skip?: Skip): Candidate | null {
    let total = 0;
    let best: Candidate | null = null;
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      if (skip?.has(s)) continue;
      s.state.rrScore += s.weight;
      total += s.weight;
      if (best === null || s.state.rrScore > best.state.rrScore) best = s;
    }
    if (best !== null) best.state.rrScore -= total;
    return best;
  },
})) satisfies BalancerFactory;
