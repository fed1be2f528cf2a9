// `backends.NAME.health` of flagman.yaml: active checks of a backend's servers (docs/health.md). One map,
// its `type` choosing the probe: an HTTP request (the default), a TCP connect, or a command run
// with the server's address in its environment. Keys that belong to another type are errors, so a
// `path` under a tcp check never silently does nothing.
import { isAbsolute, resolve } from 'node:path';
import type { HealthConfig, HealthTiming, StatusRange } from './schema.js';
import { DEFAULTS, HEALTH_TYPES } from './schema.js';
import {
  fieldsOf,
  isScalar,
  isSeq,
  listItems,
  missing,
  readDuration,
  readInt,
  readOneOf,
  readString,
  tryParse,
  wrongKind,
} from './nodes.js';
import type { Entry, Walker } from './nodes.js';
import { formatDuration, parseStatusRange } from './units.js';

export const HEALTH_KEYS = {
  type: `the check: ${HEALTH_TYPES.join(' | ')} (default ${DEFAULTS.health.type}; in a tcp backend, tcp)`,
  path: `http: the path probed with GET (default ${DEFAULTS.health.path})`,
  status:
    'http: the statuses that pass, one or a range such as 200-299 ' +
    `(default ${DEFAULTS.health.status.min}-${DEFAULTS.health.status.max})`,
  command: 'exec: the command run for each check, a string split on spaces or a list; exit 0 passes',
  interval: `time between checks of a server (default ${formatDuration(DEFAULTS.health.interval)})`,
  timeout: `a check slower than this fails (default ${formatDuration(DEFAULTS.health.timeout)})`,
  rise: `consecutive passes that bring a server up (default ${DEFAULTS.health.rise})`,
  fall: `consecutive failures that take a server down (default ${DEFAULTS.health.fall})`,
} as const;

// Which keys each type takes, beside the timing keys every type takes.
const TYPE_KEYS = {
  http: ['path', 'status'],
  tcp: [],
  exec: ['command'],
} as const satisfies Record<(typeof HEALTH_TYPES)[number], readonly (keyof typeof HEALTH_KEYS)[]>;

const TYPE_ONLY = ['path', 'status', 'command'] as const;

/**
 * Reads a health map; `baseDir` resolves a command's relative path and is its working directory;
 * `defaultType` is the check when none is named (tcp for a tcp backend).
 */
export function readHealth(
  w: Walker,
  e: Entry,
  baseDir: string,
  defaultType: HealthConfig['type'] = DEFAULTS.health.type,
): HealthConfig | undefined {
  const f = fieldsOf(w, e, HEALTH_KEYS) ?? {};
  const d = DEFAULTS.health;
  const type = (f.type && readOneOf(w, f.type, HEALTH_TYPES)) ?? defaultType;
  let ok = true;
  for (const key of TYPE_ONLY) {
    const extra = f[key];
    if (extra === undefined || (TYPE_KEYS[type] as readonly string[]).includes(key)) continue;
    const owner = Object.entries(TYPE_KEYS).find(([, keys]) => (keys as readonly string[]).includes(key))?.[0];
    w.fail('CONFIG_SCHEMA', `${extra.path}: only a check of type ${owner} takes ${key} (this one is ${type})`, extra.keyAt);
    ok = false;
  }
  const timing: HealthTiming = {
    interval: (f.interval && readDuration(w, f.interval)) ?? d.interval,
    timeout: (f.timeout && readDuration(w, f.timeout)) ?? d.timeout,
    rise: (f.rise && readInt(w, f.rise, 1, 1000)) ?? d.rise,
    fall: (f.fall && readInt(w, f.fall, 1, 1000)) ?? d.fall,
  };
  const health = readTyped(w, e, f, type, timing, baseDir);
  return ok ? health : undefined;
}

function readTyped(
  w: Walker,
  e: Entry,
  f: Partial<Record<keyof typeof HEALTH_KEYS, Entry>>,
  type: HealthConfig['type'],
  timing: HealthTiming,
  baseDir: string,
): HealthConfig | undefined {
  if (type === 'tcp') return { type, ...timing };
  if (type === 'exec') {
    if (f.command === undefined) return missing(w, e, 'command', ': an exec check runs it');
    const command = readCommand(w, f.command, baseDir);
    return command === undefined ? undefined : { type, command, commandAt: f.command.at, cwd: baseDir, ...timing };
  }
  const d = DEFAULTS.health;
  let path: string = d.path;
  if (f.path !== undefined) {
    const p = readString(w, f.path);
    if (p !== undefined && !p.startsWith('/')) w.fail('CONFIG_SCHEMA', `${f.path.path}: must start with "/"`, f.path.at);
    else if (p !== undefined) path = p;
  }
  const status = f.status === undefined ? d.status : readStatus(w, f.status);
  return status === undefined ? undefined : { type, path, status, ...timing };
}

// `status: 204` arrives as a number, `status: 200-299` as a string.
function readStatus(w: Walker, e: Entry): StatusRange | undefined {
  const v = isScalar(e.node) ? e.node.value : undefined;
  if (typeof v !== 'string' && typeof v !== 'number') return wrongKind(w, e, 'a status such as 200, or a range such as 200-399');
  return tryParse(w, e, () => parseStatusRange(String(v)));
}

// No shell: a string is split on spaces (a list keeps arguments that contain them).
function readCommand(w: Walker, e: Entry, baseDir: string): string[] | undefined {
  let argv: string[];
  if (isSeq(e.node)) {
    const items = listItems(w, e, 'strings') ?? [];
    const read = items.map((item) => readString(w, item, false));
    if (read.some((a) => a === undefined)) return undefined;
    argv = read as string[];
  } else {
    const text = readString(w, e);
    if (text === undefined) return undefined;
    argv = text.trim().split(/\s+/);
  }
  const [file, ...args] = argv;
  if (file === undefined || file === '') return w.fail('CONFIG_SCHEMA', `${e.path}: must name a command`, e.at);
  return [file.includes('/') && !isAbsolute(file) ? resolve(baseDir, file) : file, ...args];
}
