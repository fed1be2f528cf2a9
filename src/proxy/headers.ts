// Header rewriting between client and server (docs/proxying.md): hop-by-hop headers dropped (RFC 9110 §7.6.1,
// plus those the message names in `Connection`), X-Forwarded-* set — added to what a trusted proxy
// sent, in place of what anyone else did (docs/proxying.md, "Behind a load balancer:
// X-Forwarded-For") — and X-Real-IP always flagman's. Works on Node's flat rawHeaders arrays in one pass: it keeps the client's
// spelling and order and allocates one array.
import { isHostValue } from '../expr/host.js';
import type { RequestIdHeader } from '../runtime/runtime.js';
import { connectionListed, HOP_BY_HOP } from '../upstream/hop-by-hop.js';

export interface ForwardedInfo {
  /** The address the connection came from: appended to X-Forwarded-For. */
  readonly peer: string;
  /** `client.ip` (origin.ts): X-Real-IP, in place of any the request had, whoever sent it. */
  readonly clientIp: string;
  /**
   * `peer` is a trusted proxy: its X-Forwarded-For is kept (and appended to), its
   * X-Forwarded-Proto, X-Forwarded-Host and Forwarded passed on. Otherwise a client's own would
   * let it forge them: X-Forwarded-For is the peer alone, the others flagman's, Forwarded dropped.
   */
  readonly trusted: boolean;
  /** How the client reached flagman: X-Forwarded-Proto, unless a trusted proxy said. */
  readonly proto: 'http' | 'https';
  /**
   * The caller frames the body itself (upstream/connection.ts, the request path): it chunk-encodes a
   * body of unknown length. Without it (the upgrade path, tunnel.ts, which writes the head itself)
   * the chunked framing the client chose is kept explicitly.
   */
  readonly framesBody?: boolean;
  /** Header names with `_` (config `underscoreHeaders`); default allow. */
  readonly underscores?: 'allow' | 'refuse' | 'drop';
  /** The frontend's request-ID header (request-id.ts), and `id`, the request's: sent in place of any the request had. */
  readonly idHeader?: RequestIdHeader | null;
  readonly id?: string | null;
}

/**
 * The headers to send upstream, as a flat [name, value, …] array, or a string saying why the request
 * is refused with 400 (duplicate or missing Host, a Transfer-Encoding other than chunked, a header
 * name with `_` when the frontend refuses them).
 */
export function upstreamRequestHeaders(
  rawHeaders: readonly string[],
  connection: string | undefined,
  fwd: ForwardedInfo,
): string[] | string {
  const listed = connectionListed(connection);
  const underscores = fwd.underscores ?? 'allow';
  const idLower = fwd.idHeader?.lower ?? null;
  const out: string[] = [];
  let host: string | null = null;
  let xff: string | null = null;
  let xfProto: string | null = null;
  let xfHost: string | null = null;
  let chunked = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    const lower = name.toLowerCase();
    if (underscores !== 'allow' && name.includes('_')) {
      if (underscores === 'refuse') return `header name with "_": ${name}`;
      continue;
    }
    if (lower === 'host') {
      if (host !== null) return 'duplicate Host header';
      host = value;
      out.push(name, value);
      continue;
    }
    if (lower === 'transfer-encoding') {
      if (value.trim().toLowerCase() !== 'chunked' || chunked) return 'Transfer-Encoding other than chunked';
      chunked = true;
      continue;
    }
    if (lower === 'x-forwarded-for') {
      if (fwd.trusted) xff = xff === null ? value : `${xff}, ${value}`;
      continue;
    }
    // A trusted proxy's say how the client reached it; anyone else's are replaced with flagman's.
    if (lower === 'x-forwarded-proto') {
      if (fwd.trusted) xfProto ??= value;
      continue;
    }
    if (lower === 'x-forwarded-host') {
      if (fwd.trusted) xfHost ??= value;
      continue;
    }
    // Servers that take X-Real-IP for the client (nginx's realip module fed by a proxy, many apps)
    // get flagman's, the client the rules saw: a client's own, or even a trusted proxy's, would say
    // something else (a trusted proxy's client is in X-Forwarded-For, which client.ip was read from).
    if (lower === 'x-real-ip') continue;
    // Not written by flagman (X-Forwarded-For is its chain): passed on from a trusted proxy only, so
    // a server that reads it never sees one a client wrote straight to flagman.
    if (lower === 'forwarded' && !fwd.trusted) continue;
    // The request's ID, decided already (a trusted proxy's valid one, or a new one), goes in its place.
    if (lower === idLower) continue;
    // Node's server has already answered `Expect: 100-continue` to the client (it does unless told
    // otherwise), and the body follows as a stream either way: the server has nothing to expect.
    if (lower === 'expect' && fwd.framesBody === true) continue;
    if (HOP_BY_HOP.has(lower) || listed?.has(lower)) continue;
    out.push(name, value);
  }
  if (host === null) return 'missing Host header';
  if (!isHostValue(host)) return 'invalid Host header';
  // Node chunk-encodes an outgoing body only for some methods unless told; keep the framing the client chose.
  if (chunked && fwd.framesBody !== true) out.push('Transfer-Encoding', 'chunked');
  out.push('X-Forwarded-For', xff === null ? fwd.peer : `${xff}, ${fwd.peer}`);
  out.push('X-Forwarded-Proto', xfProto ?? fwd.proto);
  out.push('X-Forwarded-Host', xfHost ?? host);
  out.push('X-Real-IP', fwd.clientIp);
  if (fwd.idHeader != null && fwd.id != null) out.push(fwd.idHeader.header, fwd.id);
  return out;
}
