// What a running instance exposes to whoever reads it (the admin endpoint: /status, /metrics,
// /explain), and how the command that runs it puts that reader on top. Declared here, under the
// surface layer that implements them, so that run() can start the admin endpoint without knowing it.
import type http from 'node:http';
import type { DescriptorBudget } from '../descriptors.js';
import type { ExplainRequest, Explanation } from '../explain/explain.js';
import type { FlagSnapshot } from '../flags/snapshot.js';
import type { WatcherStatus } from '../flags/store.js';
import type { LogDrops } from '../log.js';
import type { Runtime } from '../runtime/runtime.js';
import type { ConnectionCounters } from '../runtime/servers.js';

/** What the status document is built from, read on each request to the admin endpoint. */
export interface StatusSources {
  readonly pid: number;
  readonly version: string;
  readonly startedAt: number;
  readonly configFile: string;
  lastReload(): { readonly at: number; readonly ok: boolean; readonly error: string | null };
  runtime(): Runtime;
  flags(): FlagSnapshot;
  watcher(): WatcherStatus;
  /** The descriptor budget measured at start, and the client connections it caps. */
  process(): { readonly budget: DescriptorBudget; readonly connections: ConnectionCounters };
  /** Problems with TLS certificate files (the previous certificate still serving). */
  readonly tls?: (() => readonly string[]) | undefined;
  /** Log lines dropped since start (with workers: theirs too). */
  logs(): LogDrops;
  /** With `workers` above 1: each worker's process id (null while it starts). */
  readonly workers?: (() => readonly (number | null)[]) | undefined;
}

/** The status document's sources, and what only the metrics and /explain need. */
export interface AdminSources extends StatusSources {
  /** Brings the counters up to date before a read (a primary adds up its workers'). */
  readonly refresh?: (() => Promise<void>) | undefined;
  reloadFailures(): number;
  explain(req: ExplainRequest): Explanation;
}

/**
 * The admin endpoint, given by the command: called once with the instance's sources, it returns
 * the factory of the endpoint's server, called again each time a reload moves the endpoint.
 */
export type AdminSurface = (sources: AdminSources) => () => http.Server;
