// Which headers are hop-by-hop (RFC 9110 §7.6.1, plus those a message names in `Connection`): what
// both directions drop, the request's headers (proxy/headers.ts) and the response's
// (response.ts). Here, under both, so that the response parser does not reach up into proxy/.

// Lower-case names; a Set lookup per header is cheaper than a regex.
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Names listed in a Connection header value, lower-cased; null when none beyond the usual tokens. */
export function connectionListed(value: string | undefined): Set<string> | null {
  // What nearly every message says, answered without a split.
  if (value === undefined || value === 'keep-alive' || value === 'close' || value === 'Keep-Alive') return null;
  let listed: Set<string> | null = null;
  for (const raw of value.split(',')) {
    const token = raw.trim().toLowerCase();
    if (token === '' || token === 'close' || token === 'keep-alive') continue;
    listed ??= new Set();
    listed.add(token);
  }
  return listed;
}

/** How the response parser treats a header (response.ts). */
export const HeaderKind = {
  /** Passed on as it is. */
  EndToEnd: 0,
  /** Passed on, and it frames the body. */
  ContentLength: 1,
  /** Hop-by-hop, looked at and dropped. */
  Connection: 2,
  KeepAlive: 3,
  TransferEncoding: 4,
  /** Hop-by-hop, dropped. */
  OtherHopByHop: 5,
} as const;
export type HeaderKind = (typeof HeaderKind)[keyof typeof HeaderKind];

/**
 * The kind of a response header. Most names are decided by their length alone, and the usual
 * spellings of the framing headers by one comparison: no lower-cased copy for them.
 */
export function responseHeaderKind(name: string): HeaderKind {
  switch (name.length) {
    case 10:
      if (name === 'Connection' || name === 'connection') return HeaderKind.Connection;
      if (name === 'Keep-Alive' || name === 'keep-alive') return HeaderKind.KeepAlive;
      break;
    case 14:
      if (name === 'Content-Length' || name === 'content-length') return HeaderKind.ContentLength;
      break;
    case 17:
      if (name === 'Transfer-Encoding' || name === 'transfer-encoding') return HeaderKind.TransferEncoding;
      break;
    case 2: // te
    case 7: // trailer, upgrade
    case 16: // proxy-connection
    case 18: // proxy-authenticate
    case 19: // proxy-authorization
      break;
    default:
      return HeaderKind.EndToEnd;
  }
  const lower = name.toLowerCase();
  if (lower === 'connection') return HeaderKind.Connection;
  if (lower === 'keep-alive') return HeaderKind.KeepAlive;
  if (lower === 'content-length') return HeaderKind.ContentLength;
  if (lower === 'transfer-encoding') return HeaderKind.TransferEncoding;
  return HOP_BY_HOP.has(lower) ? HeaderKind.OtherHopByHop : HeaderKind.EndToEnd;
}

/** `headers` (flat) without the names a Connection header `connection` lists; the same array when it lists none. */
export function dropConnectionListed(headers: string[], connection: string): string[] {
  const listed = connectionListed(connection);
  if (listed === null) return headers;
  const kept: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (!listed.has(headers[i]!.toLowerCase())) kept.push(headers[i]!, headers[i + 1]!);
  return kept;
}
