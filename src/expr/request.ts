// The per-request side of expressions: what the proxy hands in (RequestInput), the `request` and
// `client` views CEL reads fields from, and the header()/cookie() lookups. Everything here runs on
// the hot path, so it derives nothing until an expression asks for it and allocates as little as
// it can: one view pair is reused for every evaluation.

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** What an expression may read about one request; the proxy builds it from IncomingMessage. */
export interface RequestInput {
  readonly method: string;
  /** Path and query as received (`req.url`), raw: not percent-decoded, not normalised. */
  readonly url: string;
  /**
   * The Host header value as received (may carry a port), or a trusted proxy's X-Forwarded-Host
   * (forwarded.ts); undefined when absent.
   */
  readonly host: string | undefined;
  /** `http` or `https`: how the client reached the frontend, or a trusted proxy (forwarded.ts). */
  readonly scheme: string;
  /**
   * `client.ip`: the client's address — the connection's, or behind a trusted proxy the one its
   * X-Forwarded-For names (proxy/origin.ts).
   */
  readonly clientIp: string;
  /** `request.peer`: the address the connection came from, whoever it says the client is. */
  readonly peer: string;
  /** Node's parsed headers: names lowercase, repeated headers joined or (set-cookie) an array. */
  readonly headers: IncomingHttpHeaders;
  // Derived on first use (requestPath() and the others below) and kept for the request's other
  // rules: several rules reading request.path split the URL once.
  derivedPath?: string | undefined;
  derivedQuery?: string | undefined;
  derivedHost?: string | undefined;
}

/** Who a request is from and what it asks for, as the proxy decided it once (proxy/origin.ts). */
export interface RequestFrom {
  readonly clientIp: string;
  readonly peer: string;
  /** `request.scheme` (forwarded.ts schemeOf). */
  readonly scheme: string;
  /** A trusted proxy's X-Forwarded-Host (forwarded.ts); null: `request.host` is the Host header's. */
  readonly forwardedHost: string | null;
}

/** The RequestInput for a request Node parsed; one small object, built only when a rule needs it. */
export function requestInput(req: IncomingMessage, from: RequestFrom): RequestInput {
  return {
    method: req.method ?? '',
    url: req.url ?? '',
    host: from.forwardedHost ?? req.headers.host,
    scheme: from.scheme,
    clientIp: from.clientIp,
    peer: from.peer,
    headers: req.headers,
    derivedPath: undefined,
    derivedQuery: undefined,
    derivedHost: undefined,
  };
}

const NO_HEADERS: IncomingHttpHeaders = Object.freeze({});

/**
 * The input of a tcp frontend's rules: a connection has a client address and nothing else (compile.ts
 * refuses `request`, header() and cookie() in those rules, so no field below is ever read).
 */
export function connectionInput(clientIp: string): RequestInput {
  return { method: '', url: '', host: undefined, scheme: 'tcp', clientIp, peer: clientIp, headers: NO_HEADERS };
}

// Not frozen: the derived fields may be written on it.
const NO_REQUEST: RequestInput = { method: '', url: '', host: undefined, scheme: '', clientIp: '', peer: '', headers: NO_HEADERS };

/** `request.path`: the path of the target, "/" when empty (absolute-form targets lose their authority). */
export function requestPath(input: RequestInput): string {
  if (input.derivedPath === undefined) splitUrl(input);
  return input.derivedPath!;
}

/** `request.query`: what follows "?", without the fragment; "" when none. */
export function requestQuery(input: RequestInput): string {
  if (input.derivedQuery === undefined) splitUrl(input);
  return input.derivedQuery!;
}

/**
 * `request.host`: the Host header (or a trusted proxy's X-Forwarded-Host) without its port,
 * lowercased (host names are case-insensitive); `[v6]` keeps its brackets.
 */
export function requestHost(input: RequestInput): string {
  if (input.derivedHost !== undefined) return input.derivedHost;
  const raw = input.host ?? '';
  let end = raw.length;
  const close = raw.lastIndexOf(']');
  const colon = raw.lastIndexOf(':');
  if (colon > close) end = colon;
  input.derivedHost = raw.slice(0, end).toLowerCase();
  return input.derivedHost;
}

function splitUrl(input: RequestInput): void {
  const url = input.url;
  let start = 0;
  // absolute-form (`GET http://host/p`): the path starts after the authority.
  if (url.charCodeAt(0) !== 47 && url !== '*') {
    const scheme = url.indexOf('://');
    if (scheme > 0) {
      const slash = url.indexOf('/', scheme + 3);
      start = slash < 0 ? url.length : slash;
    }
  }
  let q = url.indexOf('?', start);
  let hash = url.indexOf('#', start);
  if (hash < 0) hash = url.length;
  if (q < 0 || q > hash) q = hash;
  const path = url.slice(start, q);
  input.derivedPath = path === '' ? '/' : path;
  input.derivedQuery = q < hash ? url.slice(q + 1, hash) : '';
}

/**
 * The request being evaluated. cel-js calls function handlers without the evaluation context, so
 * header()/cookie() read it from here; `withRequest` sets it right before a synchronous evaluation
 * and clears it after, so nothing can observe another request's headers.
 */
let current: RequestInput = NO_REQUEST;

/** `request.*` for CEL. Fields are getters so path/query/host are split only when used. */
export class RequestView {
  get method(): string {
    return current.method;
  }

  get scheme(): string {
    return current.scheme;
  }

  get path(): string {
    return requestPath(current);
  }

  get query(): string {
    return requestQuery(current);
  }

  get host(): string {
    return requestHost(current);
  }

  get peer(): string {
    return current.peer;
  }
}

/** `client.*` for CEL. */
export class ClientView {
  get ip(): string {
    return current.clientIp;
  }
}

const requestView = new RequestView();
const clientView = new ClientView();

/** The one evaluation context, reused: the views read `current`, so it never changes. */
export const CONTEXT = Object.freeze({ request: requestView, client: clientView });

/** Runs `fn` with `input` as the current request; `fn` must be synchronous. */
export function withRequest<T>(input: RequestInput, fn: (context: typeof CONTEXT) => T): T {
  current = input;
  try {
    return fn(CONTEXT);
  } finally {
    current = NO_REQUEST;
  }
}

/** header(name): the value, "" when absent; case-insensitive name; repeated values joined with ", ". */
export function headerValue(name: string): string {
  return headerOf(current, name);
}

/** header(name) of `input`. */
export function headerOf(input: RequestInput, name: string): string {
  const headers = input.headers;
  let v = headers[name];
  if (v === undefined) {
    // Literal names are lowercased at specialize time, so this second lookup is the rare case.
    const lower = name.toLowerCase();
    if (lower !== name) v = headers[lower];
  }
  if (typeof v === 'string') return v;
  // `typeof` and isArray also keep `header("__proto__")` from reaching Object.prototype.
  return Array.isArray(v) ? v.join(', ') : '';
}

/**
 * cookie(name): the raw value of the first cookie with that name, "" when absent. Raw like nginx's
 * `$cookie_NAME`: not percent-decoded, quotes kept. Scans the header in place rather than splitting it.
 */
export function cookieValue(name: string): string {
  return cookieOf(current, name);
}

/** cookie(name) of `input`. */
export function cookieOf(input: RequestInput, name: string): string {
  const raw = input.headers.cookie;
  if (raw === undefined || name === '') return '';
  const header: string = typeof raw === 'string' ? raw : (raw as readonly string[]).join('; ');
  const n = header.length;
  let i = 0;
  while (i < n) {
    while (i < n && (header.charCodeAt(i) === 32 || header.charCodeAt(i) === 9)) i++;
    let end = header.indexOf(';', i);
    if (end < 0) end = n;
    const eq = header.indexOf('=', i);
    if (eq > i && eq < end) {
      let keyEnd = eq;
      while (keyEnd > i && header.charCodeAt(keyEnd - 1) === 32) keyEnd--;
      if (keyEnd - i === name.length && header.startsWith(name, i)) {
        let vs = eq + 1;
        let ve = end;
        while (vs < ve && header.charCodeAt(vs) === 32) vs++;
        while (ve > vs && header.charCodeAt(ve - 1) === 32) ve--;
        return header.slice(vs, ve);
      }
    }
    i = end + 1;
  }
  return '';
}
