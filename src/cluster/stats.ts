// Counters across processes: each worker counts the requests it serves (plain increments, as in a
// single process); the primary adds the workers' latest counts up into its own ObservedState, which
// /status, /metrics and the dashboard read as they would in a single process.
import { logDrops, type LogDrops } from '../log.js';
import type { Counters, ObservedState } from '../runtime/servers.js';
import type { CounterStats, Stats } from './messages.js';

/**
 * How often a worker sends its counters unasked: what a worker killed outright (SIGKILL, the OOM
 * killer) takes with it is at most this much of its traffic. A report is one walk over the counters
 * and one IPC message, about 0.1 ms of the worker's CPU; the request path itself only increments,
 * as in a single process.
 */
export const STATS_REPORT_MS = 100;

/** This process's counters, to send to the primary. */
export function takeStats(observed: ObservedState): Stats {
  const all = observed.all();
  return {
    frontends: [...all.frontends].map(([n, c]) => [n, counters(c)]),
    backends: [...all.backends].map(([n, c]) => [n, counters(c)]),
    servers: [...all.servers].map(([k, s]) => [
      k,
      {
        requests: s.requests,
        active: s.active,
        failures: s.failures,
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
        connect: s.connect.snapshot(),
        ttfb: s.ttfb.snapshot(),
      },
    ]),
    queues: [...all.queues].map(([n, q]) => [
      n,
      { length: q.length, queued: q.queued, timeouts: q.timeouts, full: q.full, wait: q.wait.snapshot() },
    ]),
    connections: { ...observed.connections },
    logs: logDrops(),
    limits: {
      frontends: [...all.frontendLimits].map(([n, c]) => [n, { ...c }]),
      rules: [...all.rules].map(([k, r]) => [k, { bodyTooLarge: r.bodyTooLarge, rateLimited: r.rateLimited, keys: r.keys }]),
    },
  };
}

function counters(c: Counters): CounterStats {
  return {
    requests: c.requests,
    active: c.active,
    responses: [...c.responses],
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
    duration: c.duration.snapshot(),
  };
}

/** The last report of a worker that has exited: its counts stay, none of its requests is in flight. */
export function ended(stats: Stats): Stats {
  const idle = <C extends { active: number }>([name, c]: readonly [string, C]): [string, C] => [name, { ...c, active: 0 }];
  // Nor does it hold connections, or room for any, or anything waiting, or rate-limit keys.
  const queues = stats.queues.map(([name, q]): [string, typeof q] => [name, { ...q, length: 0 }]);
  const limits = {
    frontends: stats.limits.frontends.map(([n, c]): [string, typeof c] => [n, { ...c, open: 0, waiting: 0 }]),
    rules: stats.limits.rules.map(([k, r]): [string, typeof r] => [k, { ...r, keys: 0 }]),
  };
  return {
    ...stats,
    frontends: stats.frontends.map(idle),
    backends: stats.backends.map(idle),
    servers: stats.servers.map(idle),
    queues,
    connections: { ...stats.connections, open: 0, max: 0 },
    limits,
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
    c.duration.reset();
  }
  for (const s of all.servers.values()) {
    s.requests = 0;
    s.active = 0;
    s.failures = s.checkFailures;
    s.bytesIn = 0;
    s.bytesOut = 0;
    s.connect.reset();
    s.ttfb.reset();
  }
  for (const q of all.queues.values()) {
    q.length = 0;
    q.queued = 0;
    q.timeouts = 0;
    q.full = 0;
    q.wait.reset();
  }
  for (const c of all.frontendLimits.values()) {
    c.bodyTooLarge = 0;
    c.rateLimited = 0;
    c.open = 0;
    c.waiting = 0;
    c.waited = 0;
    c.proxyHeaderRefused = 0;
  }
  for (const r of all.rules.values()) {
    r.bodyTooLarge = 0;
    r.rateLimited = 0;
    r.reportedKeys = 0;
  }
  // The caps add up too: together the workers hold at most the sum (null: one of them has none).
  const conns = primary.connections;
  conns.open = 0;
  conns.refused = 0;
  conns.max = 0;
  for (const st of stats) {
    conns.open += st.connections.open;
    conns.refused += st.connections.refused;
    conns.max = conns.max === null || st.connections.max === null ? null : conns.max + st.connections.max;
    for (const [name, c] of st.frontends) add(primary.frontend(name), c);
    for (const [name, c] of st.limits.frontends) {
      const into = primary.frontendLimits(name);
      into.bodyTooLarge += c.bodyTooLarge;
      into.rateLimited += c.rateLimited;
      into.open += c.open;
      into.waiting += c.waiting;
      into.waited += c.waited;
      into.proxyHeaderRefused += c.proxyHeaderRefused ?? 0;
    }
    for (const [key, r] of st.limits.rules) {
      const into = primary.ruleByKey(key);
      into.bodyTooLarge += r.bodyTooLarge;
      into.rateLimited += r.rateLimited;
      // Every worker holds its own buckets for much the same keys: the most any one holds.
      into.reportedKeys = Math.max(into.reportedKeys, r.keys);
    }
    for (const [name, c] of st.backends) add(primary.backend(name), c);
    for (const [key, c] of st.servers) {
      const s = primary.get(key);
      if (!s) continue; // a server no config of the primary's has declared since
      s.requests += c.requests;
      s.active += c.active;
      s.failures += c.failures;
      s.bytesIn += c.bytesIn ?? 0;
      s.bytesOut += c.bytesOut ?? 0;
      s.connect.add(c.connect);
      s.ttfb.add(c.ttfb);
    }
    for (const [name, c] of st.queues) {
      const q = primary.queue(name);
      q.length += c.length;
      q.queued += c.queued;
      q.timeouts += c.timeouts;
      q.full += c.full;
      q.wait.add(c.wait);
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

function add(into: Counters, c: CounterStats): void {
  into.duration.add(c.duration);
  into.requests += c.requests;
  into.active += c.active;
  into.bytesIn += c.bytesIn ?? 0;
  into.bytesOut += c.bytesOut ?? 0;
  for (let i = 0; i < into.responses.length; i++) into.responses[i]! += c.responses[i] ?? 0;
}
