// The client behind trusted proxies (docs/proxying.md, "Behind a load balancer: X-Forwarded-For").
// A frontend's `trustedProxies` names the addresses allowed to say who the client is; each of them
// appends the address it was reached from to X-Forwarded-For. Read from the right, the first
// address that is not one of them is the first one nobody trusted wrote: the client. Anything left
// of it may be made up by the client itself.
//
// Only X-Forwarded-For is read, not RFC 7239 `Forwarded`: a balancer that appends to one of them
// passes the other on as the client sent it, so reading both would let a client forge the one its
// balancer does not write. Every balancer in common use writes X-Forwarded-For.
//
// A trusted proxy also says how the client reached it (X-Forwarded-Proto) and which host it asked
// for (X-Forwarded-Host): behind a balancer that terminates TLS, `request.scheme` is that, or a
// rule redirecting http to https would redirect every request, forever.
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressText } from '../config/schema.js';
import { FlagmanError, FlagmanErrors } from '../errors.js';
import { isHostValue } from './host.js';
import { Cidr, isAddress } from './ip.js';

/** A frontend's `trustedProxies`: the blocks whose connections may name the client. */
export class TrustedProxies {
  readonly #blocks: readonly Cidr[];

  private constructor(blocks: readonly Cidr[]) {
    this.#blocks = blocks;
  }

  /**
   * The blocks of a frontend's `trustedProxies`, null when there are none (nothing is trusted, and
   * no request pays for a look). Throws FlagmanErrors naming each entry that is not an address or
   * a block, at its position.
   */
  static parse(items: readonly AddressText[]): TrustedProxies | null {
    const blocks: Cidr[] = [];
    const errors: FlagmanError[] = [];
    for (const item of items) {
      const block = Cidr.parse(item.text);
      if (typeof block === 'string') errors.push(new FlagmanError('CONFIG_SCHEMA', `${item.path}: "${item.text}": ${block}`, item.at));
      else blocks.push(block);
    }
    if (errors.length > 0) throw new FlagmanErrors(errors);
    return blocks.length === 0 ? null : new TrustedProxies(Object.freeze(blocks));
  }

  /** Whether `ip` (as a socket or X-Forwarded-For gives it) lies in one of the blocks. */
  contains(ip: string): boolean {
    const blocks = this.#blocks;
    for (let i = 0; i < blocks.length; i++) if (blocks[i]!.containsIP(ip)) return true;
    return false;
  }
}

/**
 * The client's address for a request that came from `peer`, a trusted proxy, with `header` its
 * X-Forwarded-For: walking from the right, the first address not in `trusted`; when every one is,
 * the left-most. The walk stops at an entry that is not an address (`unknown`, garbage, an empty
 * one) and answers the last good one (`peer` when it is the right-most), so whatever a client
 * writes there is never the answer. Never throws; allocates one small string per entry read.
 */
export function forwardedClient(header: string | readonly string[] | undefined, peer: string, trusted: TrustedProxies): string {
  if (header === undefined) return peer;
  const s = typeof header === 'string' ? header : header.join(', ');
  let client = peer;
  let end = s.length;
  while (end > 0) {
    const comma = s.lastIndexOf(',', end - 1);
    const hop = hopAddress(s, comma + 1, end);
    if (hop === null) return client;
    client = hop;
    if (!trusted.contains(hop)) return hop;
    end = comma;
  }
  return client;
}

/**
 * `request.scheme` of a request that reached flagman over `listener`: from a trusted proxy, its
 * X-Forwarded-Proto when that is `http` or `https` (in any case); anything else there (another
 * word, a list, none) and any untrusted request: `listener`. An untrusted request's header is not
 * even read.
 */
export function schemeOf(trusted: boolean, listener: string, headers: IncomingHttpHeaders): string {
  if (!trusted) return listener;
  const value = headers['x-forwarded-proto'];
  // The usual spellings answered without a lower-cased copy.
  if (value === 'https' || value === 'http') return value;
  if (typeof value !== 'string' || (value.length !== 4 && value.length !== 5)) return listener;
  const lower = value.toLowerCase();
  return lower === 'https' || lower === 'http' ? lower : listener;
}

/**
 * The host a trusted proxy says the client asked for: its X-Forwarded-Host when that would pass as a
 * Host header (host.ts; a repeated one, joined with ", ", does not). Null when it is absent or not
 * valid, and for any untrusted request: `request.host` is then the Host header's.
 */
export function forwardedHostOf(trusted: boolean, headers: IncomingHttpHeaders): string | null {
  if (!trusted) return null;
  const value = headers['x-forwarded-host'];
  return typeof value === 'string' && isHostValue(value) ? value : null;
}

const SPACE = 32;
const TAB = 9;
const COLON = 58;

/**
 * The address of one X-Forwarded-For entry, `s[start..end)`, or null when it is not one. Blanks
 * around it are dropped, and a port as some balancers write it (`192.0.2.1:4711`,
 * `[2001:db8::1]:4711`, RFC 7239's form) is left out: the address alone.
 */
function hopAddress(s: string, start: number, end: number): string | null {
  while (start < end && (s.charCodeAt(start) === SPACE || s.charCodeAt(start) === TAB)) start++;
  while (end > start && (s.charCodeAt(end - 1) === SPACE || s.charCodeAt(end - 1) === TAB)) end--;
  if (start === end) return null;
  let addrEnd = end;
  let addrStart = start;
  if (s.charCodeAt(start) === 91 /* '[' */) {
    const close = s.indexOf(']', start);
    if (close < 0 || close >= end) return null;
    if (close + 1 < end && !isPort(s, close + 1, end)) return null;
    addrStart = start + 1;
    addrEnd = close;
  } else {
    const colon = s.indexOf(':', start);
    // One colon only: an IPv4 address and its port (an IPv6 address has at least two).
    if (colon >= 0 && colon < end && !hasColon(s, colon + 1, end)) {
      if (!isPort(s, colon, end)) return null;
      addrEnd = colon;
    }
  }
  const address = s.slice(addrStart, addrEnd);
  return isAddress(address) ? address : null;
}

function hasColon(s: string, start: number, end: number): boolean {
  const i = s.indexOf(':', start);
  return i >= 0 && i < end;
}

/** Whether `s[at..end)` is `:` and a port, 0–65535. */
function isPort(s: string, at: number, end: number): boolean {
  if (s.charCodeAt(at) !== COLON) return false;
  const digits = end - at - 1;
  if (digits < 1 || digits > 5) return false;
  let port = 0;
  for (let i = at + 1; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    port = port * 10 + (c - 48);
  }
  return port <= 65535;
}
