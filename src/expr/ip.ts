// IP addresses and CIDR blocks for `cidr("…").containsIP(client.ip)`. A block is parsed once (at
// load or specialize time); `containsIP` runs per request, so it parses the address by char codes
// into numbers or a reusable scratch array and allocates nothing. An inline IPv4 mask compare costs
// ~50 ns where `net.BlockList.check` costs ~2.3 µs (docs/design/conventions.md).

const V6_GROUPS = 8;

// Per-request scratch for IPv6 parsing. Safe to share: containsIP is synchronous and never re-entered.
const scratch = new Uint16Array(V6_GROUPS);

/** Parses dotted-quad IPv4 in `s[start..end)`; returns it as an unsigned 32-bit number, or -1. */
function parseV4(s: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      // A leading zero is refused: some stacks read it as octal, so "010.0.0.1" is ambiguous.
      if (digits === 1 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parses IPv6 in `s` into `out` (8 groups); a zone (`%eth0`) is ignored and a trailing dotted
 * IPv4 part is accepted. Returns false when `s` is not IPv6.
 */
function parseV6(s: string, out: Uint16Array): boolean {
  let end = s.indexOf('%');
  if (end < 0) end = s.length;
  let group = 0; // groups written so far
  let gap = -1; // group index where "::" stands
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
  }
  while (i < end) {
    if (group === V6_GROUPS) return false;
    let value = 0;
    let digits = 0;
    let j = i;
    for (; j < end && digits <= 4; j++) {
      const d = hexDigit(s.charCodeAt(j));
      if (d < 0) break;
      value = value * 16 + d;
      digits++;
    }
    if (j < end && s.charCodeAt(j) === 46) {
      // Embedded IPv4 fills the last two groups (`::ffff:10.1.2.3`).
      if (group > 6) return false;
      const v4 = parseV4(s, i, end);
      if (v4 < 0) return false;
      out[group++] = v4 >>> 16;
      out[group++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (digits === 0 || digits > 4) return false;
    out[group++] = value;
    if (j === end) {
      i = end;
      break;
    }
    if (s.charCodeAt(j) !== 58) return false;
    if (s.charCodeAt(j + 1) === 58) {
      if (gap >= 0) return false;
      gap = group;
      i = j + 2;
    } else {
      i = j + 1;
      if (i === end) return false; // a trailing single ':'
    }
  }
  if (gap < 0) return group === V6_GROUPS;
  if (group === V6_GROUPS) return false; // "::" must stand for at least one group
  // Move the groups written after "::" to the end and zero the gap.
  const tail = group - gap;
  for (let k = 0; k < tail; k++) out[V6_GROUPS - 1 - k] = out[group - 1 - k] ?? 0;
  for (let k = gap; k < V6_GROUPS - tail; k++) out[k] = 0;
  return true;
}

/**
 * Whether `text` is an IPv4 or IPv6 address and nothing else: no zone (`%eth0`), no port, no
 * spaces. What a proxy writes in X-Forwarded-For is read through this (forwarded.ts).
 */
export function isAddress(text: string): boolean {
  if (parseV4(text, 0, text.length) >= 0) return true;
  return text !== '' && !text.includes('%') && parseV6(text, scratch);
}

/** True when `g` is an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). */
function isV4Mapped(g: Uint16Array): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
}

/**
 * A parsed CIDR block. `containsIP` is the per-request call: an IPv4 block also matches the
 * IPv4-mapped IPv6 form Node reports for dual-stack clients (`::ffff:10.1.2.3`), and an IPv6 block
 * sees a plain IPv4 address as its mapped form. An address that does not parse is not contained.
 */
export class Cidr {
  readonly text: string;
  readonly bits: number;
  readonly #v4: boolean;
  // IPv4: network and mask as signed 32-bit ints, so `(a & mask) === net` needs no `>>> 0`.
  readonly #net4: number;
  readonly #mask4: number;
  readonly #net6: Uint16Array;

  private constructor(text: string, v4: boolean, bits: number, net4: number, net6: Uint16Array) {
    this.text = text;
    this.bits = bits;
    this.#v4 = v4;
    this.#mask4 = bits === 0 ? 0 : ~0 << (32 - bits);
    this.#net4 = net4 & this.#mask4;
    this.#net6 = net6;
    for (let k = 0; k < V6_GROUPS; k++) net6[k] = (net6[k] ?? 0) & groupMask(bits, k);
  }

  /** Parses `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128); host bits are masked off. Returns why not on failure. */
  static parse(text: string): Cidr | string {
    const slash = text.indexOf('/');
    const addr = slash < 0 ? text : text.slice(0, slash);
    const prefix = slash < 0 ? '' : text.slice(slash + 1);
    if (slash >= 0 && !/^(0|[1-9][0-9]{0,2})$/.test(prefix)) return 'the prefix length is not a number';
    const v4 = parseV4(addr, 0, addr.length);
    if (v4 >= 0) {
      const bits = slash < 0 ? 32 : Number(prefix);
      if (bits > 32) return 'an IPv4 prefix length is at most 32';
      return new Cidr(text, true, bits, v4, new Uint16Array(V6_GROUPS));
    }
    const groups = new Uint16Array(V6_GROUPS);
    if (!addr.includes('%') && parseV6(addr, groups)) {
      const bits = slash < 0 ? 128 : Number(prefix);
      if (bits > 128) return 'an IPv6 prefix length is at most 128';
      return new Cidr(text, false, bits, 0, groups);
    }
    return 'not an IPv4 or IPv6 address or CIDR block';
  }

  /** Whether `ip` (IPv4, IPv6, or IPv4-mapped IPv6) lies in this block. */
  containsIP(ip: string): boolean {
    if (this.#v4) {
      let a = parseV4(ip, 0, ip.length);
      if (a < 0) {
        if (!parseV6(ip, scratch) || !isV4Mapped(scratch)) return false;
        a = ((scratch[6] ?? 0) << 16) | (scratch[7] ?? 0);
      }
      return (a & this.#mask4) === this.#net4;
    }
    if (!parseV6(ip, scratch)) {
      const a = parseV4(ip, 0, ip.length);
      if (a < 0) return false;
      scratch.fill(0, 0, 5);
      scratch[5] = 0xffff;
      scratch[6] = a >>> 16;
      scratch[7] = a & 0xffff;
    }
    const net = this.#net6;
    for (let k = 0; k < V6_GROUPS; k++) {
      const m = groupMask(this.bits, k);
      if (m === 0) return true;
      if (((scratch[k] ?? 0) & m) !== net[k]) return false;
    }
    return true;
  }

  toString(): string {
    return this.text;
  }
}

/** The 16-bit mask of group `k` for a prefix of `bits`. */
function groupMask(bits: number, k: number): number {
  const left = bits - k * 16;
  if (left >= 16) return 0xffff;
  if (left <= 0) return 0;
  return (0xffff << (16 - left)) & 0xffff;
}
