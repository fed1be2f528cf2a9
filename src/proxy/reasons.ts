// The access log's `reason` words that more than one kind of exchange uses (HTTP requests, upgrades,
// tcp connections), in one table so that they never drift apart. The upstream's own words (a
// server's timeout or close, before or within the body) are named in upstream.ts; the full table is
// in docs/logs.md and docs/tcp.md.

export const REASONS = {
  /** The client closed its connection (or cancelled its stream) before the response was complete. */
  clientClosed: 'client closed',
  /** flagman cut a client that stalled: a request head (408) or body (timeouts.client), or taking no byte of its response (timeouts.server). */
  clientTimeout: 'client timeout',
  /** The shutdown deadline cut the response. */
  shutdown: 'shutdown',
  /** A refuse backend: the connection is closed without an answer. */
  refused: 'refused',
  /** No rule of the frontend matched. */
  noRule: 'no rule matched',
  /** The backend has no eligible server, and no fallback. */
  noServer: 'no eligible server',
  /** Every eligible server refused the connection or was unreachable. */
  unreachable: 'no server reachable',
  /** The last server tried did not accept within timeouts.connect. */
  connectTimeout: 'connect timeout',
} as const;

let shuttingDown = false;

/**
 * The shutdown deadline is cutting every exchange still open (lifecycle/listeners.ts): their access
 * lines say so instead of blaming the client. Never undone: the process exits next.
 */
export function cuttingForShutdown(): void {
  shuttingDown = true;
}

/** Why an exchange closed before its end: the shutdown deadline, or else its client. */
export function closedReason(): string {
  return shuttingDown ? REASONS.shutdown : REASONS.clientClosed;
}
