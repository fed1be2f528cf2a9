// Counters across processes: each worker counts the requests it serves (plain increments, as in a
// single process); the primary adds the workers' latest counts up into its own ObservedState, which
// /status, /metrics and the dashboard read as they would in a single process.
import { logDrops, type LogDrops } from '../log.js';
import type { ObservedState } from '../runtime/servers.js';
import type { Stats } from './messages.js';

/** This process's counters, to send to the primary. */
export function takeStats(observed: ObservedState): Stats {
  const all = observed.all();
  return {
    frontends: [...all.frontends].map(([n, c]) => [n, { requests: c.requests, active: c.active, responses: [...c.responses], bytesIn: c.bytesIn, bytesOut: c.bytesOut }]),
    backends: [...all.backends].map(([n, c]) => [n, { requests: c.requests, active: c.active, responses: [...c.responses], bytesIn: c.bytesIn, bytesOut: c.bytesOut }]),
    servers: [...all.servers].map(([k, s]) => [k, { requests: s.requests, active: s.active, failures: s.failures, bytesIn: s.bytesIn, bytesOut: s.bytesOut }]),
    logs: logDrops(),
  };
}

/**
 * Sets the primary's counters to the sum of every worker's latest `stats` (those of workers that
 * have exited included, so no request is forgotten). A server's failures also keep the primary's
 * own failed checks.
 */
export function addUp(primary: ObservedState, stats: Iterable<Stats>): void {
  const all = primary.all();
  for (const c of [...all.frontends.values(), ...all.backends.values()]) {
    c.requests = 0;
    c.active = 0;
    c.responses.fill(0);
    c.bytesIn = 0;
    c.bytesOut = 0;
  }
  for (const s of all.servers.values()) {
    s.requests = 0;
    s.active = 0;
    s.failures = s.checkFailures;
    s.bytesIn = 0;
    s.bytesOut = 0;
  }
  for (const st of stats) {
    for (const [name, c] of st.frontends) add(primary.frontend(name), c);
    for (const [name, c] of st.backends) add(primary.backend(name), c);
    for (const [key, c] of st.servers) {
      const s = primary.get(key);
      if (!s) continue; // a server no config of the primary's has declared since
      s.requests += c.requests;
      s.active += c.active;
      s.failures += c.failures;
      s.bytesIn += c.bytesIn ?? 0;
      s.bytesOut += c.bytesOut ?? 0;
    }
  }
}

/** The primary's own dropped log lines plus every worker's latest count. */
export function addUpLogs(own: LogDrops, stats: Iterable<Stats>): LogDrops {
  let { access, events } = own;
  for (const st of stats) {
    access += st.logs.access;
    events += st.logs.events;
  }
  return { access, events };
}

type Added = { requests: number; active: number; responses: number[]; bytesIn: number; bytesOut: number };

function add(into: Added, c: Added): void {
  into.requests += c.requests;
  into.active += c.active;
  into.bytesIn += c.bytesIn ?? 0;
  into.bytesOut += c.bytesOut ?? 0;
  for (let i = 0; i < into.responses.length; i++) into.responses[i]! += c.responses[i] ?? 0;
}
