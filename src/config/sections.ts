// The small top-level sections of flagman.yaml (docs/configuration.md): flags, admin, timeouts, log. Each has
// its key table (docs/design/conventions.md, "Registry tables") and a reader that applies the DEFAULTS of schema.ts.
import { availableParallelism } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { AccessField, AccessLogConfig, Config, Mode, Timeouts } from './schema.js';
import { ACCESS_FORMATS, DEFAULTS } from './schema.js';
import { fieldsOf, isScalar, listItems, readBool, readDuration, readInt, readOneOf, readString, tryParse, wrongKind } from './nodes.js';
import type { Entry, Walker } from './nodes.js';
import { formatDuration, parseListenAddress } from './units.js';

export const FLAGS_KEYS = {
  dir: `the watched flags directory, relative to the config file (default ${DEFAULTS.flagsDir})`,
  rescan: `period of the backstop full rescan (default ${formatDuration(DEFAULTS.rescan)})`,
  allowWorldWritable: 'start even when the flags directory is world-writable (default false)',
  state:
    "file keeping every flag's last good value across restarts, or off " +
    '(default $STATE_DIRECTORY/flags.json, else CONFIG.state.json next to the config file)',
} as const;

export const ADMIN_KEYS = {
  listen: `address of the read-only admin endpoint, or off (default ${DEFAULTS.adminListen})`,
} as const;

export const LOG_KEYS = {
  access: 'one line per request on stdout: on, off, or { fields: [...], format: json | clf } (default on: JSON, every field)',
  file: 'append the access log to this file instead of stdout, relative to the config file; reopened on SIGUSR1 (default none)',
} as const;

export const ACCESS_KEYS = {
  fields: 'the fields of each JSON line, in this order (default: every one that applies)',
  format: 'json (default) or clf: the combined log format',
} as const;

// Every field of an access line, in the order a line writes them (docs/logs.md describes each). A
// field that does not apply to a line (`peer` when it is the client, `queueMs` when nothing
// waited, a tcp line's `method`) is left out of it.
export const ACCESS_FIELDS: Readonly<Record<AccessField, string>> = {
  frontend: 'the frontend',
  mode: 'tcp, on the lines of a tcp frontend',
  backend: 'the backend that took it, or null',
  server: 'the server it went to, or null',
  method: 'the request method (null: the head never completed)',
  path: 'the request target',
  proto: 'HTTP/1.1, HTTP/1.0 or h2',
  tls: 'the TLS version, on a TLS connection',
  upgrade: 'the Upgrade header of an upgrade request',
  status: 'the status the client got (0: nothing)',
  bytesIn: 'request body bytes sent on to the server (tcp: every byte from the client)',
  bytes: 'response body bytes sent to the client',
  bytesOut: 'tcp: bytes sent to the client',
  headMs: 'HTTP/1: from the connection accepted, or the previous response sent, to the complete request head',
  queueMs: "the wait in the backend's queue",
  connectMs: "the last try's connect to its server (0: a kept-alive connection reused)",
  ttfbMs: "from the request sent to the server's response head",
  ms: 'from the complete request head (tcp: the connection accepted) to the end',
  tries: 'servers tried',
  ip: 'the client (client.ip)',
  peer: 'the address the connection came from, when it is not the client',
  id: 'the request ID',
  reason: "why it did not end as it should, or why the answer is flagman's own",
};

// `min` is the least value in ms; only `shutdown: 0s` (stop at once) makes sense as zero.
// `perBackend`: client and shutdown act before a backend is chosen or on the whole process.
export const TIMEOUT_KEYS = {
  connect: { summary: 'to a server', min: 1, perBackend: true },
  server: { summary: "waiting for a server's response headers / between its body chunks", min: 1, perBackend: true },
  client: { summary: 'a client sending its request headers (slowloris)', min: 1, perBackend: false },
  idle: { summary: 'keep-alive idle, both sides (in a tcp backend: a connection with no byte either way)', min: 1, perBackend: true },
  tcpIdle: {
    summary: 'a tcp connection with no byte either way, for tcp backends that set no idle of their own',
    min: 1,
    perBackend: false,
  },
  shutdown: { summary: 'graceful stop: in-flight requests may finish', min: 0, perBackend: false },
  queue: {
    summary: 'a request (tcp: a connection) waiting for a server with a free slot (maxconn), then 503 (tcp: closed)',
    min: 1,
    perBackend: true,
  },
} as const satisfies Record<keyof Timeouts, { summary: string; min: number; perBackend: boolean }>;

// The same keys as a plain key table, for fieldsOf and CONFIG_KEYS.
export const TIMEOUT_TABLE: Readonly<Record<keyof Timeouts, string>> = Object.fromEntries(
  Object.entries(TIMEOUT_KEYS).map(([k, v]) => [k, v.summary]),
) as Record<keyof Timeouts, string>;

/** Reads `flags`; dir and state resolve against the config file's folder. */
export function readFlags(w: Walker, e: Entry | undefined, configFile: string): Config['flags'] {
  const baseDir = dirname(configFile);
  const f = e === undefined ? {} : (fieldsOf(w, e, FLAGS_KEYS) ?? {});
  const dir = resolve(baseDir, f.dir === undefined ? DEFAULTS.flagsDir : (readString(w, f.dir) ?? DEFAULTS.flagsDir));
  let state: string | null = defaultStateFile(configFile);
  if (f.state !== undefined) {
    const v = isScalar(f.state.node) ? f.state.node.value : undefined;
    const named = v === false || v === 'off' ? undefined : readString(w, f.state);
    state = named === undefined ? null : resolve(baseDir, named);
  }
  // In the flags directory the state file would be read as a flag (or hidden among them).
  if (state !== null && dirname(state) === dir) {
    const at = (f.state ?? f.dir ?? e)?.at ?? w.pos(0);
    w.fail('CONFIG_SCHEMA', `flags.state: the state file ${state} must not be inside the flags directory; name another path, or off`, at);
  }
  return {
    dir,
    rescan: (f.rescan && readDuration(w, f.rescan)) ?? DEFAULTS.rescan,
    allowWorldWritable: (f.allowWorldWritable && readBool(w, f.allowWorldWritable)) ?? false,
    state,
    stateConfigured: f.state !== undefined,
  };
}

/**
 * Where the state file is when the config names none: in systemd's StateDirectory when flagman runs
 * with one (`env.STATE_DIRECTORY`), else next to the config file, named after it (`flagman.yaml` →
 * `flagman.state.json`); null with neither.
 */
export function defaultStateFile(configFile: string, env?: NodeJS.ProcessEnv): string;
export function defaultStateFile(configFile: string | null, env?: NodeJS.ProcessEnv): string | null;
export function defaultStateFile(configFile: string | null, env: NodeJS.ProcessEnv = process.env): string | null {
  const stateDir = env.STATE_DIRECTORY?.split(':')[0];
  if (stateDir) return join(stateDir, 'flags.json');
  return configFile === null ? null : join(dirname(configFile), `${basename(configFile, extname(configFile))}.state.json`);
}

/**
 * Reads `admin`. No `admin` section: no admin endpoint (so tests and several instances never fight
 * over one port); a section without `listen` gets DEFAULTS.adminListen; `listen: off` turns it off.
 */
export function readAdmin(w: Walker, e: Entry | undefined): Config['admin'] {
  if (e === undefined) return { listen: null };
  const f = fieldsOf(w, e, ADMIN_KEYS) ?? {};
  const l = f.listen;
  if (l === undefined) return { listen: parseListenAddress(DEFAULTS.adminListen, e.keyAt) };
  const v = isScalar(l.node) ? l.node.value : undefined;
  if (v === false || v === 'off') return { listen: null };
  if (typeof v !== 'string') return { listen: wrongKind(w, l, 'an address such as 127.0.0.1:8404, or off') ?? null };
  return { listen: tryParse(w, l, () => parseListenAddress(v, l.at)) ?? null };
}

/**
 * A fresh Timeouts holding `base`'s values, written as one literal so that every copy has the same
 * hidden class, frozen too. On Node 20 a copy made as `{ ...base }` and then frozen got a class of
 * its own at every call from about the tenth on, and the request path's code that reads a
 * backend's timeouts (`target.timeouts.server`) was thrown away at every reload (bench/RESULTS.md,
 * "The request path thrown away at every reload on Node 20").
 */
function copyTimeouts(base: Timeouts): Record<keyof Timeouts, number> {
  return {
    connect: base.connect,
    server: base.server,
    client: base.client,
    idle: base.idle,
    tcpIdle: base.tcpIdle,
    shutdown: base.shutdown,
    queue: base.queue,
  };
}

/** Reads the top-level `timeouts` over DEFAULTS.timeouts. */
export function readTimeouts(w: Walker, e: Entry | undefined): Timeouts {
  return readTimeoutOverrides(w, e, DEFAULTS.timeouts, false);
}

// The timeouts a tcp backend takes: there is no request, so no server (response) timeout.
const TCP_BACKEND_TIMEOUTS: readonly (keyof Timeouts)[] = ['connect', 'idle', 'queue'];

/**
 * Reads a `timeouts` map over `base`; a backend's map may hold only the per-backend keys. A tcp
 * backend (`mode`) takes connect and idle, and its idle defaults to the top-level tcpIdle.
 */
export function readTimeoutOverrides(w: Walker, e: Entry | undefined, base: Timeouts, backend: boolean, mode: Mode = 'http'): Timeouts {
  const out = copyTimeouts(base);
  if (mode === 'tcp') out.idle = base.tcpIdle;
  if (e === undefined) return out;
  const f = fieldsOf(w, e, TIMEOUT_TABLE) ?? {};
  for (const [key, row] of Object.entries(TIMEOUT_KEYS) as [keyof Timeouts, (typeof TIMEOUT_KEYS)[keyof Timeouts]][]) {
    const entry = f[key];
    if (entry === undefined) continue;
    if (backend && !row.perBackend) {
      w.fail(
        'CONFIG_SCHEMA',
        `${entry.path}: the ${key} timeout applies to the whole frontend or process; set it in the top-level timeouts`,
        entry.keyAt,
      );
      continue;
    }
    if (mode === 'tcp' && !TCP_BACKEND_TIMEOUTS.includes(key)) {
      w.fail(
        'CONFIG_SCHEMA',
        `${entry.path}: a tcp backend takes only ${TCP_BACKEND_TIMEOUTS.slice(0, -1).join(', ')} ` +
          `and ${TCP_BACKEND_TIMEOUTS.at(-1)} timeouts (there is no response to wait for)`,
        entry.keyAt,
      );
      continue;
    }
    out[key] = readDuration(w, entry, row.min) ?? out[key];
  }
  return out;
}

/**
 * Reads `log`; `file` resolves against the config file's folder, and must not be a file flagman
 * reads: in the flags directory it would be read as a flag, as the config file or the state file it
 * would be overwritten by the access log.
 */
export function readLog(w: Walker, e: Entry | undefined, configFile: string, flags: Config['flags']): Config['log'] {
  const f = e === undefined ? {} : (fieldsOf(w, e, LOG_KEYS) ?? {});
  const access = f.access === undefined ? ALL_FIELDS : readAccess(w, f.access);
  const named = f.file && readString(w, f.file);
  if (f.file === undefined || named === undefined) return { access, file: null };
  const path = resolve(dirname(configFile), named);
  const clash =
    dirname(path) === flags.dir
      ? 'must not be inside the flags directory'
      : path === configFile
        ? 'must not be the config file'
        : path === flags.state
          ? 'must not be the flags state file'
          : null;
  if (clash !== null) {
    w.fail('CONFIG_SCHEMA', `log.file: ${path} ${clash}; name another path`, f.file.at);
    return { access, file: null };
  }
  return { access, file: { path, at: f.file.at } };
}

const ALL_FIELDS: AccessLogConfig = { format: 'json', fields: null };

// `log.access`: on, off, or a map that picks the fields or the format.
function readAccess(w: Walker, e: Entry): AccessLogConfig | null {
  if (isScalar(e.node)) return (readBool(w, e) ?? DEFAULTS.logAccess) ? ALL_FIELDS : null;
  const f = fieldsOf(w, e, ACCESS_KEYS);
  if (f === undefined) return ALL_FIELDS;
  const format = (f.format && readOneOf(w, f.format, ACCESS_FORMATS)) ?? 'json';
  if (f.fields === undefined) return { format, fields: null };
  if (format === 'clf') {
    w.fail('CONFIG_SCHEMA', `${e.path}: the combined log format has fields of its own; fields apply to format: json`, f.fields.keyAt);
    return { format, fields: null };
  }
  const fields: AccessField[] = [];
  for (const item of listItems(w, f.fields, 'access-line fields') ?? []) {
    const name = readString(w, item);
    if (name === undefined) continue;
    if (!Object.hasOwn(ACCESS_FIELDS, name)) {
      w.fail('CONFIG_SCHEMA', `${item.path}: no access-line field "${name}" (known: ${Object.keys(ACCESS_FIELDS).join(', ')})`, item.at);
    } else if (fields.includes(name as AccessField)) {
      w.fail('CONFIG_SCHEMA', `${item.path}: "${name}" is listed twice`, item.at);
    } else {
      fields.push(name as AccessField);
    }
  }
  if (fields.length === 0)
    w.fail('CONFIG_SCHEMA', `${f.fields.path}: lists no field (to write no access log: log.access: off)`, f.fields.at);
  return { format, fields };
}

/** The most worker processes `workers` may ask for. */
export const MAX_WORKERS = 64;

/**
 * Reads `workers`: a count, or `auto` for one per CPU the process may use. `workers` is the number of
 * processes serving requests; above 1 a primary process runs the flag store, the checks and the
 * admin endpoint for all of them (cluster/).
 */
export function readWorkers(w: Walker, e: Entry | undefined): Config['workers'] {
  if (e === undefined) return { count: DEFAULTS.workers, auto: false };
  if (isScalar(e.node) && e.node.value === 'auto') return { count: Math.min(MAX_WORKERS, availableParallelism()), auto: true };
  if (isScalar(e.node) && typeof e.node.value === 'string')
    return wrongKind(w, e, `a whole number from 1 to ${MAX_WORKERS}, or auto`) ?? { count: 1, auto: false };
  return { count: readInt(w, e, 1, MAX_WORKERS) ?? 1, auto: false };
}
