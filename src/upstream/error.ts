// What can go wrong talking to a server, as one error type with a stable code and the server's
// address, so /status, events and the access log's `reason` can name both.

/**
 * flagman's own codes, or the system's (ECONNREFUSED, ECONNRESET, EPIPE, …) for a failed socket:
 * - CONNECT_TIMEOUT: no connection within timeouts.connect;
 * - SERVER_TIMEOUT: the server sent nothing and read nothing for timeouts.server;
 * - SERVER_CLOSED: the server closed the connection before its response was complete;
 * - BAD_RESPONSE: the server sent something that is not an HTTP/1.x response flagman can pass on
 *   (the detail says what, in the parser's words);
 * - SHUTDOWN: flagman closed the connection as it shuts down (the shutdown deadline passed).
 */
export type UpstreamErrorCode = 'CONNECT_TIMEOUT' | 'SERVER_TIMEOUT' | 'SERVER_CLOSED' | 'BAD_RESPONSE' | 'SHUTDOWN' | (string & {});

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
