// The one logger: JSON lines, events on stderr, the access log on stdout (SPEC §7).
import { pino, type Logger } from 'pino';

// Synchronous destinations: an event line must be out before the process acts on the next change,
// and a crash must not lose the line that explains it.
const eventDest = pino.destination({ fd: 2, sync: true });
const accessDest = pino.destination({ fd: 1, sync: false, minLength: 4096 });

const base = { base: null, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' } as const;

/** Events: flag changes, server state changes, reloads, errors. */
export const events: Logger = pino({ ...base, level: process.env['FLAGMAN_LOG_LEVEL'] ?? 'info' }, eventDest);

/** The access log: one line a request. */
export const access: Logger = pino({ ...base, level: 'info' }, accessDest);

/** Writes out buffered access lines; called before exit. */
export function flushLogs(): void {
  try {
    accessDest.flushSync();
  } catch {
    // Nothing buffered, or stdout already closed: neither is worth failing an exit for.
  }
}
