// Every change of a server's state (server-state.ts) is one event line (docs/health.md), whether a flag
// changed its weight or checks changed its health. Found by comparing the runtime being replaced
// with its successor, so a change is logged exactly when routing starts to follow it.
import { events } from '../log.js';
import type { Runtime } from './runtime.js';

/** Logs one `server.state` event for each server whose state differs between `prev` and `next`. */
export function logStateChanges(prev: Runtime, next: Runtime): void {
  for (const target of next.targets.values()) {
    const before = prev.targets.get(target.name);
    if (target.kind !== 'proxy' || before?.kind !== 'proxy') continue;
    for (const s of target.servers) {
      const old = before.servers.find((o) => o.name === s.name);
      if (old === undefined || old.status === s.status) continue;
      const change = old.health !== s.health ? s.state.change : null;
      const why =
        change === null
          ? `weight ${s.weight}`
          : `${change.results} ${s.health === 'up' ? 'passed' : 'failed'} checks, the last ${change.source}: ${change.detail}`;
      // Down is what an operator has to act on: `warn`, so a filter on level >= 40 shows it (as
      // HAProxy alerts on a server going DOWN); up and drain (a flag's doing) are `info`
      // (docs/logs.md, the table of levels).
      events[s.status === 'down' ? 'warn' : 'info'](
        {
          event: 'server.state',
          backend: target.name,
          server: s.name,
          from: old.status,
          to: s.status,
          weight: s.weight,
          health: s.health,
          check: change?.source ?? null,
          results: change?.results ?? null,
          detail: change?.detail ?? null,
        },
        `server ${target.name}/${s.name} ${old.status} → ${s.status} (${why})`,
      );
    }
  }
}
