// `/metrics`, its registry (metrics-registry.ts, on prom-client) built at the first scrape rather
// than at start: loading prom-client and starting Node's process metrics took 40 ms in a CPU
// profile of a start on Node 26; built at the first scrape, a start's CPU went from 240 to 210 ms
// (bench/RESULTS.md, "Start time"), for a page many never scrape.
// Node's own GC and event-loop-lag metrics therefore count from the first scrape; flagman's, taken
// from the status document, are whole from the start (docs/admin.md).
import type { AdminSources } from '../lifecycle/sources.js';
import { loadOnFirstUse } from '../on-first-use.js';
import type { MetricsRegistry } from './metrics-registry.js';

/** What the admin server needs to answer /metrics. */
export interface Metrics {
  /** The Prometheus text format's (prom-client's Registry.PROMETHEUS_CONTENT_TYPE; a unit test holds them equal). */
  readonly contentType: string;
  render(): Promise<string>;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** /metrics over `sources`: one registry, made when first rendered. */
export function createMetrics(sources: AdminSources): Metrics {
  let registry: Promise<MetricsRegistry> | null = null;
  return {
    contentType: PROMETHEUS_CONTENT_TYPE,
    render(): Promise<string> {
      registry ??= loadOnFirstUse('the /metrics registry', () => import('./metrics-registry.js')).then(
        (m) => m.metricsRegistry(sources),
        (err: unknown) => {
          registry = null; // the next scrape tries again
          throw err;
        },
      );
      return registry.then((r) => r.render());
    },
  };
}
