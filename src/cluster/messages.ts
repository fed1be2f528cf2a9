// What the primary and its workers say to each other over the cluster IPC channel (cluster/).
// Plain JSON-able objects; `t` names the message.
import type { FlagState } from '../flags/snapshot.js';
import type { LogDrops } from '../log.js';
import type { HistogramCounts } from '../runtime/histogram.js';
import type { CheckSource, ConnectionCounters, FrontendLimitCounters, HealthChange } from '../runtime/servers.js';
import type { Health } from '../runtime/server-state.js';

/**
 * One worker's counters since it started, to be added up by the primary. Totals, not deltas: the
 * primary keeps each worker's latest report, asked for or sent unasked, so no request is counted
 * twice. One member per kind of counter: a new kind is a new member (and its lines in stats.ts).
 */
export interface Stats {
  readonly frontends: readonly [string, CounterStats][];
  readonly backends: readonly [string, CounterStats][];
  /** Each server's counters, and its connect and time-to-first-byte histograms. */
  readonly servers: readonly [
    string,
    {
      requests: number;
      active: number;
      failures: number;
      bytesIn: number;
      bytesOut: number;
      connect: HistogramCounts;
      ttfb: HistogramCounts;
    },
  ][];
  /** Each backend queue's figures (runtime/queue.ts), `wait` its histogram's. */
  readonly queues: readonly [string, { length: number; queued: number; timeouts: number; full: number; wait: HistogramCounts }][];
  /** Its client connections and its own cap (each worker caps itself by the descriptor limit). */
  readonly connections: ConnectionCounters;
  /** Lines the worker's logs dropped since it started. */
  readonly logs: LogDrops;
  /** Each frontend's maxconn and refusals, and each rule's refusals and rate-limit keys (`frontend/N`). */
  readonly limits: {
    readonly frontends: readonly [string, FrontendLimitCounters][];
    readonly rules: readonly [string, { bodyTooLarge: number; rateLimited: number; keys: number }][];
  };
}

/** A frontend's or a backend's counters (runtime/servers.ts, Counters), its request-duration histogram's figures with them. */
export interface CounterStats {
  requests: number;
  active: number;
  responses: number[];
  bytesIn: number;
  bytesOut: number;
  duration: HistogramCounts;
}

/**
 * What a worker's rate limits admitted since its last report, by rule (`frontend/N`) and key: the
 * other workers take it off their own buckets (cluster/rate-sync.ts).
 */
export type Spent = readonly [string, readonly [string, number][]][];

export type ToWorker =
  /** Sent once after the fork: the whole flag snapshot and every known health. */
  | {
      readonly t: 'init';
      /** The primary's TLS ticket keys, base64 (tls/ticket-keys.ts): a ticket resumes on any worker. */
      readonly ticketKeys: string;
      readonly version: number;
      readonly flags: readonly [string, FlagState][];
      readonly health: readonly [string, Health, HealthChange | null][];
    }
  /** A new flag snapshot, as the entries that changed and the names that went away. */
  | { readonly t: 'flags'; readonly version: number; readonly set: readonly [string, FlagState][]; readonly removed: readonly string[] }
  | { readonly t: 'health'; readonly key: string; readonly health: Health; readonly change: HealthChange | null }
  | { readonly t: 'reload'; readonly generation: number; readonly id: number }
  | { readonly t: 'stats'; readonly id: number }
  /** SIGUSR1 reached the primary: reopen the access log's file by its path (logrotate moved it). */
  | { readonly t: 'reopen' }
  /** What another worker's rate limits admitted. */
  | { readonly t: 'spent'; readonly spent: Spent }
  | { readonly t: 'stop' };

export type ToPrimary =
  /** The worker is listening for messages: the primary answers with `init`. */
  | { readonly t: 'hello' }
  | { readonly t: 'ready' }
  | { readonly t: 'check'; readonly key: string; readonly pass: boolean; readonly source: CheckSource; readonly detail: string }
  | {
      readonly t: 'reloaded';
      readonly generation: number;
      readonly id: number;
      readonly error: string | null;
      /** The error codes of what failed (docs/errors.md). */
      readonly codes: readonly string[];
    }
  /** An answer to `stats` (`id`), or one sent unasked: every STATS_REPORT_MS, and as the worker stops (`id` null). */
  | { readonly t: 'stats'; readonly id: number | null; readonly stats: Stats }
  /** What this worker's rate limits admitted since its last report, for the others (every RATE_SYNC_MS). */
  | { readonly t: 'spent'; readonly spent: Spent };
