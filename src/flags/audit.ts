// The audit trail of flag changes (docs/logs.md): one event line per applied value change, with the
// file's owner uid and mtime; problems when they appear and when they go. Never file content: a
// problem text is ours, and a note is what the writer asked to show.
import { events as log } from '../log.js';
import type { FlagChange, FlagState } from './snapshot.js';

/** Logs each value change as one `flag.change` line. */
export function logChanges(changes: readonly FlagChange[]): void {
  for (const { name: flag, old, value, note, uid, mtime } of changes) {
    log.info({ event: 'flag.change', flag, old, value, note, uid, mtime }, `flag ${flag} ${old ?? 'unset'} -> ${value ?? 'unset'}`);
  }
}

/**
 * Logs what else an applied update did to one flag: a problem that appeared or went, or a note
 * that changed while the value did not (a value change carries its note in `flag.change`).
 */
export function logUpdate(flag: string, before: FlagState | undefined, after: FlagState | undefined, valueChanged: boolean): void {
  const problem = after?.problem ?? null;
  if (problem !== (before?.problem ?? null)) {
    if (problem !== null) log.warn({ event: 'flag.problem', flag, problem }, `flag ${flag}: ${problem}`);
    else if (after) log.info({ event: 'flag.problem', flag, problem }, `flag ${flag} is valid again`);
    else log.info({ event: 'flag.problem', flag, problem }, `flag ${flag} is gone, and its problem with it`);
  }
  if (!valueChanged && after && before && after.note !== before.note) {
    log.info({ event: 'flag.note', flag, value: after.value, note: after.note }, `flag ${flag} note changed`);
  }
}
