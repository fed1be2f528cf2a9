// The flag snapshot: what every flag holds at one moment. Immutable and versioned (docs/design/conventions.md); the
// watcher publishes a new one whole when a value, note or problem changes.

export interface FlagState {
  /** null: unset (no file, or never a good value). */
  readonly value: number | null;
  /** Text of the first `#` comment of the last good content, trimmed; null when none. */
  readonly note: string | null;
  /** Epoch ms when the value last changed (null: never changed since start). */
  readonly changedAt: number | null;
  /** Why the file is not applied (invalid content, FIFO, too large…); null when fine. Never echoes content. */
  readonly problem: string | null;
}

export interface FlagSnapshot {
  /** Increases by one with every published snapshot. */
  readonly version: number;
  /** Every flag that has a file, a value or a problem. */
  readonly flags: ReadonlyMap<string, FlagState>;
}

/** One applied change, as logged and as handed to listeners. */
export interface FlagChange {
  readonly name: string;
  readonly old: number | null;
  readonly value: number | null;
  readonly note: string | null;
  /** Owner uid and mtime (epoch ms) of the file that set the value; null when the file is gone. */
  readonly uid: number | null;
  readonly mtime: number | null;
}

export const FLAG_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/;

/** Freezes a new snapshot. */
export function makeSnapshot(version: number, flags: Map<string, FlagState>): FlagSnapshot {
  for (const state of flags.values()) Object.freeze(state);
  return Object.freeze({ version, flags });
}

export const EMPTY_SNAPSHOT: FlagSnapshot = makeSnapshot(0, new Map());
