// The one logger: JSON lines, events on stderr, the access log on stdout or its own file (docs/logs.md).
import fs from 'node:fs';
import { pino, type Logger } from 'pino';
import { openLogFile } from './log-file.js';
import { BUFFER_FULL, LogSink, type SinkWatcher } from './log-sink.js';

// Each write is whole lines of at most PIPE_BUF (4096) bytes: the kernel keeps such a write to a pipe
// in one piece, so worker processes sharing stdout and stderr (cluster/) never cut into each
// other's lines.
const PIPE_BUF = 4096;
//
// Where stdout or stderr goes decides how it is written (log-sink.ts). To a regular file or a
// character device (/dev/null, a terminal), a write never waits for a reader, so it is made at once,
// as nginx and HAProxy write theirs: an asynchronous write would be a thread-pool round trip, whose
// context switches cost a proxied request about 4 µs on a busy core (bench/RESULTS.md). A pipe or a
// socket (journald, docker, `| logger`) can be full: there writes go through a non-blocking stream,
// in order, so a slow reader never blocks the event loop that serves requests. A log that cannot be
// written (a full disk, a reader that stopped or went away) drops lines and counts them, and never
// stops flagman; flushLogs() writes what waits at exit, for a bounded time.
//
// Each process has its own two logs (a worker's counters reach the primary with its stats). With
// `log.file`, each process appends its access lines to the file itself (O_APPEND): a write of whole
// lines at the end of a file is not cut into by another process's either.

/** Lines dropped since start, by log. */
export interface LogDrops {
  readonly access: number;
  readonly events: number;
}

// What a log that cannot be written says about it, on the event log, at most once per NOTE_MS
// however often its writes fail and succeed: that it drops lines (and why), every NOTE_MS while it
// lasts, then once that it is written again and how many lines it lost. The event log says nothing
// of its own trouble while it lasts (nowhere to say it: stdout is the access log's), only once it
// is written again. Other repeated problems are told at the same pace (proxy/accept-proxy.ts).
export const NOTE_MS = 10_000;

class DropNotes implements SinkWatcher {
  readonly #log: 'access' | 'events';
  // The access log's file, named in the notes; null: stdout or stderr.
  readonly #file: string | null;
  #timer: NodeJS.Timeout | null = null;
  #last = -Infinity;
  // `dropped` when the trouble began (null: no trouble), and when it was last told.
  #from: number | null = null;
  #told = 0;

  constructor(log: 'access' | 'events', file: string | null = null) {
    this.#log = log;
    this.#file = file;
  }

  // The event's fields naming the log (and its file).
  #names(): { log: string; file?: string } {
    return this.#file === null ? { log: this.#log } : { log: this.#log, file: this.#file };
  }

  // How a message names the log.
  #title(): string {
    return this.#file === null ? `${this.#log} log` : `${this.#log} log (${this.#file})`;
  }

  dropping(sink: LogSink): void {
    this.#from ??= sink.dropped;
    this.#soon(sink);
  }

  recovered(sink: LogSink): void {
    this.#soon(sink);
  }

  off(sink: LogSink): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const reason = sink.problem;
    const where = this.#file ?? 'stdout';
    if (this.#log === 'access')
      events.warn(
        { event: 'log.off', ...this.#names(), reason },
        `access log off: ${where} cannot be written any more (${reason}: ${reason === 'EPIPE' ? 'no reader' : 'stream failed'}); ` +
          'its lines are counted as dropped',
      );
  }

  // Never from within the sink's write: the note is written a tick later, with the count by then.
  #soon(sink: LogSink): void {
    if (this.#timer === null) this.#later(sink, Math.max(0, this.#last + NOTE_MS - Date.now()));
  }

  #later(sink: LogSink, ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#note(sink);
    }, ms);
    this.#timer.unref();
  }

  #note(sink: LogSink): void {
    if (sink.off || this.#from === null) return;
    const dropped = sink.dropped - this.#from;
    if (sink.problem === null) {
      this.#from = null;
      this.#last = Date.now();
      events.info({ event: 'log.recovered', ...this.#names(), dropped }, `${this.#title()} written again; ${dropped} lines dropped`);
      return;
    }
    this.#later(sink, NOTE_MS);
    if (this.#log === 'events' || sink.dropped === this.#told) return;
    this.#told = sink.dropped;
    this.#last = Date.now();
    const why = sink.problem === BUFFER_FULL ? 'its reader is too slow (buffer full)' : `it cannot be written (${sink.problem})`;
    events.warn(
      { event: 'log.dropped', ...this.#names(), reason: sink.problem, dropped },
      `${this.#title()}: ${why}; dropping lines until it can be written (${dropped} so far)`,
    );
  }
}

const eventDest = new LogSink(2, PIPE_BUF, new DropNotes('events'));
const stdoutDest = new LogSink(1, PIPE_BUF, new DropNotes('access'));
// Where access lines go now: stdout, or a sink on the file `accessFile` names.
let accessDest = stdoutDest;
let accessFile: string | null = null;
// Files the access log has left, until what was written to them is out and they are closed; and
// the lines dropped by those already closed.
const leaving = new Map<LogSink, Promise<void>>();
let leftDropped = 0;

/** Lines each log has dropped since start (log-sink.ts says when), every file of the access log's added up. */
export function logDrops(): LogDrops {
  let access = stdoutDest.dropped + leftDropped + (accessDest === stdoutDest ? 0 : accessDest.dropped);
  for (const sink of leaving.keys()) access += sink.dropped;
  return { access, events: eventDest.dropped };
}

/** The access log's destination: a file opened by openLogFile (the descriptor is the log's from now on). */
export interface AccessFile {
  readonly path: string;
  readonly fd: number;
}

/**
 * Sends the access log to `to` from the next line on, or back to stdout (null). The lines before
 * it go where they went: the file left is closed once they are written (at once, for a file), so
 * no line is lost or cut across the two.
 */
export function accessTo(to: AccessFile | null): void {
  flushAccess();
  const left = accessDest;
  accessDest = to === null ? stdoutDest : new LogSink(to.fd, PIPE_BUF, new DropNotes('access', to.path));
  accessFile = to?.path ?? null;
  if (left === stdoutDest) return; // stdout stays open: the process's own, and events may follow it
  leaving.set(
    left,
    left.close(FLUSH_MS).then(() => {
      leaving.delete(left);
      leftDropped += left.dropped;
    }),
  );
}

/**
 * Reopens the access log's file by its path (SIGUSR1: logrotate moved it away), and says so. A file
 * that cannot be opened (its folder gone, EACCES) leaves the log on the one open before; the next
 * SIGUSR1 tries again. Without a file, says there is none to reopen.
 */
export function reopenAccess(): void {
  const path = accessFile;
  if (path === null) {
    events.info(
      { event: 'log.reopen', log: 'access', file: null },
      'SIGUSR1: no access log file to reopen (the access log goes to stdout)',
    );
    return;
  }
  let fd: number;
  try {
    fd = openLogFile(path);
  } catch (err) {
    const error = (err as NodeJS.ErrnoException).code ?? String(err);
    events.warn(
      { event: 'log.reopen', log: 'access', file: path, error },
      `cannot reopen the access log file ${path} (${error}); still writing to the file open before`,
    );
    return;
  }
  accessTo({ path, fd });
  events.info({ event: 'log.reopen', log: 'access', file: path }, `access log file ${path} reopened`);
}

const base = { base: null, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' } as const;

/**
 * Whether stderr is a stream of systemd's journal: systemd sets JOURNAL_STREAM to its device and
 * inode, which a redirect (`2> file`, a pipe to another program) no longer matches.
 */
export function stderrIsJournal(stream = process.env.JOURNAL_STREAM, fd = 2): boolean {
  if (stream === undefined || stream === '') return false;
  try {
    const st = fs.fstatSync(fd);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/**
 * A line's syslog priority as journald reads it from a `<N>` prefix (the unit's default
 * SyslogLevelPrefix=yes), from pino's level, the line's first field: error 3, warn 4, info 6, so
 * that `journalctl -p warning` shows warn and above. Without it every line gets the unit's one
 * priority (info).
 */
export function withSyslogPriority(line: string): string {
  const level = line.startsWith('{"level":') ? Number(line.slice(9, 11)) : 30;
  const priority = level >= 60 ? 2 : level >= 50 ? 3 : level >= 40 ? 4 : level >= 30 ? 6 : 7;
  return `<${priority}>${line}`;
}

/** Events: flag changes, server state changes, reloads, errors. */
export const events: Logger = pino(
  {
    ...base,
    level: process.env.FLAGMAN_LOG_LEVEL ?? 'info',
    ...(stderrIsJournal() ? { hooks: { streamWrite: withSyslogPriority } } : {}),
  },
  eventDest,
);

// The access log is written by hand, not through pino: at one line per request, pino's generic
// object-to-JSON walk and a `new Date().toISOString()` per line were ~10% of a proxied request's
// CPU (bench/RESULTS.md §4). The line keeps pino's shape (`level`, `time`, bindings, then the fields)
// and goes through the same line-aligned destination.
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
 * already serialised, each starting with a comma (access-line.ts builds them).
 */
export function writeAccess(fields: string): void {
  writeAccessText(`${ACCESS_HEAD}${isoNow()}"${accessBindings}${fields}}\n`);
}

/** Writes one access-log line as it is (`line` ends with a newline): the combined log format's (access-line.ts). */
export function writeAccessText(line: string): void {
  // Lines are batched, as nginx's `access_log … buffer=` does: a write is a syscall plus, through
  // a stream, its bookkeeping, which one line a write paid per request. A batch goes out when the
  // next line would take it past PIPE_BUF (whole lines, counted in characters as the destination
  // itself counts them) or ACCESS_FLUSH_MS after its first line, so a quiet proxy's lines still
  // show within milliseconds, and flushLogs() at exit.
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

// At exit, lines still waiting for a slow reader get this long, both logs together; then they are
// dropped. A reader that stopped must not keep flagman from exiting.
const FLUSH_MS = 1000;

/** Writes out pending log lines, for at most FLUSH_MS (both logs together); called before exit. */
export async function flushLogs(): Promise<void> {
  flushAccess();
  await Promise.all([accessDest.settle(FLUSH_MS), eventDest.settle(FLUSH_MS), ...leaving.values()]);
}
