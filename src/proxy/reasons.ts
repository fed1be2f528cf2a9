// The access log's `reason` words, for every kind of exchange (HTTP requests, upgrades, tcp
// connections), in one table so that they never drift apart; docs/logs.md and docs/tcp.md list
// them. What an upstream error is called comes from here too (failureReason, cutReason).
import type { UpstreamError } from '../upstream/error.js';

export const REASONS = {
  /** The client closed its connection (or cancelled its stream) before the response was complete. */
  clientClosed: 'client closed',
  /**
   * flagman cut a client that stalled: a request head (408) or body (timeouts.client), or taking
   * no byte of its response (timeouts.server).
   */
  clientTimeout: 'client timeout',
  /** The shutdown deadline cut the response. */
  shutdown: 'shutdown',
  /** A refuse backend: the connection is closed without an answer. */
  refused: 'refused',
  /** No rule of the frontend matched. */
  noRule: 'no rule matched',
  /** The request body is over the matched rule's maxBody (413; the server sees none of it, or a cut request: docs/proxying.md). */
  bodyTooLarge: 'body too large',
  /** The request is over the matched rule's rate limit (429 with Retry-After). */
  rateLimited: 'rate limited',
  /** The backend has no eligible server, and no fallback (or lost the last one while the exchange waited in its queue). */
  noServer: 'no eligible server',
  /** Every eligible server was at its maxconn for the backend's timeouts.queue (503; tcp: closed). */
  queueTimeout: 'queue timeout',
  /** Every eligible server was at its maxconn and the backend's queue was full (503 at once; tcp: closed). */
  queueFull: 'queue full',
  /** Every eligible server refused the connection or was unreachable. */
  unreachable: 'no server reachable',
  /** The last server tried did not accept within timeouts.connect (504; tcp: closed). */
  connectTimeout: 'connect timeout',
  /** The server sent no head, or no first body bytes, within timeouts.server (504). */
  serverTimeout: 'server timeout',
  /** The server closed before the client got anything (502). */
  serverClosedEarly: 'server closed the connection',
  /** The server paused longer than timeouts.server within the body: a cut. */
  serverTimeoutMidBody: 'server timeout mid-body',
  /** The server closed before the end of the body: a cut. */
  serverClosedMidBody: 'server closed mid-body',
  /** tcp: the server closed its side first. */
  serverClosed: 'server closed',
  /** tcp: no byte either way for the backend's timeouts.idle. */
  idle: 'idle timeout',
} as const;

/**
 * What an upstream error is called while nothing of the response has reached the client: in the
 * access log's `reason`, and as a passive check's detail in events.
 */
export function failureReason(err: UpstreamError): string {
  switch (err.code) {
    case 'CONNECT_TIMEOUT':
      return REASONS.connectTimeout;
    case 'SERVER_TIMEOUT':
      return REASONS.serverTimeout;
    case 'SERVER_CLOSED':
      return REASONS.serverClosedEarly;
    case 'SHUTDOWN':
      return REASONS.shutdown;
    case 'BAD_RESPONSE':
      return `bad response: ${err.detail}`;
    default:
      return err.code; // the system's: ECONNREFUSED, ECONNRESET, EHOSTUNREACH, EMFILE, …
  }
}

/** The access log's `reason` for a response cut short after its head reached the client. */
export function cutReason(err: UpstreamError): string {
  switch (err.code) {
    case 'SERVER_TIMEOUT':
      return REASONS.serverTimeoutMidBody;
    case 'SERVER_CLOSED':
      return REASONS.serverClosedMidBody;
    case 'SHUTDOWN':
      return REASONS.shutdown;
    case 'BAD_RESPONSE':
      return `bad response mid-body: ${err.detail}`;
    default:
      return `server error mid-body: ${err.code}`;
  }
}

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
