// `/metrics` in the Prometheus text format (docs/admin.md): the same figures as `/status`, taken from the
// status document itself at scrape time, so the two can never disagree and server state is decided
// in one place (status.ts). The request path never touches prom-client: it does plain increments
// on the counters the runtime holds (runtime/servers.ts), and a scrape copies them here — the cheapest way
// to have no label lookup per request.
import client from 'prom-client';
import type { AdminSources } from '../lifecycle/sources.js';
import type { CumulativeHistogram } from '../runtime/histogram.js';
import { SERVER_STATES } from '../runtime/server-state.js';
import { statusDocument } from './status.js';
import type { Bytes, QueueStatus, Responses, ServerDocument, StatusDocument } from './status-types.js';

// The refusals of a rule's limits: the /status key, and the `reason` label (the access log's
// reason, "body too large" or "rate limited", in one word as the queue's `timeout` and `full` are).
const REFUSALS = [
  ['bodyTooLarge', 'body_too_large'],
  ['rateLimited', 'rate_limited'],
] as const;

/** A registry ready to render: the text and its Content-Type. */
export interface MetricsRegistry {
  readonly contentType: string;
  render(): Promise<string>;
}

/** Labels with a histogram of the status document (ms, cumulative), as the `fill` of histogram() hands them. */
type HistogramFill = (d: StatusDocument, fill: (labels: Record<string, string>, h: CumulativeHistogram | null) => void) => void;

/**
 * A histogram family `name` (base unit seconds) over the status document's histograms, which the
 * request path fills with plain increments as it does every counter (runtime/histogram.ts).
 * prom-client's Histogram only counts what is observed through it, so this metric hands the
 * registry the buckets in the shape a metric's get() returns (what Registry.getMetricsAsJSON gives
 * out): `_bucket` by `le` in ascending order up to `+Inf`, `_sum` and `_count`. A null histogram
 * (a tcp frontend's, backend's or server's where nothing is timed) has no series.
 */
function histogram(registry: client.Registry, current: () => StatusDocument | null, name: string, help: string, each: HistogramFill): void {
  const get = async () => {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    const d = current();
    if (d !== null) {
      each(d, (labels, h) => {
        if (h === null) return;
        const buckets = Object.entries(h.buckets)
          .map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n] as const)
          .sort((a, b) => a[0] - b[0]);
        for (const [le, n] of buckets)
          values.push({ labels: { ...labels, le: le === Infinity ? '+Inf' : le / 1000 }, value: n, metricName: `${name}_bucket` });
        values.push({ labels, value: h.sum / 1000, metricName: `${name}_sum` });
        values.push({ labels, value: h.count, metricName: `${name}_count` });
      });
    }
    return { name, help, type: 'histogram', values, aggregator: 'sum' };
  };
  registry.registerMetric({ name, help, type: 'histogram', aggregator: 'sum', reset: () => {}, get } as unknown as client.Metric);
}

/** A registry of flagman's metrics over `sources`, plus Node's process metrics. */
export function metricsRegistry(sources: AdminSources): MetricsRegistry {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  // The document of the scrape in progress: computed once in render(), read by every collect().
  let doc: StatusDocument | null = null;
  const each = <T>(fill: (d: StatusDocument) => void) =>
    function (this: T & { reset(): void }): void {
      this.reset(); // series of removed backends or flags disappear
      if (doc) fill(doc);
    };

  const counter = (name: string, help: string, labelNames: string[], fill: (c: client.Counter, d: StatusDocument) => void): void => {
    const c: client.Counter = new client.Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect: each<client.Counter>((d) => fill(c, d)),
    });
  };
  const gauge = (name: string, help: string, labelNames: string[], fill: (g: client.Gauge, d: StatusDocument) => void): void => {
    const g: client.Gauge = new client.Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect: each<client.Gauge>((d) => fill(g, d)),
    });
  };
  const responses = (c: client.Counter, labels: Record<string, string>, r: Responses): void => {
    for (const [cls, n] of Object.entries(r)) c.inc({ ...labels, code: cls }, n);
  };

  counter('flagman_frontend_requests_total', 'Requests received by a frontend.', ['frontend'], (c, d) => {
    for (const [frontend, f] of Object.entries(d.frontends)) c.inc({ frontend }, f.requests);
  });
  counter('flagman_frontend_responses_total', 'Responses sent by a frontend, by status class.', ['frontend', 'code'], (c, d) => {
    for (const [frontend, f] of Object.entries(d.frontends)) responses(c, { frontend }, f.responses);
  });
  gauge('flagman_frontend_active', 'Requests in flight on a frontend.', ['frontend'], (g, d) => {
    for (const [frontend, f] of Object.entries(d.frontends)) g.set({ frontend }, f.active);
  });
  // A frontend's maxconn, as a server's (0: no limit), and its client connections under it.
  gauge(
    'flagman_frontend_maxconn',
    "A frontend's maxconn: the most client connections it serves at once, every listener together (0: no limit).",
    ['frontend'],
    (g, d) => {
      for (const [frontend, f] of Object.entries(d.frontends)) g.set({ frontend }, f.maxconn);
    },
  );
  gauge('flagman_frontend_connections', 'Client connections a frontend is serving.', ['frontend'], (g, d) => {
    for (const [frontend, f] of Object.entries(d.frontends)) g.set({ frontend }, f.connections.open);
  });
  gauge(
    'flagman_frontend_connections_waiting',
    "Client connections accepted and waiting, unread, for a frontend's maxconn.",
    ['frontend'],
    (g, d) => {
      for (const [frontend, f] of Object.entries(d.frontends)) g.set({ frontend }, f.connections.waiting);
    },
  );
  counter(
    'flagman_frontend_connections_waited_total',
    "Client connections that had to wait for a frontend's maxconn.",
    ['frontend'],
    (c, d) => {
      for (const [frontend, f] of Object.entries(d.frontends)) c.inc({ frontend }, f.connections.waited);
    },
  );
  // acceptProxy (docs/proxying.md, "Behind a load balancer"): connections closed for want of a valid header.
  counter(
    'flagman_frontend_proxy_header_refused_total',
    'Client connections a frontend with acceptProxy closed without a valid PROXY header.',
    ['frontend'],
    (c, d) => {
      for (const [frontend, f] of Object.entries(d.frontends)) c.inc({ frontend }, f.connections.proxyHeaderRefused);
    },
  );
  // A rule's limits (docs/proxying.md, "Limits and the queue"): what they refused, by reason.
  counter(
    'flagman_frontend_refused_total',
    "Requests a frontend's rules refused for their limits: " +
      'a body over maxBody (body_too_large, 413), over a rate limit (rate_limited, 429).',
    ['frontend', 'reason'],
    (c, d) => {
      for (const [frontend, f] of Object.entries(d.frontends))
        for (const [key, reason] of REFUSALS) c.inc({ frontend, reason }, f.refused[key]);
    },
  );
  counter(
    'flagman_rule_refused_total',
    'Requests refused by the limits of a rule (its number in the file), by reason (body_too_large, rate_limited).',
    ['frontend', 'rule', 'reason'],
    (c, d) => {
      for (const [frontend, f] of Object.entries(d.frontends)) {
        for (const r of f.rules) for (const [key, reason] of REFUSALS) c.inc({ frontend, rule: String(r.rule), reason }, r.refused[key]);
      }
    },
  );
  gauge(
    'flagman_rule_rate',
    "A rate-limited rule's rate under the current flags, requests a second (rules without one have no series).",
    ['frontend', 'rule'],
    (g, d) => {
      for (const [frontend, f] of Object.entries(d.frontends))
        for (const r of f.rules) if (r.limit !== null) g.set({ frontend, rule: String(r.rule) }, r.limit.rate);
    },
  );
  counter('flagman_backend_requests_total', 'Requests routed to a backend.', ['backend'], (c, d) => {
    for (const [backend, b] of Object.entries(d.backends)) c.inc({ backend }, b.requests);
  });
  counter('flagman_backend_responses_total', 'Responses from a backend, by status class.', ['backend', 'code'], (c, d) => {
    for (const [backend, b] of Object.entries(d.backends)) responses(c, { backend }, b.responses);
  });
  gauge('flagman_backend_active', 'Requests in flight to a backend.', ['backend'], (g, d) => {
    for (const [backend, b] of Object.entries(d.backends)) g.set({ backend }, b.active);
  });
  const servers = (fill: (labels: { backend: string; server: string }, s: ServerDocument) => void) => (d: StatusDocument) => {
    for (const [backend, b] of Object.entries(d.backends))
      for (const [server, s] of Object.entries(b.servers)) fill({ backend, server }, s);
  };
  counter('flagman_server_requests_total', 'Requests sent to a server.', ['backend', 'server'], (c, d) =>
    servers((l, s) => c.inc(l, s.requests))(d),
  );
  counter('flagman_server_failures_total', 'Connect failures, resets and timeouts of a server.', ['backend', 'server'], (c, d) =>
    servers((l, s) => c.inc(l, s.failures))(d),
  );
  gauge('flagman_server_active', 'Requests in flight to a server.', ['backend', 'server'], (g, d) =>
    servers((l, s) => g.set(l, s.active))(d),
  );
  gauge('flagman_server_weight', "A server's current weight (0: drained).", ['backend', 'server'], (g, d) =>
    servers((l, s) => g.set(l, s.weight))(d),
  );
  gauge(
    'flagman_server_maxconn',
    "A server's current maxconn: the most requests (tcp: connections) in flight to it at once (0: no limit).",
    ['backend', 'server'],
    (g, d) => servers((l, s) => g.set(l, s.maxconn))(d),
  );
  // Backend queues (docs/proxying.md, "Limits and the queue"); backends without servers have none.
  const queues = (fill: (backend: string, q: QueueStatus) => void) => (d: StatusDocument) => {
    for (const [backend, b] of Object.entries(d.backends)) if (b.queue !== null) fill(backend, b.queue);
  };
  gauge('flagman_backend_queue_length', 'Requests (tcp: connections) waiting for a server with a free slot.', ['backend'], (g, d) =>
    queues((backend, q) => g.set({ backend }, q.length))(d),
  );
  counter('flagman_backend_queued_total', 'Requests (tcp: connections) that waited in the queue.', ['backend'], (c, d) =>
    queues((backend, q) => c.inc({ backend }, q.queued))(d),
  );
  counter(
    'flagman_backend_queue_refused_total',
    'Requests (tcp: connections) the queue refused: after timeouts.queue (timeout), or at once when full (full).',
    ['backend', 'reason'],
    (c, d) =>
      queues((backend, q) => {
        c.inc({ backend, reason: 'timeout' }, q.timeouts);
        c.inc({ backend, reason: 'full' }, q.full);
      })(d),
  );
  const histograms = (name: string, help: string, each: HistogramFill): void => histogram(registry, () => doc, name, help, each);
  histograms(
    'flagman_backend_queue_wait_seconds',
    'How long requests (tcp: connections) waited in the queue: served, timed out or gone.',
    (d, fill) => queues((backend, q) => fill({ backend }, q.waitMs))(d),
  );
  // Request latency (docs/admin.md): HTTP requests only; upgrades and tcp connections last as long as their clients like.
  histograms(
    'flagman_frontend_request_duration_seconds',
    "How long a frontend's HTTP requests took, from their head read to their response's end.",
    (d, fill) => {
      for (const [frontend, f] of Object.entries(d.frontends)) fill({ frontend }, f.durationMs);
    },
  );
  histograms(
    'flagman_backend_request_duration_seconds',
    "How long the HTTP requests routed to a backend took, from their head read to their response's end.",
    (d, fill) => {
      for (const [backend, b] of Object.entries(d.backends)) fill({ backend }, b.durationMs);
    },
  );
  histograms('flagman_server_connect_duration_seconds', 'How long new connections to a server took to connect.', (d, fill) =>
    servers((l, s) => fill(l, s.connectMs))(d),
  );
  histograms(
    'flagman_server_ttfb_seconds',
    "A server's time to first byte: from a request (or an upgrade's handshake) written to its response head.",
    (d, fill) => servers((l, s) => fill(l, s.ttfbMs))(d),
  );
  gauge('flagman_server_state', "A server's state: 1 for the one it is in (up, down or drain).", ['backend', 'server', 'state'], (g, d) =>
    servers((l, s) => {
      for (const state of SERVER_STATES) g.set({ ...l, state }, s.state === state ? 1 : 0);
    })(d),
  );
  // tcp frontends, backends and servers only (HTTP ones have no byte counts: no series).
  const byteCounters = (
    what: 'frontend' | 'backend' | 'server',
    each: (d: StatusDocument, fill: (l: Record<string, string>, b: Bytes) => void) => void,
  ): void => {
    for (const [dir, key, help] of [
      ['in', 'bytesIn', 'received from clients'],
      ['out', 'bytesOut', 'sent to clients'],
    ] as const) {
      counter(
        `flagman_${what}_bytes_${dir}_total`,
        `tcp mode: bytes ${help} through a ${what}.`,
        what === 'server' ? ['backend', 'server'] : [what],
        (c, d) =>
          each(d, (l, b) => {
            const n = b[key];
            if (n !== null) c.inc(l, n);
          }),
      );
    }
  };
  byteCounters('frontend', (d, fill) => {
    for (const [frontend, f] of Object.entries(d.frontends)) fill({ frontend }, f);
  });
  byteCounters('backend', (d, fill) => {
    for (const [backend, b] of Object.entries(d.backends)) fill({ backend }, b);
  });
  byteCounters('server', (d, fill) => servers(fill)(d));
  gauge('flagman_flag_value', "A flag's applied value (unset flags have no series).", ['flag'], (g, d) => {
    for (const [flag, f] of Object.entries(d.flags)) if (f.value !== null) g.set({ flag }, f.value);
  });
  gauge('flagman_flag_problem', '1 while a flag file has a problem (its last good value stays).', ['flag'], (g, d) => {
    for (const [flag, f] of Object.entries(d.flags)) g.set({ flag }, f.problem === null ? 0 : 1);
  });
  gauge('flagman_config_generation', 'Successful config loads since start, the start included.', [], (g, d) => g.set(d.config.generation));
  gauge('flagman_config_last_reload_success', '1 when the last load or reload succeeded.', [], (g, d) =>
    g.set(d.config.lastReload.ok ? 1 : 0),
  );
  gauge('flagman_config_last_reload_timestamp_seconds', 'When the config was last loaded or a reload was tried.', [], (g, d) => {
    if (d.config.lastReload.at !== null) g.set(Date.parse(d.config.lastReload.at) / 1000);
  });
  counter('flagman_config_reload_failures_total', 'Reloads that failed and kept the previous config.', [], (c) =>
    c.inc(sources.reloadFailures()),
  );
  counter('flagman_flags_rescans_total', 'Full rescans of the flags directory.', [], (c, d) => c.inc(d.watcher.rescans));
  gauge('flagman_flags_polling', '1 when the flags directory is polled (no file-system events).', [], (g, d) =>
    g.set(d.watcher.mode === 'polling' ? 1 : 0),
  );
  gauge('flagman_tls_problems', 'TLS frontends whose certificate files fail to read (the previous certificate still serves).', [], (g) =>
    g.set(sources.tls?.().length ?? 0),
  );
  // Near the descriptor limit (docs/limits.md): no series for what is unknown (no limit read, no cap).
  gauge('flagman_fd_limit', 'The soft limit on open file descriptors, read at start.', [], (g, d) => {
    if (d.process.fdLimit !== null) g.set(d.process.fdLimit);
  });
  gauge(
    'flagman_connections_max',
    'Client connections held at once before new ones are refused (from the descriptor limit).',
    [],
    (g, d) => {
      if (d.process.maxConnections !== null) g.set(d.process.maxConnections);
    },
  );
  gauge('flagman_connections', 'Client connections open, every frontend together.', [], (g, d) => g.set(d.process.connections));
  counter('flagman_connections_refused_total', 'Client connections closed at accept because maxConnections were open.', [], (c, d) =>
    c.inc(d.process.refusedConnections),
  );
  counter(
    'flagman_log_dropped_total',
    'Log lines dropped: the log could not be written (a full disk, a reader too slow or gone).',
    ['log'],
    (c, d) => {
      for (const [log, l] of Object.entries(d.logs)) c.inc({ log }, l.dropped);
    },
  );
  // Prometheus' `*_build_info` convention: a constant 1, the facts in labels, so a query can join
  // on it (`* on(instance) group_left(version) flagman_build_info`) or spot a mixed fleet. The
  // version is the one /status shows (src/version.ts, through the sources).
  gauge('flagman_build_info', 'Always 1: the flagman version and the Node.js version it runs on, as labels.', ['version', 'node'], (g) =>
    g.set({ version: sources.version, node: process.version }, 1),
  );
  gauge('flagman_flags_watcher_problem', '1 while watching the flags directory is degraded.', [], (g, d) =>
    g.set(d.watcher.problem === null ? 0 : 1),
  );

  // Scrapes one at a time: `doc` belongs to the one in progress.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    contentType: registry.contentType,
    render(): Promise<string> {
      const next = queue.then(async () => {
        await sources.refresh?.();
        doc = statusDocument(sources);
        try {
          return await registry.metrics();
        } finally {
          doc = null;
        }
      });
      queue = next.catch(() => undefined);
      return next;
    },
  };
}
