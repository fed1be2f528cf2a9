// `frontends:` of flagman.yaml (docs/configuration.md): where clients connect and the rules that pick a backend.
// Rule conditions stay CEL source text with positions; expr/ compiles them.
import type { AddressText, FrontendConfig, ListenAddress, Mode, RateLimitConfig, RuleConfig, UnderscoreHeaders } from './schema.js';
import { DEFAULTS, MAX_MAXCONN, MAX_RATE, MODES } from './schema.js';
import { checkName } from './backends.js';
import {
  fieldsOf,
  isMap,
  isScalar,
  listItems,
  mapEntries,
  missing,
  readBool,
  readExpr,
  readInt,
  readIntOrExpr,
  readOneOf,
  readSize,
  readString,
  tryParse,
  wrongKind,
} from './nodes.js';
import type { Entry, Walker } from './nodes.js';
import { readTls } from './tls.js';
import { parseListenAddress } from './units.js';

export const FRONTEND_KEYS = {
  mode: `${MODES.join(' | ')} (default ${DEFAULTS.mode}): tcp accepts raw connections, routed by client.ip and flags only`,
  listen: 'addresses: host:port, [v6]:port, :port or systemd:NAME; one string or a list',
  rules: 'first match wins; no match answers 503 (tcp: closes the connection)',
  underscoreHeaders: 'request header names with "_": allow (default), refuse (400) or drop',
  tls: 'serve HTTPS (HTTP/1.1 and HTTP/2): {cert, key}, or a list of them chosen by SNI (first: default)',
  maxBody: 'the largest request body: bytes, or a size such as 512KiB or 1MiB (default: none); larger ones get 413',
  maxconn:
    `the most client connections served at once, every listener together: 0–${MAX_MAXCONN} ` +
    `(default ${DEFAULTS.maxconn}: no limit); the next ones wait, unread, until one closes`,
  acceptProxy:
    'true: every connection starts with a PROXY protocol header (v1 or v2) naming the client, ' +
    'as a load balancer sends it; others are closed (default false)',
  trustedProxies: 'addresses or CIDR blocks of the load balancers in front: from them, X-Forwarded-For names the client (client.ip)',
  requestId:
    "an ID per request, for the server, the access log and flagman's own answers: " +
    `true, false (default), or {header} (default ${DEFAULTS.requestIdHeader})`,
} as const;

export const REQUEST_ID_KEYS = {
  header: `the request header that carries the ID (default ${DEFAULTS.requestIdHeader}); a trusted proxy's valid one is kept`,
} as const;

const UNDERSCORE_HEADERS = ['allow', 'refuse', 'drop'] as const;

export const RULE_KEYS = {
  when: 'CEL condition; without it the rule always matches',
  use: 'the backend to send the request to',
  maxBody: "the largest request body for this rule's requests: a size, or off (default: the frontend's)",
  limit: 'rate limit: {rate, burst, by}; past it 429 with Retry-After',
} as const;

export const LIMIT_KEYS = {
  rate: `requests a second, 1–${MAX_RATE}, or a CEL expression using flag() (recomputed when a flag changes)`,
  burst: `requests allowed at once on top of the rate, 0–${MAX_RATE} (default ${DEFAULTS.burst})`,
  by: 'CEL string: the key each client is counted under, such as client.ip or header("X-Api-Key") (default: one bucket for the rule)',
} as const;

// What only an HTTP request has: a tcp frontend's connections carry neither a body nor a request to count.
const HTTP_ONLY = 'a tcp frontend passes bytes through without reading requests; only an http frontend takes';

/** Reads every frontend, in file order. */
export function readFrontends(w: Walker, e: Entry | undefined, baseDir: string): FrontendConfig[] {
  if (e === undefined) return [];
  const out: FrontendConfig[] = [];
  for (const fe of mapEntries(w, e) ?? []) {
    if (!checkName(w, fe, 'frontend')) continue;
    const f = fieldsOf(w, fe, FRONTEND_KEYS);
    if (f === undefined) continue;
    const before = w.errors.length;
    const listen = f.listen === undefined ? [] : readListen(w, f.listen);
    if (f.listen === undefined) missing(w, fe, 'listen', ': a frontend needs at least one address');
    // An empty list after item errors is already explained; do not add to it.
    else if (listen.length === 0 && w.errors.length === before) {
      w.fail('CONFIG_SCHEMA', `${f.listen.path}: a frontend needs at least one address`, f.listen.at);
    }
    const underscoreHeaders: UnderscoreHeaders =
      f.underscoreHeaders === undefined ? 'allow' : (readOneOf(w, f.underscoreHeaders, UNDERSCORE_HEADERS) ?? 'allow');
    const mode = (f.mode && readOneOf(w, f.mode, MODES)) ?? DEFAULTS.mode;
    if (mode === 'tcp' && f.underscoreHeaders !== undefined) {
      w.fail(
        'CONFIG_SCHEMA',
        `${f.underscoreHeaders.path}: a tcp frontend has no HTTP headers; only an http frontend takes underscoreHeaders`,
        f.underscoreHeaders.keyAt,
      );
    }
    if (mode === 'tcp' && f.tls !== undefined) {
      w.fail('CONFIG_SCHEMA', `${f.tls.path}: TLS is for http frontends; a tcp frontend passes its bytes through untouched`, f.tls.keyAt);
    }
    const tls = f.tls === undefined || mode === 'tcp' ? null : (readTls(w, f.tls, baseDir) ?? null);
    if (mode === 'tcp' && f.maxBody !== undefined) w.fail('CONFIG_SCHEMA', `${f.maxBody.path}: ${HTTP_ONLY} maxBody`, f.maxBody.keyAt);
    const maxBody = f.maxBody === undefined || mode === 'tcp' ? null : readMaxBody(w, f.maxBody);
    const maxconn = f.maxconn === undefined ? DEFAULTS.maxconn : (readMaxconn(w, f.maxconn) ?? DEFAULTS.maxconn);
    const acceptProxy = (f.acceptProxy && readBool(w, f.acceptProxy)) ?? false;
    const rules = f.rules === undefined ? [] : readRules(w, f.rules, mode);
    if (mode === 'tcp' && f.trustedProxies !== undefined)
      w.fail(
        'CONFIG_SCHEMA',
        `${f.trustedProxies.path}: ${HTTP_ONLY} trustedProxies (X-Forwarded-For is an HTTP header)`,
        f.trustedProxies.keyAt,
      );
    const trustedProxies = f.trustedProxies === undefined || mode === 'tcp' ? [] : readAddressList(w, f.trustedProxies);
    if (mode === 'tcp' && f.requestId !== undefined)
      w.fail('CONFIG_SCHEMA', `${f.requestId.path}: ${HTTP_ONLY} requestId`, f.requestId.keyAt);
    const requestId = f.requestId === undefined || mode === 'tcp' ? null : (readRequestId(w, f.requestId) ?? null);
    out.push({
      name: fe.name,
      mode,
      listen,
      rules,
      underscoreHeaders,
      tls,
      maxBody: maxBody === 'off' ? null : (maxBody ?? null),
      maxconn,
      acceptProxy,
      trustedProxies,
      requestId,
      at: fe.keyAt,
    });
  }
  return out;
}

function readListen(w: Walker, e: Entry): ListenAddress[] {
  const out: ListenAddress[] = [];
  for (const item of listItems(w, e, 'addresses', true) ?? []) {
    const text = isScalar(item.node) && typeof item.node.value === 'string' ? item.node.value : undefined;
    if (text === undefined) {
      wrongKind(w, item, 'an address such as :8080 or 127.0.0.1:8080');
      continue;
    }
    const addr = tryParse(w, item, () => parseListenAddress(text, item.at));
    if (addr !== undefined) out.push(addr);
  }
  return out;
}

// Kept as text with positions: compiling the program parses each one as `cidr("…")` is parsed
// (expr/forwarded.ts), and reports the ones that are not addresses or blocks where they are.
function readAddressList(w: Walker, e: Entry): AddressText[] {
  const out: AddressText[] = [];
  for (const item of listItems(w, e, 'addresses or CIDR blocks', true) ?? []) {
    const text = isScalar(item.node) && typeof item.node.value === 'string' ? item.node.value : undefined;
    if (text === undefined) wrongKind(w, item, 'an address or CIDR block such as 10.0.0.0/8 or 2001:db8::/32');
    else out.push({ text, path: item.path, at: item.at });
  }
  return out;
}

// RFC 9110's token: what a header name may be made of.
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

// Headers flagman writes, drops or frames the message by: an ID there would be lost or break the request.
const NOT_AN_ID_HEADER = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-real-ip',
  'forwarded',
]);

// `requestId: true` (or on), `false` (or off), or `{ header: NAME }`.
function readRequestId(w: Walker, e: Entry): { header: string } | undefined {
  if (!isMap(e.node)) {
    const on = readBool(w, e);
    return on === true ? { header: DEFAULTS.requestIdHeader } : undefined;
  }
  const f = fieldsOf(w, e, REQUEST_ID_KEYS);
  if (f === undefined) return undefined;
  if (f.header === undefined) return { header: DEFAULTS.requestIdHeader };
  const header = readString(w, f.header);
  if (header === undefined) return undefined;
  if (!TOKEN_RE.test(header))
    return w.fail(
      'CONFIG_SCHEMA',
      `${f.header.path}: "${header}" is not a header name (letters, digits and !#$%&'*+-.^_\`|~)`,
      f.header.at,
    );
  if (NOT_AN_ID_HEADER.has(header.toLowerCase()))
    return w.fail(
      'CONFIG_SCHEMA',
      `${f.header.path}: ${header} is a header flagman sets or removes itself; name another, such as ${DEFAULTS.requestIdHeader}`,
      f.header.at,
    );
  return { header };
}

function readRules(w: Walker, e: Entry, mode: Mode): RuleConfig[] {
  const out: RuleConfig[] = [];
  for (const r of listItems(w, e, 'rules') ?? []) {
    const f = fieldsOf(w, r, RULE_KEYS);
    if (f === undefined) continue;
    const when = f.when === undefined ? null : readExpr(w, f.when, 'a CEL condition');
    for (const key of ['maxBody', 'limit'] as const) {
      const extra = f[key];
      if (mode === 'tcp' && extra !== undefined) w.fail('CONFIG_SCHEMA', `${extra.path}: ${HTTP_ONLY} ${key}`, extra.keyAt);
    }
    const maxBody = f.maxBody === undefined || mode === 'tcp' ? null : readMaxBody(w, f.maxBody);
    const limit = f.limit === undefined || mode === 'tcp' ? null : readLimit(w, f.limit);
    if (f.use === undefined) {
      missing(w, r, 'use', ': the backend this rule sends to');
      continue;
    }
    const use = readString(w, f.use);
    if (use === undefined || when === undefined || maxBody === undefined || limit === undefined) continue;
    out.push({ when, use, maxBody, limit, at: r.keyAt, useAt: f.use.at });
  }
  return out;
}

// A frontend's maxconn is fixed at load: connections are counted against it from their accept on.
// A flag() expression is a server's maxconn (backends.ts), which the message names so the two
// keys are not taken for each other.
function readMaxconn(w: Walker, e: Entry): number | undefined {
  if (isScalar(e.node) && typeof e.node.value === 'string') {
    return wrongKind(
      w,
      e,
      `a whole number from 0 to ${MAX_MAXCONN} (a frontend's maxconn counts client connections and takes no expression; ` +
        "a server's maxconn, under backends, may use flag())",
    );
  }
  return readInt(w, e, 0, MAX_MAXCONN);
}

// A size, or `off` (also YAML's false): no limit, where a rule lifts its frontend's.
function readMaxBody(w: Walker, e: Entry): number | 'off' | undefined {
  const v = isScalar(e.node) ? e.node.value : undefined;
  if (v === 'off' || v === false) return 'off';
  return readSize(w, e);
}

function readLimit(w: Walker, e: Entry): RateLimitConfig | undefined {
  const f = fieldsOf(w, e, LIMIT_KEYS);
  if (f === undefined) return undefined;
  const burst = f.burst === undefined ? DEFAULTS.burst : readInt(w, f.burst, 0, MAX_RATE);
  const by = f.by === undefined ? null : readExpr(w, f.by, 'a CEL expression giving a string, such as client.ip');
  if (f.rate === undefined) return missing(w, e, 'rate', ': requests a second, such as 10 or flag("API_RATE", 10)');
  const rate = readIntOrExpr(w, f.rate, 1, MAX_RATE, 'flag("API_RATE", 10)');
  if (rate === undefined || burst === undefined || by === undefined) return undefined;
  return { rate, burst, by, at: e.keyAt };
}
