// The access log's lines (docs/logs.md): what one line tells (AccessRecord), and the writer a
// config asks for (`log.access`): a JSON line with every field that applies (the default), a JSON
// line with the fields picked, in their order, or the combined log format. Every kind of line — a
// request, an upgrade, a tcp connection, a request head that never completed — fills a record and
// hands it to the same writer, so a field is written by one function wherever it comes from.
import type http from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AccessField, AccessLogConfig } from './config/schema.js';
import { writeAccess, writeAccessText } from './log.js';

/** One access line's values, filled by what ended; -1 in a timer: it did not apply. */
export class AccessRecord {
  frontend = '';
  /** A tcp connection's line (no request, no status). */
  tcp = false;
  backend: string | null = null;
  server: string | null = null;
  /** The request; null on a tcp line, or when its head never completed (method and path null). */
  req: http.IncomingMessage | null = null;
  /** The upgrade asked for (an upgrade request's line); null: none. */
  upgrade: string | null = null;
  /** The TLS version of the connection; null: plain. */
  tls: string | null = null;
  status = 0;
  /** -1: not counted (an upgrade's tunnel). */
  bytesIn = 0;
  bytesOut = 0;
  /** When it began (performance.now()): `ms` runs from here to when the line is written. */
  start = 0;
  headMs = -1;
  queueMs = -1;
  connectMs = -1;
  ttfbMs = -1;
  tries = 0;
  ip = '';
  peer = '';
  id: string | null = null;
  reason: string | null = null;
  /** From `start` to the end; -1: to when the line is written (the writer times it). */
  ms = -1;
}

/** Writes the access lines of a runtime. */
export interface AccessLog {
  write(r: AccessRecord): void;
}

/**
 * ms to 3 decimals (microseconds, which performance.now() resolves on every platform flagman runs
 * on), as text: what `String(Math.round(ms * 1000) / 1000)` gives, written from the integer count
 * of microseconds. Each line has up to five of these; printing a fraction through a double costs
 * 170-190 ns a number, this 70-90 ns (Node 20, bench: test/unit/access-line.test.js holds the two
 * to the same text for any number).
 */
export function msText(ms: number): string {
  const us = Math.round(ms * 1000);
  // Below 2^53 / 1000 every count of microseconds is exact; past it (or NaN, or negative) the slow way.
  if (!(us >= 0 && us < 9e15)) return String(us / 1000);
  const whole = Math.floor(us / 1000);
  const frac = us - whole * 1000;
  if (frac === 0) return `${whole}`;
  // The fraction without its trailing zeros: 13.2 is 13200 µs, 0.05 is 50.
  if (frac % 100 === 0) return `${whole}.${frac / 100}`;
  if (frac % 10 === 0) return `${whole}.${frac < 100 ? '0' : ''}${frac / 10}`;
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

function timer(name: string): (r: AccessRecord, ms: number) => string {
  const key = `,"${name}":`;
  return (_r, ms) => (ms < 0 ? '' : `${key}${msText(ms)}`);
}
const headMs = timer('headMs');
const queueMs = timer('queueMs');
const connectMs = timer('connectMs');
const ttfbMs = timer('ttfbMs');

// What JSON must escape in a string: a quote, a backslash, the controls, and (JSON.stringify being
// well-formed) a lone surrogate.
const JSON_ESCAPED = /["\\\x00-\x1f\ud800-\udfff]/;

/**
 * `s` as a JSON string. A config's names and nearly every path hold nothing JSON escapes, and are
 * quoted as they are: the scan costs 70-110 ns where JSON.stringify costs 150-160 ns a call (Node 20,
 * four a line). Anything else goes through JSON.stringify (test/unit/access-line.test.js holds the
 * two to the same text for any string).
 */
export function jsonText(s: string | null | undefined): string {
  if (s === null || s === undefined) return 'null';
  return JSON_ESCAPED.test(s) ? JSON.stringify(s) : `"${s}"`;
}

// A connection's TLS version, kept on its socket once known: it cannot change after the handshake,
// and asking OpenSSL through the socket cost 0.6 µs per request of a connection's every request
// (an HTTP/2 connection's streams, kept-alive HTTP/1.1).
const TLS_VERSION = Symbol('flagman.tlsVersion');
type VersionedSocket = TLSSocket & { [TLS_VERSION]?: string };

/** The TLS version of a client connection (`TLSv1.3`); null: plain, or not known (closed before it was asked). */
export function tlsVersionOf(socket: object | null | undefined): string | null {
  const s = socket as VersionedSocket | null | undefined;
  if (s?.encrypted !== true) return null;
  const known = s[TLS_VERSION];
  if (known !== undefined) return known;
  const version = s.getProtocol();
  if (version !== null) s[TLS_VERSION] = version;
  return version;
}

/** HTTP/1.1, HTTP/1.0, or h2 (as ALPN and HAProxy's logs name HTTP/2). */
export function protoOf(req: http.IncomingMessage): string {
  return req.httpVersionMajor === 2 ? 'h2' : `HTTP/${req.httpVersion}`;
}

// Each field's JSON member, with its leading comma, or '' when it does not apply to the line. The
// method and the IP are quoted as they are: Node's parser accepts only token characters in a
// method, and an address — a socket's, or one taken from X-Forwarded-For only once it parsed as one
// (expr/forwarded.ts) — is digits, hex, dots and colons; neither can hold a quote or a backslash.
const FIELDS: Readonly<Record<AccessField, FieldWriter>> = {
  frontend: (r) => `,"frontend":${jsonText(r.frontend)}`,
  mode: (r) => (r.tcp ? ',"mode":"tcp"' : ''),
  backend: (r) => `,"backend":${jsonText(r.backend)}`,
  server: (r) => `,"server":${jsonText(r.server)}`,
  method: (r) => (r.tcp ? '' : r.req === null ? ',"method":null' : `,"method":"${r.req.method}"`),
  path: (r) => (r.tcp ? '' : r.req === null ? ',"path":null' : `,"path":${jsonText(r.req.url)}`),
  proto: (r) => (r.req === null ? '' : `,"proto":"${protoOf(r.req)}"`),
  tls: (r) => (r.tls === null ? '' : `,"tls":"${r.tls}"`),
  upgrade: (r) => (r.upgrade === null ? '' : `,"upgrade":${JSON.stringify(r.upgrade)}`),
  status: (r) => (r.tcp ? '' : `,"status":${r.status}`),
  bytesIn: (r) => (r.bytesIn < 0 ? '' : `,"bytesIn":${r.bytesIn}`),
  bytes: (r) => (r.tcp ? '' : `,"bytes":${r.bytesOut}`),
  bytesOut: (r) => (r.tcp ? `,"bytesOut":${r.bytesOut}` : ''),
  headMs: (r) => headMs(r, r.headMs),
  queueMs: (r) => queueMs(r, r.queueMs),
  connectMs: (r) => connectMs(r, r.connectMs),
  ttfbMs: (r) => ttfbMs(r, r.ttfbMs),
  ms: (r) => `,"ms":${msText(r.ms)}`,
  tries: (r) => `,"tries":${r.tries}`,
  ip: (r) => `,"ip":"${r.ip}"`,
  peer: (r) => (r.peer === r.ip ? '' : `,"peer":"${r.peer}"`),
  id: (r) => (r.id === null ? '' : `,"id":${JSON.stringify(r.id)}`),
  reason: (r) => (r.reason === null ? '' : `,"reason":${JSON.stringify(r.reason)}`),
};

// Every field, in FIELDS' order, as one expression: each call site calls one function, which V8
// inlines, where a loop's one call site sees 23 and inlines none (a line in 0.39–0.43 µs against
// 0.60–0.63 µs through the loop, Node 26, 2·10⁶ lines). test/unit/access-line.test.js holds the two
// to the same output, so the order is FIELDS' in both.
function allMembers(r: AccessRecord): string {
  const f = FIELDS;
  return (
    f.frontend(r) +
    f.mode(r) +
    f.backend(r) +
    f.server(r) +
    f.method(r) +
    f.path(r) +
    f.proto(r) +
    f.tls(r) +
    f.upgrade(r) +
    f.status(r) +
    f.bytesIn(r) +
    f.bytes(r) +
    f.bytesOut(r) +
    f.headMs(r) +
    f.queueMs(r) +
    f.connectMs(r) +
    f.ttfbMs(r) +
    f.ms(r) +
    f.tries(r) +
    f.ip(r) +
    f.peer(r) +
    f.id(r) +
    f.reason(r)
  );
}

class JsonLines implements AccessLog {
  /** The fields picked, in their order; null: every one (allMembers). */
  readonly #fields: readonly FieldWriter[] | null;

  constructor(fields: readonly FieldWriter[] | null) {
    this.#fields = fields;
  }

  write(r: AccessRecord): void {
    if (r.ms < 0) r.ms = performance.now() - r.start;
    writeAccess(jsonMembers(r, this.#fields));
  }
}

type FieldWriter = (r: AccessRecord) => string;

/** The JSON members of `r`'s line (each with its leading comma) for `fields` (null: all), as log.ts's writeAccess takes them. */
export function jsonMembers(r: AccessRecord, fields: readonly FieldWriter[] | null = null): string {
  if (fields === null) return allMembers(r);
  let line = '';
  for (let i = 0; i < fields.length; i++) line += fields[i]!(r);
  return line;
}

/** The writers of the fields named, in their order (a config's `log.access.fields`). */
export function fieldWriters(names: readonly AccessField[]): FieldWriter[] {
  return names.map((f) => FIELDS[f]);
}

// The combined log format's time, `[06/Dec/2026:14:39:03 +0000]`, in UTC, made at most once a second.
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
let clfSecond = -1;
let clfText = '';

/** The combined log format's `[day/Mon/year:HH:MM:SS +0000]` for `now` (ms since the epoch). */
export function clfTime(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== clfSecond) {
    clfSecond = second;
    const d = new Date(second * 1000);
    const two = (n: number): string => (n < 10 ? `0${n}` : String(n));
    const date = `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}`;
    clfText = `[${date}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000]`;
  }
  return clfText;
}

// What a quoted field of the combined log format may not hold as it is: a quote, a backslash, and
// control and non-ASCII bytes (headers are latin-1). Written as \xHH, as nginx escapes them, so a
// line is always one line and its quotes always delimit fields.
const CLF_UNSAFE = /["\\\x00-\x1f\x7f-\xff]/g;

/** `s` safe inside a combined-log-format quoted field; `-` for a value absent or empty. */
export function clfQuoted(s: string | undefined | null): string {
  if (s === undefined || s === null || s === '') return '-';
  CLF_UNSAFE.lastIndex = 0;
  if (!CLF_UNSAFE.test(s)) return s;
  return s.replace(CLF_UNSAFE, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * The combined log format (Apache's and nginx's `combined`): client, `-`, `-`, time, request line,
 * status, body bytes sent, Referer, User-Agent. A line without a request (a tcp connection) has `-`
 * for its request line and status.
 */
export function clfLine(r: AccessRecord, now: number): string {
  const req = r.req;
  if (req === null) return `${r.ip} - - ${clfTime(now)} "-" ${r.tcp ? '-' : r.status} ${r.bytesOut} "-" "-"\n`;
  const h = req.headers;
  // In two pieces only to fit the line: as many string additions as one template.
  const line = `${clfQuoted(req.method)} ${clfQuoted(req.url)} ${protoOf(req)}`;
  return `${r.ip} - - ${clfTime(now)} "${line}" ${r.status} ${r.bytesOut} "${clfQuoted(h.referer)}" "${clfQuoted(h['user-agent'])}"\n`;
}

class CombinedLines implements AccessLog {
  write(r: AccessRecord): void {
    if (r.ms < 0) r.ms = performance.now() - r.start;
    writeAccessText(clfLine(r, Date.now()));
  }
}

/** The writer `log.access` asks for; null: the access log is off. */
export function accessLogOf(config: AccessLogConfig | null): AccessLog | null {
  if (config === null) return null;
  if (config.format === 'clf') return new CombinedLines();
  return new JsonLines(config.fields === null ? null : fieldWriters(config.fields));
}
