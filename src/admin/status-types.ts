// The `/status` document (docs/admin.md), described once: status.ts builds it, metrics-registry.ts reads it
// for `/metrics`, the dashboard's script and `flagman status` read it, and `npm run schema` turns
// these types into docs/status.schema.json for anyone else who reads it. Types only: nothing here
// runs. A field with no value yet is null, never absent; the comments become the schema's
// descriptions.
import type { Mode } from '../config/schema.js';
import type { WatcherStatus } from '../flags/store.js';
import type { CumulativeHistogram } from '../runtime/histogram.js';
import type { ServerStatus } from '../runtime/server-state.js';

export type { CumulativeHistogram };

/** What a running flagman reports at `/status` (docs/admin.md). */
export interface StatusDocument {
  /** The process id of the primary (the process that answers). */
  readonly pid: number;
  /** flagman's version. */
  readonly version: string;
  /** When the process started (ISO 8601, UTC). */
  readonly startedAt: string;
  readonly config: ConfigStatus;
  /** Every flag that has a file, a value or a problem, by name. */
  readonly flags: { readonly [flag: string]: FlagStatus };
  /** By frontend name, in the order of the config. */
  readonly frontends: { readonly [frontend: string]: FrontendStatus };
  /** By backend name, in the order of the config. */
  readonly backends: { readonly [backend: string]: BackendStatus };
  /** The descriptor limit and the client connections it caps (docs/limits.md). */
  readonly process: ProcessStatus;
  /** How the flags directory is watched. */
  readonly watcher: WatcherDocument;
  /** What needs a person: config problems, TLS certificate files that fail to read. */
  readonly problems: readonly string[];
  /** Lines a log could not write (a full disk, a reader too slow or gone): docs/logs.md. */
  readonly logs: { readonly access: LogStatus; readonly events: LogStatus };
  /** One process: null. Several: each worker's process id (null while it starts); their counters are added up above. */
  readonly workers: readonly (number | null)[] | null;
}

export interface ConfigStatus {
  /** The config file's path. */
  readonly file: string;
  /** Successful config loads since start, the start included. */
  readonly generation: number;
  readonly lastReload: LastReload;
}

/** The last load or reload tried. */
export interface LastReload {
  /** When (ISO 8601, UTC). */
  readonly at: string;
  readonly ok: boolean;
  /** Why it failed (the previous config still serves); null when it succeeded. */
  readonly error: string | null;
}

export interface FlagStatus {
  /** The applied value; null: unset (no file, or never a good value). */
  readonly value: number | null;
  /** The first `#` comment of the last good content; null: none. */
  readonly note: string | null;
  /** When the value last changed (ISO 8601, UTC); null: not since start. */
  readonly changedAt: string | null;
  /** Why the file is not applied (its last good value stays); null: none. */
  readonly problem: string | null;
}

/** Responses by status class. */
export interface Responses {
  readonly '1xx': number;
  readonly '2xx': number;
  readonly '3xx': number;
  readonly '4xx': number;
  readonly '5xx': number;
  /** Requests that got no response (a closed connection). */
  readonly other: number;
}

/** Bytes are counted for tcp connections only: null in http mode. */
export interface Bytes {
  /** Received from clients. */
  readonly bytesIn: number | null;
  /** Sent to clients. */
  readonly bytesOut: number | null;
}

/** What a frontend's or a backend's traffic adds up to. */
export interface Traffic extends Bytes {
  readonly mode: Mode;
  /** Requests received (tcp: connections). */
  readonly requests: number;
  /** In flight now (tcp: connections open). */
  readonly active: number;
  readonly responses: Responses;
  /** How long HTTP requests took (ms); null in tcp mode, whose connections are not timed. */
  readonly durationMs: CumulativeHistogram | null;
}

/** Requests refused by a rule's limits. */
export interface Refused {
  /** A body over maxBody (413). */
  readonly bodyTooLarge: number;
  /** Over a rate limit (429). */
  readonly rateLimited: number;
}

/** A frontend: its traffic and its limits (docs/proxying.md, "Limits and the queue"). */
export interface FrontendStatus extends Traffic {
  /** Its connections start with a PROXY header: `connections.proxyHeaderRefused` can be more than 0. */
  readonly acceptProxy: boolean;
  /** The most client connections it serves at once; 0: no limit. */
  readonly maxconn: number;
  readonly connections: FrontendConnections;
  /** What its rules' limits refused, every rule together. */
  readonly refused: Refused;
  /** Every rule of the config, in file order, with its limits under the current flags. */
  readonly rules: readonly RuleStatus[];
}

export interface FrontendConnections {
  /** Client connections served now. */
  readonly open: number;
  /** Accepted and waiting, unread, for maxconn. */
  readonly waiting: number;
  /** Connections that had to wait for maxconn, since start. */
  readonly waited: number;
  /** Connections closed without a valid PROXY header (acceptProxy). */
  readonly proxyHeaderRefused: number;
}

export interface RuleStatus {
  /** The rule's number in the file (1-based). */
  readonly rule: number;
  /** Its backend. */
  readonly use: string;
  /** The largest request body in bytes; null: no limit. */
  readonly maxBody: number | null;
  /** Its rate limit under the current flags; null: not rate-limited. */
  readonly limit: RateLimitStatus | null;
  readonly refused: Refused;
}

export interface RateLimitStatus {
  /** Requests a second. */
  readonly rate: number;
  readonly burst: number;
  /** The `by` expression as written; null: one bucket for the rule. */
  readonly by: string | null;
  /** Buckets held now. */
  readonly keys: number;
}

/** A backend: a proxy's servers, or a fixed answer (respond, redirect, refuse) without servers. */
export interface BackendStatus extends Traffic {
  /** Its queue; null: a backend without servers has none. */
  readonly queue: QueueStatus | null;
  /** By server name. */
  readonly servers: { readonly [server: string]: ServerDocument };
}

/** Requests (tcp: connections) waiting for a server with a free slot. */
export interface QueueStatus {
  /** Waiting now. */
  readonly length: number;
  /** The most that may wait; null: no bound. */
  readonly max: number | null;
  /** timeouts.queue (ms). */
  readonly timeoutMs: number;
  /** Waited in the queue, since start. */
  readonly queued: number;
  /** Refused after timeouts.queue. */
  readonly timeouts: number;
  /** Refused at once, the queue full. */
  readonly full: number;
  /** How long they waited (ms). */
  readonly waitMs: CumulativeHistogram;
}

/** A server, as the current runtime routes by it; the counters are live. */
export interface ServerDocument extends Bytes {
  readonly state: ServerStatus;
  /** 0: drained. */
  readonly weight: number;
  /** The most requests (tcp: connections) in flight to it at once; 0: no limit. */
  readonly maxconn: number;
  readonly active: number;
  readonly requests: number;
  /** Connect failures, resets and timeouts. */
  readonly failures: number;
  /** How long new connections took to connect (ms). */
  readonly connectMs: CumulativeHistogram;
  /** Time to first byte (ms); null in tcp mode, where there is no response head. */
  readonly ttfbMs: CumulativeHistogram | null;
}

/** Near the descriptor limit, new client connections are refused while `connections` is at `maxConnections`. */
export interface ProcessStatus {
  /** The soft limit on open file descriptors, read at start; null: unknown. */
  readonly fdLimit: number | null;
  /** Descriptors kept back for everything but client connections; null: unknown. */
  readonly fdReserve: number | null;
  /** Client connections held at once before new ones are refused; null: no cap. */
  readonly maxConnections: number | null;
  /** Client connections open, every frontend together. */
  readonly connections: number;
  /** Closed at accept because maxConnections were open. */
  readonly refusedConnections: number;
}

export interface WatcherDocument {
  /** `polling` when the file system gives no events. */
  readonly mode: WatcherStatus['mode'];
  /** Full rescans of the flags directory. */
  readonly rescans: number;
  /** When the last one ran (ISO 8601, UTC); null: none yet. */
  readonly lastRescanAt: string | null;
  /** Why watching is degraded; null: it is not. */
  readonly problem: string | null;
}

export interface LogStatus {
  /** Lines dropped since start. */
  readonly dropped: number;
}

/**
 * A document as a reader gets it from an instance of any version (`flagman status`, the
 * dashboard): the fields named as here, any of them possibly missing or null, so the reader names
 * only fields that exist and still checks each value before it uses it. Not part of the schema.
 */
export type AsReceived<T> = T extends readonly (infer E)[]
  ? readonly (AsReceived<E> | null | undefined)[]
  : T extends object
    ? { readonly [K in keyof T]?: AsReceived<T[K]> | null }
    : T;
