// A server's connection pool as the runtime knows it (docs/design/layers.md): observed state keeps
// one per server address so it outlives recompiles (servers.ts), and each Candidate carries its
// server's, looked up when a runtime is built. What a pool does with a request is the business of
// the layer that makes them (upstream/pool.ts): its factory is handed to ObservedState by the
// process that starts the proxy (lifecycle/run.ts, cluster/worker.ts), so the runtime names only
// this interface and the upstream layer stays above it. The proxy reads a pool as a plain property
// of a Candidate, as before: no lookup per request.

/** How long to wait for a connection, and how long a pooled connection may idle (ms). */
export interface PoolTimeouts {
  readonly connect: number;
  readonly idle: number;
}

/** What the runtime does with a pool: keep it, and close it at shutdown. */
export interface ServerPool {
  /** Closes every connection, ending requests still on them. */
  destroy(): Promise<void>;
}

/**
 * Makes the pool to `host:port` with `timeouts`, whose connections start with a PROXY header of
 * version `sendProxy` (null: none).
 */
export type PoolFactory = (host: string, port: number, timeouts: PoolTimeouts, sendProxy: 1 | 2 | null) => ServerPool;
