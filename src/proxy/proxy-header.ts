// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2): parsed off the start
// of a client connection on a frontend with `acceptProxy`, and built for servers with `sendProxy`.
// Pure functions over bytes, no socket: the accepting side is accept-proxy.ts.
//
// Parsing is incremental by re-reading: give parseProxyHeader() every byte received so far; it
// says `more` while a valid header can still follow, and turns `invalid` as soon as the bytes
// cannot start one (an HTTP request is refused at its first byte, not after a timeout). A header is
// bounded (v1: 107 bytes; v2: MAX_V2_BYTES), so re-reading costs at most that per read, and only
// until the header is complete. Nothing here throws on any input (test/unit/proxy-header.test.js
// checks that with random and hostile bytes).
//
// What is refused: bytes that are neither header; v1 over 107 bytes, without its CRLF, with an
// unknown protocol, addresses that are not of its family, a port outside 0–65535; v2 with another
// version, a command other than LOCAL or PROXY, a family or transport past the spec's, or a length
// shorter than its addresses. What is tolerated: v2 TLVs (the balancers' own data, such as a
// cloud's endpoint id), skipped unread; v2 PROXY over AF_UNSPEC, AF_UNIX or a datagram transport,
// which names no TCP client (the connection's own address stays, as for LOCAL, as HAProxy does).

/** One end of a connection: an address (IPv4 dotted quad, or IPv6 as Node writes it) and a port. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export type ProxyHeader =
  /** The balancer relays a client: `source` is the client, `destination` what it connected to. */
  | {
      readonly kind: 'proxy';
      readonly version: 1 | 2;
      readonly family: 'IPv4' | 'IPv6';
      readonly source: Endpoint;
      readonly destination: Endpoint;
      readonly length: number;
    }
  /** No client to name (v2 LOCAL: the balancer's own health check; v1 UNKNOWN): the connection's own address stays. */
  | { readonly kind: 'local'; readonly version: 1 | 2; readonly length: number };

/** What the bytes so far are: a whole header (`length` bytes of them), not yet, or never. */
export type ParseResult = ProxyHeader | { readonly kind: 'more' } | { readonly kind: 'invalid'; readonly reason: string };

/** The 12-byte signature that starts a v2 header. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** A v1 line at its longest, CRLF included (the spec's figure). */
export const V1_MAX_BYTES = 107;
/**
 * A v2 header at its longest here, TLVs included. The format allows 16 + 65535; HAProxy takes what
 * fits its 16 KiB buffer. The balancers' TLVs are tens of bytes.
 */
export const MAX_V2_BYTES = 16 + 4096;

const MORE = Object.freeze({ kind: 'more' as const });
const invalid = (reason: string): ParseResult => ({ kind: 'invalid', reason });

/** Parses the header at the start of `buf`, which holds every byte the connection sent so far. */
export function parseProxyHeader(buf: Uint8Array): ParseResult {
  if (buf.length === 0) return MORE;
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf);
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf);
  return invalid('no PROXY header');
}

function startsLike(buf: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

function parseV1(buf: Uint8Array): ParseResult {
  if (!startsLike(buf, V1_PREFIX)) return invalid('no PROXY header');
  const limit = Math.min(buf.length, V1_MAX_BYTES);
  let lf = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const c = buf[i]!;
    if (c === 0x0a) {
      lf = i;
      break;
    }
    // Printable ASCII and the CR before the LF only: the line is text.
    if ((c < 0x20 || c > 0x7e) && c !== 0x0d) return invalid('v1 header with a byte that is not text');
  }
  if (lf < 0) return buf.length >= V1_MAX_BYTES ? invalid(`v1 header longer than ${V1_MAX_BYTES} bytes`) : MORE;
  if (buf[lf - 1] !== 0x0d) return invalid('v1 header not ended by CRLF');
  const line = Buffer.from(buf.buffer, buf.byteOffset, lf - 1).toString('latin1');
  if (line.includes('\r')) return invalid('v1 header not ended by CRLF');
  const parts = line.split(' ');
  const proto = parts[1];
  const length = lf + 1;
  // UNKNOWN: whatever follows on the line is ignored (the spec's words).
  if (proto === 'UNKNOWN') return { kind: 'local', version: 1, length };
  if (proto !== 'TCP4' && proto !== 'TCP6') return invalid(`v1 header with protocol ${JSON.stringify(proto ?? '')}`);
  if (parts.length !== 6) return invalid('v1 header without its four fields');
  const family = proto === 'TCP4' ? 'IPv4' : 'IPv6';
  const src = textAddress(parts[2]!, family);
  const dst = textAddress(parts[3]!, family);
  const sport = textPort(parts[4]!);
  const dport = textPort(parts[5]!);
  if (src === null || dst === null) return invalid(`v1 ${proto} header with an address that is not ${family}`);
  if (sport < 0 || dport < 0) return invalid('v1 header with a port that is not 0–65535');
  return { kind: 'proxy', version: 1, family, source: { address: src, port: sport }, destination: { address: dst, port: dport }, length };
}

/** A v1 port: decimal digits, 0–65535, no leading zero. -1: not one. */
function textPort(s: string): number {
  if (s.length === 0 || s.length > 5 || (s.length > 1 && s.charCodeAt(0) === 48)) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n <= 65535 ? n : -1;
}

/** A v1 address of `family`, in the form Node gives a socket's address; null: not one. */
function textAddress(s: string, family: 'IPv4' | 'IPv6'): string | null {
  if (family === 'IPv4') return parseIPv4(s) === null ? null : s;
  const bytes = parseIPv6(s);
  return bytes === null ? null : formatIPv6(bytes, 0);
}

function parseV2(buf: Uint8Array): ParseResult {
  if (!startsLike(buf, V2_SIGNATURE)) return invalid('v2 header with a bad signature');
  if (buf.length < 16) {
    // Refused as soon as a byte says so, not after the whole fixed part.
    if (buf.length > 12 && buf[12]! >> 4 !== 2) return invalid(`v2 header with version ${buf[12]! >> 4}`);
    return MORE;
  }
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return invalid(`v2 header with version ${verCmd >> 4}`);
  const command = verCmd & 0x0f;
  if (command > 1) return invalid(`v2 header with command ${command}`);
  const famProto = buf[13]!;
  const af = famProto >> 4;
  const transport = famProto & 0x0f;
  if (af > 3) return invalid(`v2 header with address family ${af}`);
  if (transport > 2) return invalid(`v2 header with transport ${transport}`);
  const len = (buf[14]! << 8) | buf[15]!;
  const length = 16 + len;
  if (length > MAX_V2_BYTES) return invalid(`v2 header of ${length} bytes, over ${MAX_V2_BYTES}`);
  // The address block's size for the family; a length that cannot hold it is malformed whatever
  // the command (and known before the block arrives).
  const need = af === 1 ? 12 : af === 2 ? 36 : af === 3 ? 216 : 0;
  if (len < need) return invalid(`v2 header length ${len} too short for its addresses (${need})`);
  if (buf.length < length) return MORE;
  // As HAProxy: only TCP over IPv4 or IPv6 names a client; LOCAL, and any other family or
  // transport (UNSPEC, UNIX, datagrams), keeps the connection's own addresses.
  if (command === 0 || transport !== 1 || af === 0 || af === 3) return { kind: 'local', version: 2, length };
  if (af === 1) {
    const src = `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`;
    const dst = `${buf[20]}.${buf[21]}.${buf[22]}.${buf[23]}`;
    return {
      kind: 'proxy',
      version: 2,
      family: 'IPv4',
      source: { address: src, port: (buf[24]! << 8) | buf[25]! },
      destination: { address: dst, port: (buf[26]! << 8) | buf[27]! },
      length,
    };
  }
  const src = formatIPv6(buf, 16);
  const dst = formatIPv6(buf, 32);
  return {
    kind: 'proxy',
    version: 2,
    family: 'IPv6',
    source: { address: src, port: (buf[48]! << 8) | buf[49]! },
    destination: { address: dst, port: (buf[50]! << 8) | buf[51]! },
    length,
  };
}

/** An IPv4 dotted quad as 4 bytes; null: not one (a leading zero is refused: some stacks read it as octal). */
export function parseIPv4(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (p.length === 0 || p.length > 3 || (p.length > 1 && p.charCodeAt(0) === 48)) return null;
    let n = 0;
    for (let i = 0; i < p.length; i++) {
      const c = p.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return null;
      n = n * 10 + c;
    }
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

/** An IPv6 address (`::` compression, a dotted-quad tail) as 16 bytes; null: not one. */
export function parseIPv6(s: string): number[] | null {
  if (s.length < 2 || s.length > 45) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (const [i, g] of items.entries()) {
      if (i === items.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (v4 === null) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  // A dotted quad only at the very end.
  if (halves.length === 2 && halves[0]!.includes('.')) return null;
  const n = head.length + tail.length;
  if (halves.length === 1 ? n !== 8 : n > 7) return null;
  const all = [...head, ...new Array<number>(8 - n).fill(0), ...tail];
  const bytes: number[] = [];
  for (const g of all) bytes.push(g >> 8, g & 0xff);
  return bytes;
}

/**
 * 16 bytes at `at` as Node writes a socket's IPv6 address (RFC 5952: lower case, the longest run
 * of zero groups as `::`, an IPv4-mapped address as ::ffff:a.b.c.d).
 */
export function formatIPv6(b: ArrayLike<number>, at: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[at + 2 * i]! << 8) | b[at + 2 * i + 1]!);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
  }
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(':');
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** PROXY protocol versions a server may be sent. */
export type ProxyVersion = 1 | 2;

/**
 * The header that tells a server about `source` connected to `destination`. Both IPv4: TCP4; else
 * TCP6, an IPv4 address written IPv4-mapped (::ffff:a.b.c.d), as a dual-stack socket reports it.
 */
export function buildProxyHeader(version: ProxyVersion, source: Endpoint, destination: Endpoint): Buffer {
  const src4 = parseIPv4(unmapped(source.address));
  const dst4 = parseIPv4(unmapped(destination.address));
  if (src4 !== null && dst4 !== null) {
    if (version === 1)
      return Buffer.from(`PROXY TCP4 ${src4.join('.')} ${dst4.join('.')} ${source.port} ${destination.port}\r\n`, 'latin1');
    return v2Header(0x11, [...src4, ...dst4], source.port, destination.port);
  }
  const src6 = src4 !== null ? mapped(src4) : parseIPv6(source.address);
  const dst6 = dst4 !== null ? mapped(dst4) : parseIPv6(destination.address);
  // Not an IP address at all (a socket with none): nothing to tell but that.
  if (src6 === null || dst6 === null) return localHeader(version);
  if (version === 1)
    return Buffer.from(`PROXY TCP6 ${formatIPv6(src6, 0)} ${formatIPv6(dst6, 0)} ${source.port} ${destination.port}\r\n`, 'latin1');
  return v2Header(0x21, [...src6, ...dst6], source.port, destination.port);
}

const V1_UNKNOWN = Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
const V2_LOCAL = Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);

/** The header of a connection that relays no client (a health check): v2 LOCAL, v1 UNKNOWN, as HAProxy sends its checks. */
export function localHeader(version: ProxyVersion): Buffer {
  return version === 1 ? V1_UNKNOWN : V2_LOCAL;
}

function v2Header(famProto: number, addresses: number[], sport: number, dport: number): Buffer {
  const len = addresses.length + 4;
  const out = Buffer.allocUnsafe(16 + len);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = famProto; // AF_INET or AF_INET6, STREAM
  out.writeUInt16BE(len, 14);
  out.set(addresses, 16);
  out.writeUInt16BE(sport, 16 + addresses.length);
  out.writeUInt16BE(dport, 18 + addresses.length);
  return out;
}

function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

function mapped(v4: number[]): number[] {
  return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4];
}
