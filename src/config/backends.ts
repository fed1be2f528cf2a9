// `backends:` of flagman.yaml (docs/configuration.md): each backend either proxies to `servers` or answers itself
// with `respond`. References between backends (fallback) are checked later, in refs.ts, once every
// name is known.
import { resolve } from 'node:path';
import type { BackendConfig, ServerConfig, Timeouts } from './schema.js';
import { readHealth } from './health.js';
import { BALANCERS, DEFAULTS, MAX_MAXCONN, MAX_QUEUE, MAX_WEIGHT, MODES, REDIRECT_STATUSES, SEND_PROXY, type SendProxy } from './schema.js';
import { fieldsOf, isScalar, mapEntries, missing, readInt, readIntOrExpr, readOneOf, readString, tryParse, wrongKind } from './nodes.js';
import type { Entry, Walker } from './nodes.js';
import { readTimeoutOverrides } from './sections.js';
import { parseServerAddress } from './units.js';

/** Names of frontends, backends and servers: they appear in status keys, metrics labels and logs. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export const BACKEND_KEYS = {
  mode: `what the servers speak: ${MODES.join(' | ')} (default ${DEFAULTS.mode}); tcp passes connections through byte for byte`,
  balance: `how servers are picked: ${BALANCERS.join(' | ')} (default ${DEFAULTS.balance})`,
  health: 'active health checks: type (http, tcp, exec), path, status, command, interval, timeout, rise, fall (default: none)',
  fallback: 'backend used when no server is eligible (default: answer 503)',
  timeouts: 'connect, server, idle, queue: override the top-level timeouts for this backend',
  queue: 'how many requests (tcp: connections) may wait for a server with a free slot (maxconn): 0 or more (default: no bound)',
  sendProxy: 'v1 or v2: start each connection to a server with a PROXY protocol header naming the client (default: none)',
  servers: 'the servers, by name: address and weight',
  respond: 'answer without a server: status, body or file, headers',
  redirect: 'answer with a redirect to the same host, path and query: scheme, port, status',
  refuse: 'true: close every connection at once, sending nothing (tcp frontends only)',
} as const;

// Keys that only make sense for a backend with servers.
const PROXY_ONLY = ['mode', 'balance', 'health', 'fallback', 'timeouts', 'queue', 'sendProxy'] as const;

export const SERVER_KEYS = {
  address: 'host:port or [v6]:port',
  weight: `an integer 0–256 or a CEL expression using flag() (default ${DEFAULTS.weight}); 0 drains`,
  maxconn:
    `the most requests (tcp: connections) in flight to it at once: an integer 0–${MAX_MAXCONN} ` +
    `or a CEL expression using flag() (default ${DEFAULTS.maxconn}: no limit)`,
  sendProxy: "v1, v2 or off: this server's PROXY protocol header, over its backend's sendProxy (default: the backend's)",
} as const;

export const RESPOND_KEYS = {
  status: `HTTP status, 200–599 (default ${DEFAULTS.respondStatus})`,
  body: 'inline body text',
  file: 'file served as the body, relative to the config file, re-read when it changes',
  headers: 'response headers: name: value',
} as const;

export const REDIRECT_KEYS = {
  scheme: `http or https (default ${DEFAULTS.redirectScheme})`,
  port: "port in the Location, 1–65535 (default: none, the scheme's own)",
  status: `${REDIRECT_STATUSES.join(', ')} (default ${DEFAULTS.redirectStatus})`,
} as const;

// The schemes a redirect may name (the two a frontend serves).
const REDIRECT_SCHEMES = ['http', 'https'] as const;

// RFC 9110 token, and a field value without control characters: Node's setHeader throws on anything
// else, and a request is the wrong moment to find out.
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE_BAD_RE = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Checks a frontend/backend/server name; records an error at the key when it does not fit NAME_RE. */
export function checkName(w: Walker, e: Entry, what: string): boolean {
  if (NAME_RE.test(e.name)) return true;
  w.fail('CONFIG_SCHEMA', `${e.path}: a ${what} name must match ${String(NAME_RE)}`, e.keyAt);
  return false;
}

/** The backends read, and every name declared, valid or not (refs.ts skips names already in error). */
export interface BackendsRead {
  readonly backends: BackendConfig[];
  readonly declared: ReadonlySet<string>;
}

/** Reads every backend; `timeouts` is the top level, which each backend's own timeouts override. */
export function readBackends(w: Walker, e: Entry | undefined, timeouts: Timeouts, baseDir: string): BackendsRead {
  const backends: BackendConfig[] = [];
  const declared = new Set<string>();
  for (const b of e === undefined ? [] : (mapEntries(w, e) ?? [])) {
    declared.add(b.name);
    if (!checkName(w, b, 'backend')) continue;
    const backend = readBackend(w, b, timeouts, baseDir);
    if (backend !== undefined) backends.push(backend);
  }
  return { backends, declared };
}

function readBackend(w: Walker, b: Entry, timeouts: Timeouts, baseDir: string): BackendConfig | undefined {
  const f = fieldsOf(w, b, BACKEND_KEYS);
  if (f === undefined) return undefined;
  const at = b.keyAt;
  if (f.refuse !== undefined) {
    for (const key of [...PROXY_ONLY, 'servers', 'respond', 'redirect'] as const) {
      const extra = f[key];
      if (extra !== undefined)
        w.fail('CONFIG_SCHEMA', `${extra.path}: a refuse backend takes nothing else; it closes every connection`, extra.keyAt);
    }
    const v = isScalar(f.refuse.node) ? f.refuse.node.value : undefined;
    if (v !== true) return wrongKind(w, f.refuse, 'true');
    return { kind: 'refuse', name: b.name, at };
  }
  // A backend does one of three things; two of them named is an error at the second.
  const kinds = [f.servers, f.respond, f.redirect].filter((k) => k !== undefined);
  if (kinds.length > 1) {
    return w.fail(
      'CONFIG_SCHEMA',
      `${b.path}: has ${kinds.length === 2 ? 'both ' : ''}${kinds.map((k) => k!.name).join(' and ')}; ` +
        'a backend either proxies to servers, responds or redirects',
      kinds[1]!.keyAt,
    );
  }
  const answer = f.respond ?? f.redirect;
  if (answer !== undefined) {
    for (const key of PROXY_ONLY) {
      const extra = f[key];
      if (extra !== undefined) w.fail('CONFIG_SCHEMA', `${extra.path}: only a backend with servers takes ${key}`, extra.keyAt);
    }
    return f.respond !== undefined ? readRespond(w, b.name, at, f.respond, baseDir) : readRedirect(w, b.name, at, answer);
  }
  if (f.servers === undefined) return missing(w, b, 'servers', ' (or respond, redirect or refuse)');
  const fallback = f.fallback === undefined ? undefined : readString(w, f.fallback);
  const mode = (f.mode && readOneOf(w, f.mode, MODES)) ?? DEFAULTS.mode;
  const sendProxy = f.sendProxy === undefined ? null : ((readSendProxy(w, f.sendProxy, false) as SendProxy | undefined) ?? null);
  return {
    kind: 'proxy',
    name: b.name,
    mode,
    balance: (f.balance && readOneOf(w, f.balance, BALANCERS)) ?? DEFAULTS.balance,
    // A tcp backend's servers speak no HTTP: its checks connect unless told otherwise.
    health: f.health === undefined ? null : (readHealth(w, f.health, baseDir, mode === 'tcp' ? 'tcp' : DEFAULTS.health.type) ?? null),
    fallback: fallback ?? null,
    fallbackAt: fallback === undefined || f.fallback === undefined ? null : f.fallback.at,
    timeouts: readTimeoutOverrides(w, f.timeouts, timeouts, true, mode),
    queue: (f.queue && readInt(w, f.queue, 0, MAX_QUEUE)) ?? null,
    servers: readServers(w, f.servers, sendProxy),
    at,
  };
}

// A backend's sendProxy is a version; a server's may also be `off` (YAML's false too), for one
// server of a backend that sends headers to the others.
const SEND_PROXY_OFF = [...SEND_PROXY, 'off'] as const;

function readSendProxy(w: Walker, e: Entry, offAllowed: boolean): SendProxy | 'off' | undefined {
  if (offAllowed && isScalar(e.node) && e.node.value === false) return 'off';
  return readOneOf(w, e, offAllowed ? SEND_PROXY_OFF : SEND_PROXY);
}

function readServers(w: Walker, e: Entry, sendProxy: SendProxy | null): ServerConfig[] {
  const out: ServerConfig[] = [];
  for (const s of mapEntries(w, e) ?? []) {
    if (!checkName(w, s, 'server')) continue;
    const f = fieldsOf(w, s, SERVER_KEYS);
    if (f === undefined) continue;
    const weight =
      f.weight === undefined
        ? { source: DEFAULTS.weight, at: s.keyAt }
        : readIntOrExpr(w, f.weight, 0, MAX_WEIGHT, 'flag("app2.weight", 1)');
    const maxconn = f.maxconn === undefined ? null : readIntOrExpr(w, f.maxconn, 0, MAX_MAXCONN, 'flag("app1.maxconn", 100)');
    const own = f.sendProxy === undefined ? sendProxy : readSendProxy(w, f.sendProxy, true);
    if (f.address === undefined) {
      missing(w, s, 'address');
      continue;
    }
    const text = readString(w, f.address);
    const addr = text === undefined ? undefined : tryParse(w, f.address, () => parseServerAddress(text));
    if (addr === undefined || weight === undefined || maxconn === undefined || own === undefined) continue;
    out.push({ name: s.name, host: addr.host, port: addr.port, weight, maxconn, sendProxy: own === 'off' ? null : own, at: s.keyAt });
  }
  return out;
}

function readRespond(w: Walker, name: string, at: BackendConfig['at'], e: Entry, baseDir: string): BackendConfig | undefined {
  const f = fieldsOf(w, e, RESPOND_KEYS);
  if (f === undefined) return undefined;
  if (f.body !== undefined && f.file !== undefined) {
    w.fail('CONFIG_SCHEMA', `${e.path}: give body or file, not both`, f.file.keyAt);
  }
  const body = f.body === undefined ? undefined : readString(w, f.body, false);
  const file = f.file === undefined ? undefined : readString(w, f.file);
  return {
    kind: 'respond',
    name,
    status: (f.status && readInt(w, f.status, 200, 599)) ?? DEFAULTS.respondStatus,
    body: body ?? null,
    file: file === undefined ? null : resolve(baseDir, file),
    headers: f.headers === undefined ? {} : readHeaders(w, f.headers),
    at,
  };
}

function readRedirect(w: Walker, name: string, at: BackendConfig['at'], e: Entry): BackendConfig | undefined {
  const f = fieldsOf(w, e, REDIRECT_KEYS);
  if (f === undefined) return undefined;
  const status = f.status && readInt(w, f.status, 300, 399);
  if (f.status !== undefined && status !== undefined && !(REDIRECT_STATUSES as readonly number[]).includes(status)) {
    w.fail('CONFIG_SCHEMA', `${f.status.path}: a redirect status is one of ${REDIRECT_STATUSES.join(', ')}, not ${status}`, f.status.at);
  }
  return {
    kind: 'redirect',
    name,
    scheme: (f.scheme && readOneOf(w, f.scheme, REDIRECT_SCHEMES)) ?? DEFAULTS.redirectScheme,
    port: (f.port && readInt(w, f.port, 1, 65535)) ?? null,
    status: (status as (typeof REDIRECT_STATUSES)[number] | undefined) ?? DEFAULTS.redirectStatus,
    at,
  };
}

// Header values: strings, and numbers written bare (`Retry-After: 120`) as their text.
function readHeaders(w: Walker, e: Entry): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const h of mapEntries(w, e) ?? []) {
    if (!HEADER_NAME_RE.test(h.name)) {
      w.fail('CONFIG_SCHEMA', `${h.path}: "${h.name}" is not a valid header name`, h.keyAt);
      continue;
    }
    // YAML keys are unique as written, but header names are case-insensitive.
    if (seen.has(h.name.toLowerCase())) {
      w.fail('CONFIG_SCHEMA', `${h.path}: header "${h.name}" is given twice (names ignore case)`, h.keyAt);
      continue;
    }
    seen.add(h.name.toLowerCase());
    const v = isScalar(h.node) ? h.node.value : undefined;
    if (typeof v !== 'string' && typeof v !== 'number') {
      wrongKind(w, h, 'a string or a number');
      continue;
    }
    const text = typeof v === 'number' ? (isScalar(h.node) && h.node.source) || String(v) : v;
    if (HEADER_VALUE_BAD_RE.test(text)) {
      w.fail('CONFIG_SCHEMA', `${h.path}: a header value must not contain control characters or line breaks`, h.at);
      continue;
    }
    out[h.name] = text;
  }
  return out;
}
