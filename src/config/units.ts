// The config's small value languages, defined once (docs/design/conventions.md): durations (`250ms`, `5s`, `2m`, `1h`),
// sizes (`1048576`, `512KiB`, `1MiB`) and addresses (`host:port`, `[v6]:port`, `:port`, `systemd:NAME`). Each parser either returns a
// value or throws a FlagmanError (CONFIG_SCHEMA) whose reason the loader prefixes with the key path.
import { isIPv4, isIPv6 } from 'node:net';
import { FlagmanError } from '../errors.js';
import type { Place } from '../errors.js';
import type { ListenAddress, Position, StatusRange } from './schema.js';

// Registry of duration units (docs/design/conventions.md), in milliseconds.
export const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

// setTimeout keeps its delay in a signed 32-bit integer; a longer one fires after 1 ms instead.
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * Host of a `:port` listen address: all interfaces. Node's listen() treats an empty host as absent,
 * which binds `::` dual-stack (IPv4 and IPv6) and falls back to `0.0.0.0` where IPv6 is unavailable;
 * an explicit `::` would fail on such hosts, and `0.0.0.0` would refuse IPv6 clients.
 */
export const ALL_INTERFACES = '';

const DURATION_RE = /^(\d+)(ms|s|m|h)$/;
// systemd's FileDescriptorName=: printable ASCII without ':' or spaces, at most 255 characters.
const FD_NAME_RE = /^[\x21-\x39\x3b-\x7e]{1,255}$/;
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function bad(reason: string, at: Place | undefined): FlagmanError {
  return new FlagmanError('CONFIG_SCHEMA', reason, at ?? {});
}

/** Parses a duration such as `250ms`, `5s`, `2m` or `1h` into whole milliseconds. */
export function parseDuration(text: string, at?: Place): number {
  const m = DURATION_RE.exec(text);
  if (m === null) {
    if (/^\d+$/.test(text)) throw bad(`"${text}" needs a unit: ${text}ms, ${text}s, ${text}m or ${text}h`, at);
    if (/^\d*\.\d+(ms|s|m|h)$/.test(text)) {
      throw bad(`"${text}": durations are whole numbers; use a smaller unit (1500ms, not 1.5s)`, at);
    }
    throw bad(`"${text}" is not a duration: write a whole number and a unit, such as 250ms, 5s, 2m or 1h`, at);
  }
  const ms = Number(m[1]) * DURATION_UNITS[m[2] as keyof typeof DURATION_UNITS];
  if (ms > MAX_DURATION_MS) throw bad(`"${text}" is too long: the longest duration is ${MAX_DURATION_MS}ms (about 596h)`, at);
  return ms;
}

/** A duration as an operator writes it: in the largest unit that divides it (`2s`, `1500ms`, `1h`). */
export function formatDuration(ms: number): string {
  for (const unit of ['h', 'm', 's'] as const) {
    const n = DURATION_UNITS[unit];
    if (ms >= n && ms % n === 0) return `${ms / n}${unit}`;
  }
  return `${ms}ms`;
}

// Registry of size units (docs/design/conventions.md), in bytes. Powers of 1024 written as IEC
// writes them: `1MB` is 10^6 bytes to a disk vendor and 2^20 to nginx's `1m`, so neither is taken.
export const SIZE_UNITS = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as const;

const SIZE_RE = /^(\d+)(B|KiB|MiB|GiB)?$/;
// What a unit written another way (`10MB`, `512k`, `1mib`) was meant to be, by its first letter.
const SIZE_MEANT: Readonly<Record<string, keyof typeof SIZE_UNITS>> = { b: 'B', k: 'KiB', m: 'MiB', g: 'GiB' };

/** Parses a size in bytes: a whole number of bytes (`1048576`), or a whole number and a unit (`512KiB`, `1MiB`, `2GiB`). */
export function parseSize(text: string, at?: Place): number {
  const m = SIZE_RE.exec(text);
  if (m === null) {
    const other = /^(\d*\.?\d+)\s*([A-Za-z]+)$/.exec(text);
    const meant = other === null ? undefined : SIZE_MEANT[other[2]!.charAt(0).toLowerCase()];
    if (other !== null && other[1]!.includes('.')) {
      throw bad(`"${text}": sizes are whole numbers; use a smaller unit (1536KiB, not 1.5MiB)`, at);
    }
    if (other !== null && meant !== undefined && /^[bkmg](i?b)?$/i.test(other[2]!)) {
      throw bad(`"${text}": write ${other[1]}${meant} (powers of 1024), or the number of bytes`, at);
    }
    throw bad(
      `"${text}" is not a size: write a number of bytes, or a whole number and a unit (B, KiB, MiB, GiB) such as 512KiB or 1MiB`,
      at,
    );
  }
  const bytes = Number(m[1]) * SIZE_UNITS[(m[2] ?? 'B') as keyof typeof SIZE_UNITS];
  if (!Number.isSafeInteger(bytes)) throw bad(`"${text}" is too large: the largest size is ${Number.MAX_SAFE_INTEGER} bytes`, at);
  return bytes;
}

/** A size as an operator writes it: in the largest unit that divides it (`1MiB`, `1536KiB`, `100B`). */
export function formatSize(bytes: number): string {
  for (const unit of ['GiB', 'MiB', 'KiB'] as const) {
    const n = SIZE_UNITS[unit];
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return `${bytes}B`;
}

interface HostPort {
  readonly host: string;
  readonly port: number;
}

// Splits `host:port` or `[v6]:port`; the host may be empty (the caller decides whether that is allowed).
function splitHostPort(text: string, at: Place | undefined): { host: string; portText: string } {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw bad(`"${text}": an IPv6 address in brackets needs its closing "]"`, at);
    const host = text.slice(1, close);
    if (!isIPv6(host)) throw bad(`"${text}": "${host}" is not an IPv6 address`, at);
    if (text[close + 1] !== ':') throw bad(`"${text}" needs a port after the address: [${host}]:PORT`, at);
    return { host, portText: text.slice(close + 2) };
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw bad(`"${text}" needs a port: host:port`, at);
  const host = text.slice(0, colon);
  if (host.includes(':')) throw bad(`"${text}": an IPv6 address goes in brackets, as in [::1]:8080`, at);
  if (host !== '' && !isHost(host)) throw bad(`"${text}": "${host}" is not a host name or IPv4 address`, at);
  return { host, portText: text.slice(colon + 1) };
}

// A dotted-decimal-looking host must be a real IPv4 address, so `10.0.0.300` is not taken for a name.
function isHost(host: string): boolean {
  if (/^[\d.]+$/.test(host)) return isIPv4(host);
  return HOSTNAME_RE.test(host);
}

function parsePort(text: string, portText: string, min: number, at: Place | undefined): number {
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= min && port <= 65535)) {
    throw bad(`"${text}": the port must be a number from ${min} to 65535, not "${portText}"`, at);
  }
  return port;
}

/**
 * Parses a listen address: `host:port`, `[v6]:port`, `:port` (all interfaces, host ALL_INTERFACES)
 * or `systemd:NAME` (the inherited socket whose FileDescriptorName= is NAME). Port 0 picks a free port.
 */
export function parseListenAddress(text: string, at: Position): ListenAddress {
  if (text.startsWith('systemd:')) {
    const name = text.slice('systemd:'.length);
    if (!FD_NAME_RE.test(name)) {
      throw bad(`"${text}": a systemd socket name is 1 to 255 printable characters without ":" or spaces`, at);
    }
    return { kind: 'systemd', name, text, at };
  }
  const { host, portText } = splitHostPort(text, at);
  return { kind: 'tcp', host, port: parsePort(text, portText, 0, at), text, at };
}

/** Parses a server address, `host:port` or `[v6]:port`; the host is required and the port is 1–65535. */
export function parseServerAddress(text: string, at?: Place): HostPort {
  const { host, portText } = splitHostPort(text, at);
  if (host === '') throw bad(`"${text}" needs a host: host:port`, at);
  return { host, port: parsePort(text, portText, 1, at) };
}

/**
 * Whether two listen addresses would bind the same socket: the same systemd name, or the same port
 * (other than 0) on the same host or with either on all interfaces (a dual-stack wildcard bind
 * takes the port on every address).
 */
export function listenClash(a: ListenAddress, b: ListenAddress): boolean {
  if (a.kind === 'systemd' || b.kind === 'systemd') {
    return a.kind === 'systemd' && b.kind === 'systemd' && a.name === b.name;
  }
  if (a.port === 0 || a.port !== b.port) return false;
  const ha = a.host.toLowerCase();
  const hb = b.host.toLowerCase();
  return ha === hb || ha === ALL_INTERFACES || hb === ALL_INTERFACES;
}

const STATUS_RANGE_RE = /^(\d{3})(?:\s*-\s*(\d{3}))?$/;

/** Parses an HTTP status or an inclusive range of them: `200`, `200-399`; each from 100 to 599. */
export function parseStatusRange(text: string, at?: Place): StatusRange {
  const m = STATUS_RANGE_RE.exec(text.trim());
  if (m === null) throw bad(`"${text}" is not a status or a range of them: write 200 or 200-399`, at);
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  if (min < 100 || max > 599) throw bad(`"${text}": HTTP statuses are from 100 to 599`, at);
  if (min > max) throw bad(`"${text}": the range ends before it starts (write ${max}-${min})`, at);
  return { min, max };
}
