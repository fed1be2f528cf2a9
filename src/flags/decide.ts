// What a verified observation of one flag file does to that flag (README, "The flag rules"). Pure, and written
// down as a table (docs/design/conventions.md) because the cases are where "a value no writer wrote" would slip in:
//
//   observed            | flag now      | held ≥ settle | result
//   --------------------+---------------+---------------+----------------------------------------
//   integer v, note n   | any           | –             | set v, n, clear problem (none if same)
//   empty               | has a value   | –             | keep value (a write is in progress), clear problem
//   empty               | unset         | no            | hold (the empty moment of `echo 0 > new`)
//   empty               | unset         | yes           | set 1, no note (`touch`)
//   missing             | no entry      | –             | none
//   missing             | has an entry  | no            | hold (the missing moment of an editor's save)
//   missing             | has an entry  | yes           | unset: entry removed (`rm`)
//   problem p           | any           | –             | keep value and note, set problem p
//
// "Held" is decided by the core (core.ts, holds.ts): the same state seen continuously, with no
// event for the name, for the settle time.
import { parseFlagContent } from './parse.js';
import type { FlagRead } from './read.js';
import type { FlagChange, FlagState } from './snapshot.js';

/** One reading of a flag file, reduced to what matters for its value. */
export type Observed =
  | { readonly kind: 'missing' }
  | { readonly kind: 'empty'; readonly uid: number; readonly mtime: number }
  | { readonly kind: 'value'; readonly value: number; readonly note: string | null; readonly uid: number; readonly mtime: number }
  | { readonly kind: 'problem'; readonly problem: string };

/** The current state of a flag as far as a decision needs it. */
export interface Current {
  readonly value: number | null;
  readonly note: string | null;
  readonly problem: string | null;
}

/** What to do with a flag after an observation. */
export type Decision =
  | { readonly kind: 'none' }
  | { readonly kind: 'hold' }
  | { readonly kind: 'set'; readonly value: number; readonly note: string | null; readonly uid: number; readonly mtime: number }
  | { readonly kind: 'unset' }
  | { readonly kind: 'problem'; readonly problem: string | null };

const NONE: Decision = { kind: 'none' };
const HOLD: Decision = { kind: 'hold' };

/** Reduces a file read to an observation (parsing the content). */
export function observe(read: FlagRead): Observed {
  if (read.kind !== 'file') return read;
  const parsed = parseFlagContent(read.content);
  if (parsed.kind === 'invalid') return { kind: 'problem', problem: parsed.problem };
  if (parsed.kind === 'empty') return { kind: 'empty', uid: read.uid, mtime: read.mtime };
  return { kind: 'value', value: parsed.value, note: parsed.note, uid: read.uid, mtime: read.mtime };
}

/** True when two observations mean the same thing (the double-read check; uid/mtime aside). */
export function sameObserved(a: Observed, b: Observed): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'value' && b.kind === 'value') return a.value === b.value && a.note === b.note;
  if (a.kind === 'problem' && b.kind === 'problem') return a.problem === b.problem;
  return true;
}

/** Applies the table above to one flag. `current` is undefined when the flag has no entry. */
export function decide(current: Current | undefined, seen: Observed, held: boolean): Decision {
  switch (seen.kind) {
    case 'value':
      if (current?.value === seen.value && current.note === seen.note && current.problem === null) return NONE;
      return { kind: 'set', value: seen.value, note: seen.note, uid: seen.uid, mtime: seen.mtime };
    case 'empty':
      if (current !== undefined && current.value !== null) {
        return current.problem === null ? NONE : { kind: 'problem', problem: null };
      }
      return held ? { kind: 'set', value: 1, note: null, uid: seen.uid, mtime: seen.mtime } : HOLD;
    case 'missing':
      if (current === undefined) return NONE;
      return held ? { kind: 'unset' } : HOLD;
    case 'problem':
      return current?.problem === seen.problem ? NONE : { kind: 'problem', problem: seen.problem };
  }
}

/** A decision that changes the flag's entry. */
export type Applied = Extract<Decision, { kind: 'set' | 'unset' | 'problem' }>;

/**
 * The flag's entry after an applied decision (undefined: no entry any more) and the value change
 * to report, if the value changed. `now` becomes `changedAt` (null while loading at start).
 */
export function nextEntry(
  name: string,
  current: FlagState | undefined,
  d: Applied,
  now: number | null,
): { entry: FlagState | undefined; change: FlagChange | null } {
  const old = current?.value ?? null;
  const changedAt = current?.changedAt ?? null;
  switch (d.kind) {
    case 'unset': {
      const change = old === null ? null : { name, old, value: null, note: null, uid: null, mtime: null };
      return { entry: undefined, change };
    }
    case 'problem':
      return { entry: { value: old, note: current?.note ?? null, changedAt, problem: d.problem }, change: null };
    case 'set':
      if (old === d.value) return { entry: { value: old, note: d.note, changedAt, problem: null }, change: null };
      return {
        entry: { value: d.value, note: d.note, changedAt: now, problem: null },
        change: { name, old, value: d.value, note: d.note, uid: d.uid, mtime: d.mtime },
      };
  }
}
