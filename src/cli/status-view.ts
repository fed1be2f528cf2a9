// The /status document as text tables for `flagman status`. The document comes over the network
// from whatever version answered, so every field is read defensively: a missing or null field
// prints as "-" (docs/admin.md: a field with no value yet is null). The fields read are named as
// the admin endpoint builds them (admin/status-types.ts).
import type { AsReceived, BackendStatus, StatusDocument } from '../admin/status-types.js';
import { histogramQuantile } from '../runtime/quantile.js';
import type { Ledger } from '../sync/ledger.js';
import { formatTable } from './table.js';

type Doc = AsReceived<StatusDocument>;

const RESPONSE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;

// An object field of the document, or {} when it is missing, null or not an object: every field of
// an AsReceived object is optional, so {} is one.
const obj = <T extends object>(v: T | null | undefined): T => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : ({} as T));
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const cell = (v: unknown): string =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '-';
const time = (v: unknown): number | null => {
  const t = typeof v === 'string' ? Date.parse(v) : Number.NaN;
  return Number.isFinite(t) ? t : null;
};

/** A duration as `42s`, `3m 12s`, `5h 2m` or `3d 4h`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

const ago = (v: unknown, now: number): string => {
  const t = time(v);
  return t === null ? '-' : `${formatDuration(now - t)} ago`;
};

function header(doc: Doc, now: number): string {
  const config = obj(doc.config);
  const reload = obj(config.lastReload);
  const watcher = obj(doc.watcher);
  const started = time(doc.startedAt);
  const reloadText = reload.ok === true ? 'ok' : reload.ok === false ? `FAILED: ${str(reload.error) ?? 'no reason given'}` : '-';
  const rescans = num(watcher.rescans);
  const watcherText = [cell(watcher.mode), ...(rescans === null ? [] : [`${rescans} rescans, last ${ago(watcher.lastRescanAt, now)}`])];
  if (str(watcher.problem)) watcherText.push(`PROBLEM: ${str(watcher.problem)}`);
  const generation = num(config.generation);
  return formatTable([
    ['flagman', `${cell(doc.version)}, pid ${cell(doc.pid)}, up ${started === null ? '-' : formatDuration(now - started)}`],
    ['config', `${cell(config.file)}${generation === null ? '' : ` (generation ${generation})`}`],
    ['last reload', `${reloadText}${time(reload.at) === null ? '' : `, ${ago(reload.at, now)}`}`],
    ['watcher', watcherText.join(', ')],
  ]);
}

function flags(doc: Doc, now: number): string {
  const entries = Object.entries(obj(doc.flags));
  if (entries.length === 0) return 'no flag is set\n';
  const rows = entries.map(([name, raw]) => {
    const f = obj(raw);
    return [name, num(f.value) === null ? 'unset' : String(f.value), ago(f.changedAt, now), str(f.note) ?? '', str(f.problem) ?? ''];
  });
  return formatTable([['FLAG', 'VALUE', 'CHANGED', 'NOTE', 'PROBLEM'], ...rows], new Set([1]));
}

// A maxconn as /status gives it (a frontend's, a server's): 0 is no limit, printed `-`.
const maxconn = (v: unknown): string => (num(v) === 0 ? '-' : cell(v));

// CONNS are the client connections served now, MAXCONN the frontend's (`-`: no limit), WAITING
// those held for it; NOPROXY those closed without a valid PROXY header (a column only when a
// frontend has acceptProxy, `-` on the others); 413 and 429 the requests its rules' limits refused
// (a body over maxBody, a rate limit).
function frontends(doc: Doc): string {
  const entries = Object.entries(obj(doc.frontends));
  const acceptProxy = entries.some(([, raw]) => obj(raw).acceptProxy === true);
  const rows = entries.map(([name, raw]) => {
    const fe = obj(raw);
    const responses = obj(fe.responses);
    const conns = obj(fe.connections);
    const refused = obj(fe.refused);
    const proxy = acceptProxy ? [fe.acceptProxy === true ? cell(conns.proxyHeaderRefused) : '-'] : [];
    const limits = [
      cell(conns.open),
      maxconn(fe.maxconn),
      cell(conns.waiting),
      ...proxy,
      cell(refused.bodyTooLarge),
      cell(refused.rateLimited),
    ];
    return [name, cell(fe.requests), cell(fe.active), ...limits, ...RESPONSE_CLASSES.map((k) => cell(responses[k]))];
  });
  const head = [
    'FRONTEND',
    'REQUESTS',
    'ACTIVE',
    'CONNS',
    'MAXCONN',
    'WAITING',
    ...(acceptProxy ? ['NOPROXY'] : []),
    '413',
    '429',
    ...RESPONSE_CLASSES,
  ];
  return formatTable([head, ...rows], new Set(head.map((_, i) => i).slice(1)));
}

// The rules that have limits, one line each (none: no table): the body limit in bytes (`-`: none),
// the rate now with its burst and key, the keys held, and what each refused.
function rules(doc: Doc): string {
  const rows: string[][] = [];
  for (const [name, raw] of Object.entries(obj(doc.frontends))) {
    const list = obj(raw).rules;
    for (const r of Array.isArray(list) ? list : []) {
      const rule = obj(r);
      const limit = rule.limit === null || rule.limit === undefined ? null : obj(rule.limit);
      if (num(rule.maxBody) === null && limit === null) continue;
      const rate = limit === null ? '-' : `${cell(limit.rate)}/s+${cell(limit.burst)}`;
      const refused = obj(rule.refused);
      rows.push([
        name,
        cell(rule.rule),
        cell(rule.use),
        cell(rule.maxBody),
        rate,
        limit === null ? '-' : (str(limit.by) ?? '(rule)'),
        limit === null ? '-' : cell(limit.keys),
        cell(refused.bodyTooLarge),
        cell(refused.rateLimited),
      ]);
    }
  }
  return rows.length === 0
    ? ''
    : formatTable([['FRONTEND', 'RULE', 'BACKEND', 'MAXBODY', 'RATE', 'BY', 'KEYS', '413', '429'], ...rows], new Set([1, 3, 4, 6, 7, 8]));
}

/** A latency in ms as `0.42ms`, `3.1ms`, `250ms` or `1.25s`; `-`: none (no request yet). */
export function formatLatency(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  if (ms < 1) return `${ms.toFixed(2)}ms`;
  if (ms < 10) return `${ms.toFixed(1)}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}

// A backend's p50 and p99 request duration since start, from its histogram (docs/admin.md, "Latency").
function latency(be: AsReceived<BackendStatus>): [string, string] {
  const buckets = obj(obj(be.durationMs).buckets);
  return [formatLatency(histogramQuantile(0.5, buckets)), formatLatency(histogramQuantile(0.99, buckets))];
}

// One line a server, the backend repeated so that `| grep app2` keeps the context; a backend
// without servers (a fixed response) gets one line of its own. MAXCONN `-`: no limit. QUEUE is the
// backend's (waiting now), and so are P50 and P99 (its requests' durations since start), on each
// of its lines like its name.
function backends(doc: Doc): string {
  const rows: string[][] = [];
  for (const [name, raw] of Object.entries(obj(doc.backends))) {
    const be = obj(raw);
    const servers = Object.entries(obj(be.servers));
    const queue = cell(obj(be.queue).length);
    const percentiles = latency(be);
    // A backend without servers answers itself: respond (HTTP), or refuse (tcp: closes at once).
    if (servers.length === 0)
      rows.push([
        name,
        '-',
        be.mode === 'tcp' ? 'refuse' : 'respond',
        '-',
        '-',
        cell(be.active),
        queue,
        cell(be.requests),
        '-',
        ...percentiles,
      ]);
    for (const [server, sraw] of servers) {
      const s = obj(sraw);
      rows.push([
        name,
        server,
        cell(s.state),
        cell(s.weight),
        maxconn(s.maxconn),
        cell(s.active),
        queue,
        cell(s.requests),
        cell(s.failures),
        ...percentiles,
      ]);
    }
  }
  return formatTable(
    [['BACKEND', 'SERVER', 'STATE', 'WEIGHT', 'MAXCONN', 'ACTIVE', 'QUEUE', 'REQUESTS', 'FAILURES', 'P50', 'P99'], ...rows],
    new Set([3, 4, 5, 6, 7, 8, 9, 10]),
  );
}

function problems(doc: Doc): string {
  const list = Array.isArray(doc.problems) ? doc.problems.map(String) : [];
  return list.length === 0 ? '' : `\nPROBLEMS\n${list.map((p) => `- ${p}\n`).join('')}`;
}

/**
 * The line of a sync process (`flagman sync`) from its ledger in the flags directory: what it
 * mirrors, whether it runs, the revision applied, and how long since etcd last answered — the most
 * the flags can lag behind etcd. Its skipped keys follow, one a line.
 */
export function formatSync(ledger: AsReceived<Ledger>, now: number, running: (pid: number) => boolean): string {
  const pid = num(ledger.pid);
  const problem = str(ledger.problem);
  const applied = num(ledger.appliedAt);
  const contact = num(ledger.contactAt);
  const parts = [
    `${cell(ledger.source)} ${cell(ledger.endpoint)} ${cell(ledger.prefix)}`,
    pid === null ? 'pid -' : running(pid) ? `pid ${pid}` : `NOT RUNNING (pid ${pid} is gone)`,
    `revision ${cell(ledger.revision)}${applied === null ? '' : ` applied ${formatDuration(now - applied)} ago`}`,
    contact === null ? 'etcd not reached yet' : `etcd answered ${formatDuration(now - contact)} ago`,
    ...(problem === null ? [] : [`PROBLEM: ${problem}`]),
  ];
  const skipped = Array.isArray(ledger.skipped) ? ledger.skipped.map(obj) : [];
  const rows = [['sync', parts.join(', ')], ...skipped.map((s) => ['skipped', `${cell(s.key)}: ${cell(s.reason)}`])];
  return formatTable(rows);
}

/** The whole document as text: a header, then flags, frontends, the rules with limits, backends/servers and problems. */
export function formatStatus(doc: Doc, now: number): string {
  const limits = rules(doc);
  return [header(doc, now), flags(doc, now), frontends(doc), ...(limits === '' ? [] : [limits]), backends(doc)].join('\n') + problems(doc);
}
