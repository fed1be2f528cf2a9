// What can go wrong talking to a server, as one error type with a stable code and the server's
// address, so /status, events and the access log's `reason` can name both. Every way flagman
// reaches a server raises it: pooled HTTP requests, upgrades, tcp connections and HTTP health checks alike.

/**
 * flagman's own codes (a registry table: the docs below and the tests iterate over it). A failed
 * socket carries the system's code instead (ECONNREFUSED, ECONNRESET, EPIPE, EMFILE, …). What each
 * means for the client (another server, 502, 504, a cut) is decided in one place: proxy/attempt.ts.
 */
export const UPSTREAM_ERROR_CODES = {
  /** Raised by upstream/dial.ts only, for every kind of exchange; the access log says `connect timeout`. */
  CONNECT_TIMEOUT: 'no connection to the server within timeouts.connect',
  SERVER_TIMEOUT: 'the server sent nothing and read nothing for timeouts.server',
  SERVER_CLOSED: 'the server closed the connection before its response was complete',
  BAD_RESPONSE:
    "the server sent something that is not an HTTP/1.x response flagman can pass on (the detail says what, in the parser's words)",
  SHUTDOWN: 'flagman closed the connection as it shuts down (the shutdown deadline passed)',
} as const;

export type UpstreamErrorCode = keyof typeof UPSTREAM_ERROR_CODES | (string & {});

export class UpstreamError extends Error {
  override name = 'UpstreamError';
  readonly code: UpstreamErrorCode;
  /** The server's `host:port`. */
  readonly address: string;
  /** What happened, without the address. */
  readonly detail: string;

  constructor(code: UpstreamErrorCode, detail: string, address: string, options?: { cause?: unknown }) {
    super(`${address}: ${detail}`, options);
    this.code = code;
    this.address = address;
    this.detail = detail;
  }
}
