// The `/status` document (docs/admin.md, its shape in status-types.ts), built from the live objects
// on each request to the admin endpoint: the flag store's snapshot, the current runtime and the
// observed counters. A field with no value yet is null, never absent.
import type { StatusSources } from '../lifecycle/sources.js';
import type { CumulativeHistogram } from '../runtime/histogram.js';
import type { BackendQueue } from '../runtime/queue.js';
import type { ProxyTarget, RuntimeFrontend } from '../runtime/runtime.js';
import type { Counters } from '../runtime/servers.js';
import type {
  BackendStatus,
  Bytes,
  FlagStatus,
  FrontendStatus,
  QueueStatus,
  Responses,
  ServerDocument,
  StatusDocument,
} from './status-types.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

// Bytes are counted for tcp connections only (an HTTP frontend or backend has none: null, docs/admin.md).
function bytes(c: { bytesIn: number; bytesOut: number }, tcp: boolean): Bytes {
  return tcp ? { bytesIn: c.bytesIn, bytesOut: c.bytesOut } : { bytesIn: null, bytesOut: null };
}

function responses(c: Counters): Responses {
  return {
    '1xx': c.responses[1]!,
    '2xx': c.responses[2]!,
    '3xx': c.responses[3]!,
    '4xx': c.responses[4]!,
    '5xx': c.responses[5]!,
    other: c.responses[0]!,
  };
}

/**
 * How long a frontend's or a backend's requests took (ms, cumulative: runtime/histogram.ts); null in tcp
 * mode, whose connections are not timed (docs/admin.md).
 */
function duration(c: Counters, tcp: boolean): CumulativeHistogram | null {
  return tcp ? null : c.duration.cumulative();
}

/**
 * A proxy backend's queue (docs/proxying.md, "Limits and the queue"): waiting now, its bound and
 * timeout, the totals since start, and the waits as a cumulative histogram (ms; `/metrics` turns it
 * into flagman_backend_queue_wait_seconds).
 */
function queue(t: ProxyTarget, q: BackendQueue<unknown>): QueueStatus {
  return {
    length: q.length,
    max: t.queueBound,
    timeoutMs: t.timeouts.queue,
    queued: q.queued,
    timeouts: q.timeouts,
    full: q.full,
    waitMs: q.wait.cumulative(),
  };
}

/**
 * A frontend's limits (docs/proxying.md, "Limits and the queue"): its maxconn (0: no limit, as a
 * server's), its client connections served now and waiting for it, what its rules' limits refused,
 * and each rule's limits under the current flags (sizes in bytes; null: no limit).
 */
function limits(fe: RuntimeFrontend): Pick<FrontendStatus, 'maxconn' | 'connections' | 'refused' | 'rules'> {
  const c = fe.limitCounters;
  return {
    maxconn: fe.maxconn,
    connections: { open: c.open, waiting: c.waiting, waited: c.waited, proxyHeaderRefused: c.proxyHeaderRefused },
    refused: { bodyTooLarge: c.bodyTooLarge, rateLimited: c.rateLimited },
    rules: fe.limits.map((r) => ({
      rule: r.rule,
      use: r.use,
      maxBody: r.maxBody === Infinity ? null : r.maxBody,
      limit: r.limit === null ? null : { rate: r.limit.rate, burst: r.limit.burst, by: r.limit.by, keys: r.state.keys },
      refused: { bodyTooLarge: r.state.bodyTooLarge, rateLimited: r.state.rateLimited },
    })),
  };
}

/** The status document as a plain object, ready for JSON. */
export function statusDocument(src: StatusSources): StatusDocument {
  const runtime = src.runtime();
  const flags: Record<string, FlagStatus> = {};
  for (const [name, f] of [...src.flags().flags].sort(([a], [b]) => a.localeCompare(b))) {
    flags[name] = { value: f.value, note: f.note, changedAt: isoOrNull(f.changedAt), problem: f.problem };
  }
  const frontends: Record<string, FrontendStatus> = {};
  for (const fe of runtime.frontends) {
    // In tcp mode a request is a connection: `requests` counts them, `active` those open now.
    // acceptProxy: whether `connections.proxyHeaderRefused` can be anything but 0 (the dashboard shows it only then).
    const tcp = fe.mode === 'tcp';
    frontends[fe.name] = {
      mode: fe.mode,
      acceptProxy: fe.acceptProxy,
      requests: fe.counters.requests,
      active: fe.counters.active,
      responses: responses(fe.counters),
      ...bytes(fe.counters, tcp),
      durationMs: duration(fe.counters, tcp),
      ...limits(fe),
    };
  }
  const backends: Record<string, BackendStatus> = {};
  for (const t of runtime.targets.values()) {
    const servers: Record<string, ServerDocument> = {};
    const tcp = t.kind === 'refuse' || (t.kind === 'proxy' && t.mode === 'tcp');
    if (t.kind === 'proxy') {
      for (const s of t.servers) {
        // State as the current runtime routes by it (runtime/server-state.ts); the counters are live.
        // maxconn 0: no limit.
        // A tcp server's connections have no response head: no time to first byte.
        const state = s.state;
        servers[s.name] = {
          state: s.status,
          weight: s.weight,
          maxconn: s.maxconn,
          active: state.active,
          requests: state.requests,
          failures: state.failures,
          ...bytes(state, tcp),
          connectMs: state.connect.cumulative(),
          ttfbMs: tcp ? null : state.ttfb.cumulative(),
        };
      }
    }
    // A backend without servers has no queue: null.
    backends[t.name] = {
      mode: tcp ? 'tcp' : 'http',
      requests: t.counters.requests,
      active: t.counters.active,
      responses: responses(t.counters),
      ...bytes(t.counters, tcp),
      durationMs: duration(t.counters, tcp),
      queue: t.kind === 'proxy' ? queue(t, t.queue) : null,
      servers,
    };
  }
  const w = src.watcher();
  const logs = src.logs();
  const reload = src.lastReload();
  const { budget, connections } = src.process();
  return {
    pid: src.pid,
    version: src.version,
    startedAt: iso(src.startedAt),
    config: {
      file: src.configFile,
      generation: runtime.generation,
      lastReload: { at: iso(reload.at), ok: reload.ok, error: reload.error },
    },
    flags,
    frontends,
    backends,
    // Near the descriptor limit (docs/limits.md): new client connections are refused while `connections`
    // is at `maxConnections`; null where the limit is unknown (no cap).
    process: {
      fdLimit: budget.limit,
      fdReserve: budget.reserve,
      maxConnections: connections.max,
      connections: connections.open,
      refusedConnections: connections.refused,
    },
    watcher: { mode: w.mode, rescans: w.rescans, lastRescanAt: isoOrNull(w.lastRescanAt), problem: w.problem },
    problems: src.tls ? [...runtime.problems, ...src.tls()] : runtime.problems,
    // Lines a log could not write (a full disk, a reader too slow or gone): docs/logs.md.
    logs: { access: { dropped: logs.access }, events: { dropped: logs.events } },
    // One process: null. Several: the workers' process ids (their counters are added up above).
    workers: src.workers ? src.workers() : null,
  };
}
