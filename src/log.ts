// The one logger: JSON lines, events on stderr, the access log on stdout (SPEC §7).
import { pino, type Logger } from 'pino';

// Asynchronous writes, in order, without buffering: a line goes out at once, and a slow reader of
// stdout or stderr (a busy pipe, journald under load) never blocks the event loop that serves
// requests — a synchronous write to a full pipe would. pino flushes what is in flight at exit.
//
// Each write is whole lines of at most PIPE_BUF (4096) bytes: the kernel keeps such a write to a pipe
// in one piece, so worker processes sharing stdout and stderr (cluster/) never cut into each
// other's lines.
const PIPE_BUF = 4096;
const eventDest = pino.destination({ fd: 2, sync: false, maxWrite: PIPE_BUF });
const accessDest = pino.destination({ fd: 1, sync: false, maxWrite: PIPE_BUF });

const base = { base: null, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' } as const;

/** Events: flag changes, server state changes, reloads, errors. */
export const events: Logger = pino({ ...base, level: process.env['FLAGMAN_LOG_LEVEL'] ?? 'info' }, eventDest);

/** The access log: one line a request. */
export const access: Logger = pino({ ...base, level: 'info' }, accessDest);

/** Writes out pending log lines; called before exit. */
export function flushLogs(): void {
  for (const dest of [accessDest, eventDest]) {
    try {
      dest.flushSync();
    } catch {
      // Nothing pending, or the stream already closed: neither is worth failing an exit for.
    }
  }
}
