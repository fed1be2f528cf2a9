// Where this process writes its access log, from the config's `log.file` (docs/logs.md). A start or a
// reload that names another file opens it before anything is swapped, so a file that cannot be
// opened fails the load like any config error, with nothing changed; the access log moves to it
// when the load commits.
import fs from 'node:fs';
import type { Config } from '../config/schema.js';
import { FlagmanError } from '../errors.js';
import { openLogFile } from '../log-file.js';
import { accessTo, type AccessFile } from '../log.js';

/** The access log of a load, opened and waiting for the load to commit. */
export interface AccessLogPlan {
  /** Moves the access log to the load's destination: call when the load commits. */
  commit(): void;
  /** Gives the plan up: closes what it opened. */
  abandon(): void;
}

const KEEP: AccessLogPlan = { commit: () => undefined, abandon: () => undefined };

/**
 * Opens the file `next` names when `current` (null at start) names another; throws CONFIG_LOG at
 * `log.file`'s position, with the path and the system's code. `writes`: false in a primary, whose
 * workers write the access log, each opening the file itself: the primary opens it only to check
 * it, so that a bad path fails the start or the reload once, before any worker is told.
 */
export function prepareAccessLog(current: Config['log'] | null, next: Config['log'], writes: boolean): AccessLogPlan {
  const path = next.file?.path ?? null;
  if (current !== null && (current.file?.path ?? null) === path) return KEEP;
  if (next.file === null) return writes ? { commit: () => accessTo(null), abandon: () => undefined } : KEEP;
  const file: AccessFile = { path: next.file.path, fd: openAccessFile(next.file) };
  if (!writes) {
    fs.closeSync(file.fd);
    return KEEP;
  }
  return { commit: () => accessTo(file), abandon: () => fs.closeSync(file.fd) };
}

function openAccessFile(file: NonNullable<Config['log']['file']>): number {
  try {
    return openLogFile(file.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new FlagmanError('CONFIG_LOG', `log.file: cannot open ${file.path} (${code})`, file.at, { cause: err });
  }
}
