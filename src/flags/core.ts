// The flag store's decisions, pure: no file system, no timers, no clock. The driver (steps.ts)
// passes in the time (one monotonic clock, ms), the events (hints from watcher.ts, what a look at
// the directory found) and the readings it took of the files the core asked for; the core keeps
// the dirty names, first readings and holds, applies verified observations to the flag table by
// the decide.ts table, and tells the driver what to do next: read these names now, re-arm the
// watch, read everything again (a pass), wake up at this time. The driver is in two parts: the
// step loop (steps.ts: the order of the work in each step, the passes' cursor and backstop with
// sweep.ts, the hold and rescan timers, when to publish with values.ts), which takes its effects
// through an interface; and store.ts, their real implementations (reading files, the watcher,
// real timers, the directory's health with health.ts, logging, the state file) and the start-up
// sequence. test/fuzz/flags.js runs the same step loop with simulated effects.
//
// The orderings, each decided here:
// - A hint marks its flag dirty and drops its waiting first reading (a write was in progress) and
//   its hold (an empty or missing state counts only while nothing happens). After `quietMs` (a
//   burst of hints coalesces) the driver reads the dirty names: firstReading().
// - A first reading that would change nothing is dropped; one that would is kept and read again
//   ≥ VERIFY_AFTER_MS later, in a later step: dueVerifications(), then secondReading(). It is
//   applied only if both agree (else the flag goes dirty again) and no hint came meanwhile.
// - Empty (while unset) and missing states must hold `settleMs` with no hint before they apply
//   (decide.ts): the empty moment of `echo 0 > f` and the missing moment of an editor's save never
//   apply. A hold is for the state it began on (holds.ts): seen in the other one, it starts again.
//   When a hold is due the driver calls holdsDue(): the held names are read again at once.
// - A `..` name (a ConfigMap's `..data` swapped) has everything read again (a pass) but keeps the
//   first readings: it only changes which complete file a symlink resolves to (kubelet writes the
//   new files before the swap), never a file in place, and dropping them would let a stream of
//   `..` events keep every change from being verified. An event with no name may be about any
//   flag: it has everything read again and drops every first reading.
// - A missing file counts as removed only while the directory is there, or with a rename/delete
//   event for that very file (`rm -rf flags` unsets flags as their files go; a directory renamed
//   away or unmounted keeps them). A problem read while the directory is not there is the
//   directory's, not the flag's.
// - An event on the directory's own entry, or a look that finds another directory (replaced, or
//   safe again), re-arms the watch and has everything read again, dropping the first readings:
//   `rm -rf flags; mkdir flags` on ext4 often hands the new directory the old inode number, so
//   the directory's identity alone can miss the replacement, and the old watch is dead.
import { decide, nextEntry, sameObserved, type Applied, type Observed } from './decide.js';
import { MAX_FLAGS } from './dir.js';
import { Holds, type HeldState } from './holds.js';
import { isFlagName } from './parse.js';
import { Readings, VERIFY_AFTER_MS } from './readings.js';
import type { FlagChange, FlagState } from './snapshot.js';

/** The applied values, as the core reads and changes them (values.ts's FlagValues is one). */
export interface FlagTable {
  get(name: string): FlagState | undefined;
  set(name: string, entry: FlagState | undefined): void;
  readonly size: number;
}

/** What a look at the directory found (health.ts's verdict, reduced). */
export interface DirLook {
  /** Another directory than last time (a new dev:ino, or it came back). */
  readonly replaced: boolean;
  /** It was unsafe and is safe again: changes were dropped meanwhile. */
  readonly resumed: boolean;
  /** The directory exists (a watch can be armed on it). */
  readonly present: boolean;
}

/** What applying a verified observation did, for the driver to log and publish. */
export type Update =
  | {
      readonly kind: 'applied';
      readonly name: string;
      readonly before: FlagState | undefined;
      readonly entry: FlagState | undefined;
      readonly change: FlagChange | null;
    }
  /** A new flag past MAX_FLAGS: not tracked (health.ts reports it). */
  | { readonly kind: 'excess'; readonly name: string }
  /** A hold began: the driver's hold timer must fire by `due`. */
  | { readonly kind: 'hold'; readonly name: string; readonly due: number };

/** A first reading due for its verification. */
export interface DueVerification {
  readonly name: string;
  readonly seen: Observed;
  /** true: read again, then secondReading(); false: accepted as read (the start-up pass). */
  readonly reread: boolean;
}

/** The decisions of one flag store. */
export class FlagCore {
  readonly #quietMs: number;
  readonly #table: FlagTable;
  readonly #holds: Holds;
  readonly #readings = new Readings();
  /** Everything must be read again (the driver starts a pass). */
  #allDirty = false;
  /** The directory's entry changed since the last look. */
  #entryMoved = false;

  constructor(opts: { readonly quietMs: number; readonly settleMs: number }, table: FlagTable) {
    this.#quietMs = opts.quietMs;
    this.#holds = new Holds(opts.settleMs);
    this.#table = table;
  }

  /** Names dirty or waiting for verification. */
  get size(): number {
    return this.#readings.size;
  }

  /** Number of running holds. */
  get holding(): number {
    return this.#holds.size;
  }

  /** True while everything must be read again and no pass has taken that up yet. */
  get allDirty(): boolean {
    return this.#allDirty;
  }

  /** Names a pass must read even when not listed: dirty, or held. */
  *trackedNames(): IterableIterator<string> {
    yield* this.#holds.names();
    yield* this.#readings.dirtyNames();
  }

  /**
   * An event: `name` is a flag (read it after the quiet time, drop its first reading and hold), a
   * `..` name (everything again, first readings kept), null (everything again, first readings
   * dropped), or anything else (ignored). Returns true when the driver must step after quietMs.
   */
  hint(name: string | null, rename: boolean, now: number): boolean {
    if (name === null || name.startsWith('..')) {
      this.#allDirty = true;
      if (name === null) this.#readings.restart(now + this.#quietMs);
      return true;
    }
    if (!isFlagName(name)) return false;
    this.#readings.markDirty(name, now + this.#quietMs);
    this.#holds.end(name);
    this.#readings.drop(name);
    if (rename) this.#readings.renamed(name);
    return true;
  }

  /** The directory's own entry changed (moved, deleted, re-pointed): like a null-name hint, and the next look re-arms. */
  entry(now: number): void {
    this.#entryMoved = true;
    this.hint(null, false, now);
  }

  /** Everything must be read again (start-up, backstop rescan). */
  readAll(): void {
    this.#allDirty = true;
  }

  /**
   * What the driver found looking at the directory at the start of a step. Returns whether to
   * re-arm the watch (never while `initial`: start() arms it before the start-up pass).
   */
  looked(look: DirLook, now: number, initial: boolean): { rearm: boolean } {
    if (look.replaced || look.resumed) {
      this.#allDirty = true;
      this.#readings.restart(now + this.#quietMs); // first readings of another directory
    }
    const entryMoved = this.#entryMoved;
    this.#entryMoved = false;
    return { rearm: (look.replaced || entryMoved) && look.present && !initial };
  }

  /** Takes "everything must be read again": true when the driver must start (or queue) a pass. */
  takeAllDirty(): boolean {
    const all = this.#allDirty;
    this.#allDirty = false;
    return all;
  }

  /** The directory is unsafe: nothing is applied, everything dirty or held is forgotten. */
  unsafe(): void {
    this.#readings.clear();
    this.#holds.clear();
  }

  /** True when dirty names are due for their first reading at `now`. */
  dirtyDue(now: number): boolean {
    return this.#readings.dirtyDue(now);
  }

  /** One dirty name to read now (the driver reads until its step budget is spent). */
  takeDirty(): string | undefined {
    return this.#readings.takeDirty();
  }

  /** Dirty or waiting: an event has it read (twice) already, a pass can skip it. */
  claimed(name: string): boolean {
    return this.#readings.claimed(name);
  }

  /**
   * The first reading of `name` (for a hint or a pass): nothing to do, or kept to verify in a
   * later step. `reread` false: accepted without a second read (start-up pass with events).
   */
  firstReading(name: string, seen: Observed, now: number, reread: boolean): void {
    if (seen.kind !== 'missing') this.#readings.removed(name);
    if (decide(this.#table.get(name), seen, this.#holds.held(name, now, seen.kind)).kind === 'none') {
      this.#holds.end(name);
      if (seen.kind === 'missing') this.#readings.removed(name);
      return;
    }
    this.#readings.wait(name, { seen, at: now, reread });
  }

  /** The first readings old enough to verify at `now`, taken: read again those with `reread`. */
  dueVerifications(now: number): DueVerification[] {
    return this.#readings.takeDue(now - VERIFY_AFTER_MS).map(({ name, seen, reread }) => ({ name, seen, reread }));
  }

  /**
   * The verification of a first reading: `second` is the new reading (null: none was needed).
   * `there`: the directory is in place. `stamp`: the wall-clock time for `changedAt` (null while
   * loading at start). Applies the observation if both agree; returns what changed, if anything.
   */
  secondReading(v: DueVerification, second: Observed | null, there: boolean, now: number, stamp: number | null): Update | null {
    const seen = second ?? v.seen;
    if (second !== null && !sameObserved(v.seen, second)) {
      // Still changing: let it go quiet before reading again.
      this.#readings.markDirty(v.name, now + this.#quietMs);
      return null;
    }
    if (seen.kind === 'missing' && !there && !this.#readings.wasRenamed(v.name)) return null;
    // Without the directory (gone, unreadable, a symlink loop) a read fails on the directory's
    // path, not on the file: ELOOP or EACCES is the directory's problem, reported as such, and
    // the flag keeps its value and problem. (The watcher names the directory's own events by its
    // basename, so this is also what keeps the directory itself from turning up as a flag.)
    if (seen.kind === 'problem' && !there) return null;
    return this.#apply(v.name, seen, now, stamp);
  }

  /** From now on the start-up pass's readings are read twice too. */
  rereadAll(): void {
    this.#readings.rereadAll();
  }

  /** True while a reading taken without a second read waits (start() waits for those). */
  waitingUnverified(): boolean {
    return this.#readings.waitingUnverified();
  }

  /** When the earliest hold is due (the driver's hold timer); null: none. */
  holdsDueAt(): number | null {
    return this.#holds.dueAt();
  }

  /** The holds due at `now` are read again at once; returns whether any was, and when the next is due. */
  holdsDue(now: number): { any: boolean; next: number | null } {
    const { names, next } = this.#holds.due(now);
    for (const name of names) this.#readings.markDirty(name, now);
    return { any: names.length > 0, next };
  }

  /** How long after `now` the next dirty name or verification is due, ms; Infinity: none. */
  dueIn(now: number): number {
    return this.#readings.dueIn(now);
  }

  // Applies a verified observation by the decide.ts table.
  #apply(name: string, seen: Observed, now: number, stamp: number | null): Update | null {
    const before = this.#table.get(name);
    const d = decide(before, seen, this.#holds.held(name, now, seen.kind));
    if (d.kind === 'hold') {
      const due = this.#holds.begin(name, now, seen.kind as HeldState);
      return due === null ? null : { kind: 'hold', name, due };
    }
    this.#holds.end(name);
    if (d.kind === 'none') return null;
    if (before === undefined && this.#table.size >= MAX_FLAGS) return { kind: 'excess', name };
    const { entry, change } = nextEntry(name, before, d as Applied, stamp);
    this.#table.set(name, entry);
    if (!entry) this.#readings.removed(name);
    return { kind: 'applied', name, before, entry, change };
  }
}
