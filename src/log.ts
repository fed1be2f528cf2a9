// The one logger: JSON lines, events on stderr, the access log on stdout (SPEC §7).
import fs from 'node:fs';
import { pino, type Logger } from 'pino';

// Asynchronous writes, in order, without buffering: a line goes out at once, and a slow reader of
// stdout or stderr (a busy pipe, journald under load) never blocks the event loop that serves
// requests — a synchronous write to a full pipe would. pino flushes what is in flight at exit.
//
// Each write is whole lines of at most PIPE_BUF (4096) bytes: the kernel keeps such a write to a pipe
// in one piece, so worker processes sharing stdout and stderr (cluster/) never cut into each
// other's lines.
const PIPE_BUF = 4096;
//
// The access log makes one exception. When stdout is a regular file or a character device
// (/dev/null), a write never waits for a reader, so its batches are written at once, as nginx and
// HAProxy write theirs: the asynchronous write is a thread-pool round trip, whose context switches
// cost a proxied request about 4 µs on a busy core (bench/RESULTS.md). A pipe or a socket
// (journald, docker, `| logger`) can be full: there the writes stay asynchronous.
const eventDest = pino.destination({ fd: 2, sync: false, maxWrite: PIPE_BUF });
const accessDest = pino.destination({ fd: 1, sync: writesAtOnce(1), maxWrite: PIPE_BUF });

/** Whether a write to `fd` completes without waiting for a reader (a file, /dev/null, a terminal). */
function writesAtOnce(fd: number): boolean {
  try {
    const st = fs.fstatSync(fd);
    return st.isFile() || st.isCharacterDevice();
  } catch {
    return false;
  }
}

const base = { base: null, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' } as const;

/** Events: flag changes, server state changes, reloads, errors. */
export const events: Logger = pino({ ...base, level: process.env['FLAGMAN_LOG_LEVEL'] ?? 'info' }, eventDest);

// The access log is written by hand, not through pino: at one line per request, pino's generic
// object-to-JSON walk and a `new Date().toISOString()` per line were ~10% of a proxied request's
// CPU (bench/RESULTS.md §4). The line keeps pino's shape (`level`, `time`, bindings, then the fields)
// and goes through the same asynchronous, line-aligned destination.
const ACCESS_HEAD = '{"level":30,"time":"';
let accessBindings = '';
let isoMs = 0;
let isoText = '';

/** The current time as ISO 8601, formatted at most once per millisecond (many lines share one). */
function isoNow(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoText = new Date(now).toISOString();
  }
  return isoText;
}

/** Fields every access line carries after `time`, such as `{ worker: 1 }` in a worker process. */
export function bindAccess(bindings: Readonly<Record<string, string | number>>): void {
  const json = JSON.stringify(bindings);
  accessBindings = json.length > 2 ? `,${json.slice(1, -1)}` : '';
}

/**
 * Writes one access-log line. `fields` are the line's JSON members after `time` and the bindings,
 * already serialised, each starting with a comma (exchange.ts builds them).
 */
export function writeAccess(fields: string): void {
  const line = `${ACCESS_HEAD}${isoNow()}"${accessBindings}${fields}}\n`;
  // Lines are batched, as nginx's `access_log … buffer=` does: a write is a syscall plus, with the
  // asynchronous destination, a thread-pool round trip, about 4 µs, which one line a write paid
  // per request. A batch goes out when the next line would take it past PIPE_BUF (whole lines,
  // counted in characters as the destination itself counts them) or ACCESS_FLUSH_MS after its
  // first line, so a quiet proxy's lines still show within milliseconds, and flushLogs() at exit.
  if (accessBatch.length + line.length > PIPE_BUF) flushAccess();
  accessBatch += line;
  if (accessTimer === null) accessTimer = setTimeout(flushAccess, ACCESS_FLUSH_MS);
}

const ACCESS_FLUSH_MS = 5;
let accessBatch = '';
let accessTimer: NodeJS.Timeout | null = null;

function flushAccess(): void {
  if (accessTimer !== null) {
    clearTimeout(accessTimer);
    accessTimer = null;
  }
  if (accessBatch === '') return;
  accessDest.write(accessBatch);
  accessBatch = '';
}

/** Writes out pending log lines; called before exit. */
export function flushLogs(): void {
  flushAccess();
  for (const dest of [accessDest, eventDest]) {
    try {
      dest.flushSync();
    } catch {
      // Nothing pending, or the stream already closed: neither is worth failing an exit for.
    }
  }
}
