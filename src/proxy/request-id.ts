// Request IDs (docs/proxying.md, "Request IDs"): one per request on a frontend with `requestId`,
// sent to the server, written in the access line and on the answers flagman makes itself, so one
// request can be followed from the client's 503 page to the server's log.
//
// A new ID is 16 random bytes in hex, as nginx's $request_id: unique across processes and restarts
// without any shared state, and telling nothing about how many requests a process has served (a
// per-process prefix and a counter would). The bytes come from a pool refilled by one
// crypto.randomFillSync per 256 IDs: about 0.15 µs an ID, where crypto.randomUUID() (which pools
// too) takes 0.17–0.44 µs, a counter 0.1 µs and crypto.randomBytes(16) 6–11 µs, on a loaded 2-core
// machine (bench/request-id.js, bench/RESULTS.md). node:crypto is loaded with the first refill, not
// at start: a process whose frontends make no IDs never loads it (10 ms of a start's CPU, Node 26).
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestIdHeader } from '../runtime/runtime.js';

const ID_BYTES = 16;
const pool = Buffer.alloc(ID_BYTES * 256);
let offset = pool.length;

/** The longest incoming ID kept: longer than any usual format (a UUID is 36, a W3C traceparent 55). */
export const MAX_REQUEST_ID = 128;

/** A new request ID: 32 hex digits, 128 random bits. */
export function newRequestId(): string {
  if (offset === pool.length) {
    process.getBuiltinModule('node:crypto').randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}

/** Whether `id` may be kept as it came: 1 to MAX_REQUEST_ID visible ASCII characters, no space or control. */
export function isRequestId(id: string): boolean {
  const n = id.length;
  if (n === 0 || n > MAX_REQUEST_ID) return false;
  for (let i = 0; i < n; i++) {
    const c = id.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/**
 * The ID of a request with `headers`: the one a trusted proxy sent, when it is valid; else a new
 * one. An untrusted peer's is replaced, so a client cannot make its requests look like another's.
 * (Repeated headers arrive joined with ", ", which is not valid: a new one.)
 */
export function requestIdOf(setting: RequestIdHeader, headers: IncomingHttpHeaders, trusted: boolean): string {
  if (trusted) {
    const incoming = headers[setting.lower];
    if (typeof incoming === 'string' && isRequestId(incoming)) return incoming;
  }
  return newRequestId();
}
