// The request heads flagman's HTTP/1.1 fast path (h1-connection.ts) serves itself: the common ones,
// read in one pass of a string, with nothing ambiguous in them. Everything else — a head this reader
// is not sure of, or one whose handling is not plain (a chunked body, an upgrade, `Expect`,
// HTTP/1.0, a missing Host, an unusual method or character) — returns null, and the connection goes
// to Node's HTTP/1.1 server, which answers it as it always did (its errors, limits and timeouts
// included). So this reader never has to refuse anything: it only has to accept nothing that Node's
// parser would read differently or refuse. test/fuzz/request-head.js holds it to that against
// Node's own parser on generated heads: briefly in `npm test` (test/unit/fuzz-request-head.test.js),
// for as long as it is given in `npm run fuzz`.
//
// What is accepted (RFC 9112 §3, §5), and why so little: a request line `METHOD SP target SP
// HTTP/1.1` with a method of the list below and a target in origin form (`/…`) of visible ASCII; header lines `name:
// value` with a token name and a value of visible ASCII, spaces and tabs; at most MAX_FIELDS of
// them, a Host, at most one Content-Length of 1-15 digits, and none of Transfer-Encoding, Upgrade,
// Expect. A header value's leading and trailing spaces and tabs are not part of it (Node trims
// both). obs-text (bytes over 0x7e) is left to Node, which accepts it in values: rare in requests,
// and not worth a second reading of what it means.

import { CLOSE_TOKEN, TOKEN_CHAR } from '../upstream/response.js';

/** A request head the fast path serves, read as Node's server would read it. */
export interface SimpleHead {
  method: string;
  /** The request target as sent. */
  url: string;
  /** Flat [name, value, …] as sent, values trimmed. */
  rawHeaders: string[];
  /** Lower-cased names; duplicates combined as Node's IncomingMessage combines them. */
  headers: Record<string, string | string[]>;
  /** The body's Content-Length; 0: none. */
  bodyLength: number;
  /** The connection may carry another request after this one (no `Connection: close`). */
  keepAlive: boolean;
}

/** More header lines than this: Node's server reads the head (the handler refuses over 100). */
export const MAX_FIELDS = 100;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

// Headers of which Node's IncomingMessage keeps the first of several (lib/_http_incoming.js); of
// the others it joins the values with ', ' (cookie: '; ', set-cookie: an array).
const FIRST_ONLY = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'host',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

const SP = 32;
const HTAB = 9;

/** A visible ASCII character (0x21-0x7e): the request target's, and a value's besides SP and HTAB. */
function visible(c: number): boolean {
  return c > 32 && c < 127;
}

/** Whether `head` (without its final CRLF CRLF) is one the fast path reads; null: leave it to Node. */
export function readSimpleHead(head: string): SimpleHead | null {
  const n = head.length;
  let eol = head.indexOf('\r\n');
  if (eol < 0) eol = n;
  // The request line.
  const sp1 = head.indexOf(' ');
  if (sp1 <= 0 || sp1 > eol) return null;
  const method = head.slice(0, sp1);
  if (!METHODS.has(method)) return null;
  // The target ends at the version: ` HTTP/1.1` is the line's last 9 characters.
  const sp2 = eol - 9;
  if (sp2 <= sp1 + 1 || head.charCodeAt(sp2) !== SP || !head.startsWith('HTTP/1.1', sp2 + 1)) return null;
  // Origin form only (`/path?query`): absolute form, `*` and authority form are Node's to read.
  if (head.charCodeAt(sp1 + 1) !== 47) return null;
  for (let i = sp1 + 2; i < sp2; i++) if (!visible(head.charCodeAt(i))) return null;
  const url = head.slice(sp1 + 1, sp2);

  const rawHeaders: string[] = [];
  const headers: Record<string, string | string[]> = {};
  let lengthText: string | undefined;
  let host = false;
  let close = false;
  let pos = eol + 2;
  while (pos < n) {
    let end = head.indexOf('\r\n', pos);
    if (end < 0) end = n;
    // The name: a token, then the colon at once (no space before it: RFC 9112 §5.1).
    let i = pos;
    for (; i < end; i++) {
      if (TOKEN_CHAR[head.charCodeAt(i)] !== 1) break;
    }
    if (i === pos || i === end || head.charCodeAt(i) !== 58) return null;
    const name = head.slice(pos, i);
    // The value: visible characters, spaces and tabs; the spaces and tabs around it dropped.
    let from = i + 1;
    let to = end;
    for (let j = from; j < to; j++) {
      const c = head.charCodeAt(j);
      if (!visible(c) && c !== SP && c !== HTAB) return null;
    }
    while (from < to && (head.charCodeAt(from) === SP || head.charCodeAt(from) === HTAB)) from++;
    while (to > from && (head.charCodeAt(to - 1) === SP || head.charCodeAt(to - 1) === HTAB)) to--;
    const value = head.slice(from, to);
    if (rawHeaders.length === MAX_FIELDS * 2) return null;
    rawHeaders.push(name, value);
    const key = name.toLowerCase();
    switch (key) {
      case 'transfer-encoding':
      case 'upgrade':
      case 'expect':
        return null;
      case 'content-length':
        // Node 20's llhttp refuses an HTAB after the digits: none around them, to be read the same everywhere.
        if (lengthText !== undefined || head.slice(i + 1, end).includes('\t')) return null;
        lengthText = value;
        break;
      case 'host':
        host = true;
        break;
      // llhttp reads Proxy-Connection as Connection.
      case 'connection':
      case 'proxy-connection': {
        const tokens = value.toLowerCase();
        // llhttp does not take an HTAB for a separator between its tokens: left to it.
        if (tokens.includes('upgrade') || head.slice(i + 1, end).includes('\t')) return null;
        if (CLOSE_TOKEN.test(tokens)) close = true;
        break;
      }
    }
    const had = headers[key];
    if (had === undefined) headers[key] = key === 'set-cookie' ? [value] : value;
    else if (key === 'set-cookie') (had as string[]).push(value);
    else if (!FIRST_ONLY.has(key)) headers[key] = `${had as string}${key === 'cookie' ? '; ' : ', '}${value}`;
    pos = end + 2;
  }
  if (!host) return null;
  let bodyLength = 0;
  if (lengthText !== undefined) {
    if (lengthText.length === 0 || lengthText.length > 15) return null;
    for (let i = 0; i < lengthText.length; i++) {
      const c = lengthText.charCodeAt(i);
      if (c < 48 || c > 57) return null;
    }
    bodyLength = Number(lengthText);
  }
  return { method, url, rawHeaders, headers, bodyLength, keepAlive: !close };
}
