// The reading side of the flag store: which flags must be read (dirty, after a quiet time), the
// first readings waiting ~1 ms for their verifying second read, and the evidence a missing file
// needs before it counts as removed. The store decides when to call what (store.ts); this module
// only reads files and keeps these lists.
//
// A first reading is kept only when it would change something (decide.ts); a hint for that flag
// drops it (a write was in progress), and an agreeing second read makes it a verified observation
// for the store to apply.
import { performance } from 'node:perf_hooks';
import { decide, observe, sameObserved, type Current, type Observed } from './decide.js';
import type { Holds } from './holds.js';
import { readFlag, type FlagRead } from './read.js';

// A first reading is verified ~1 ms after it was taken (by one 1 ms timer), always in a later step,
// after a turn of the event loop: an event for a write still in progress has arrived by then.
// Node's timers count whole milliseconds of a clock read once per loop turn, so a 1 ms timer can
// fire when performance.now() says only ~0.5 ms have passed; asking for a full 1 ms by that clock
// would often take a second timer, +1 ms on every change.
const VERIFY_AFTER_MS = 0.5;
// The same slack for the quiet time after a hint, which only lets a burst of hints coalesce.
const QUIET_SLACK_MS = 1;

/** A first reading that would change something, waiting to be verified. */
interface Pending {
  readonly seen: Observed;
  /** performance.now() when it was read. */
  readonly at: number;
  /** false: accepted without a second read (the start-up pass; see FlagStore.start()). */
  readonly reread: boolean;
}

/** A verified observation, for the store to apply. */
export interface Verified {
  readonly name: string;
  readonly seen: Observed;
}

/** Dirty names, first readings and removal evidence of one flags directory. */
export class Readings {
  readonly #dir: string;
  readonly #quietMs: number;
  readonly #holds: Holds;
  readonly #current: (name: string) => Current | undefined;
  readonly #dirty = new Set<string>();
  /** When the dirty names may be read (performance.now()); null while none is dirty. */
  #dirtyAt: number | null = null;
  /** First readings waiting for their verification, oldest first. */
  readonly #pending = new Map<string, Pending>();
  /** Names with a rename/delete event since last seen present: evidence for "file removed". */
  readonly #renamed = new Set<string>();
  /** Names last read as a regular file (not through a symlink): read.ts's quick path is for them. */
  readonly #plain = new Set<string>();

  /** `current` gives the applied entry of a flag, to tell whether a reading changes anything. */
  constructor(dir: string, quietMs: number, holds: Holds, current: (name: string) => Current | undefined) {
    this.#dir = dir;
    this.#quietMs = quietMs;
    this.#holds = holds;
    this.#current = current;
  }

  /** Names dirty or waiting for verification. */
  get size(): number {
    return this.#dirty.size + this.#pending.size;
  }

  /** The dirty names (tracked by the next pass even past the flag limit). */
  dirtyNames(): IterableIterator<string> {
    return this.#dirty.keys();
  }

  /** An event for flag `name`: read it after the quiet time, and drop what was read before. */
  hinted(name: string, rename: boolean): void {
    this.markDirty(name, performance.now() + this.#quietMs);
    // Any event restarts a hold: an empty or missing state counts only while nothing happens.
    this.#holds.end(name);
    this.#pending.delete(name);
    if (rename) this.#renamed.add(name);
  }

  /** Marks `name` for reading no sooner than `at` (or sooner, when other dirty names are due). */
  markDirty(name: string, at: number): void {
    this.#dirty.add(name);
    this.#dirtyAt = Math.min(this.#dirtyAt ?? at, at);
  }

  /** Drops the waiting first readings and has those flags read again, twice. */
  restart(): void {
    const at = performance.now() + this.#quietMs;
    for (const name of this.#pending.keys()) this.markDirty(name, at);
    this.#pending.clear();
  }

  /** Forgets every dirty name and waiting reading (the directory is unsafe: nothing is applied). */
  clear(): void {
    this.#dirty.clear();
    this.#dirtyAt = null;
    this.#pending.clear();
  }

  /** From now on the start-up pass's readings are read twice too. */
  rereadAll(): void {
    for (const [name, p] of this.#pending) if (!p.reread) this.#pending.set(name, { ...p, reread: true });
  }

  /** True while a reading taken without a second read waits (start() waits for those). */
  waitingUnverified(): boolean {
    for (const p of this.#pending.values()) if (!p.reread) return true;
    return false;
  }

  /** True when the dirty names' quiet time is over. */
  dirtyDue(): boolean {
    return this.#dirtyAt !== null && performance.now() >= this.#dirtyAt - QUIET_SLACK_MS;
  }

  /** Dirty or already waiting: an event has it read (twice) already, a pass can skip it. */
  claimed(name: string): boolean {
    return this.#dirty.has(name) || this.#pending.has(name);
  }

  /** Takes the first readings of the dirty names, until `end` (performance.now()). */
  readDirty(real: string, end: number): void {
    for (const name of this.#dirty) {
      this.#dirty.delete(name);
      this.look(name, real, true);
      if (performance.now() >= end) break;
    }
    if (this.#dirty.size === 0) this.#dirtyAt = null;
  }

  /** The first reading of `name`: nothing to do, or a reading to verify in a later step. */
  look(name: string, real: string, reread: boolean): void {
    const seen = observe(this.#read(name, real));
    if (seen.kind !== 'missing') this.#renamed.delete(name);
    if (decide(this.#current(name), seen, this.#holds.held(name)).kind === 'none') {
      this.#holds.end(name);
      if (seen.kind === 'missing') this.#renamed.delete(name);
      return;
    }
    this.#pending.delete(name); // re-inserted last: the map stays oldest first
    this.#pending.set(name, { seen, at: performance.now(), reread });
  }

  /**
   * Verifies the first readings that are old enough: read again (unless taken by the start-up
   * pass); returns those where both agree. `there`: the directory is in place, so a missing file
   * was removed (without it, only a delete event for that very file says so: `rm -rf flags` unsets
   * flags as their files go; a directory renamed away or unmounted keeps them).
   */
  verify(real: string, there: boolean): Verified[] {
    const due = performance.now() - VERIFY_AFTER_MS;
    const verified: Verified[] = [];
    for (const [name, p] of this.#pending) {
      if (p.at > due) break; // oldest first: the rest are younger
      this.#pending.delete(name);
      let seen = p.seen;
      if (p.reread) {
        seen = observe(this.#read(name, real));
        if (!sameObserved(p.seen, seen)) {
          // Still changing: let it go quiet before reading again.
          this.markDirty(name, performance.now() + this.#quietMs);
          continue;
        }
      }
      if (seen.kind === 'missing' && !there && !this.#renamed.has(name)) continue;
      // Without the directory (gone, unreadable, a symlink loop) a read fails on the directory's
      // path, not on the file: ELOOP or EACCES is the directory's problem, reported as such, and
      // the flag keeps its value and problem. (The watcher names the directory's own events by its
      // basename, so this is also what keeps the directory itself from turning up as a flag.)
      if (seen.kind === 'problem' && !there) continue;
      verified.push({ name, seen });
    }
    return verified;
  }

  /** `name` is no longer tracked: its removal evidence is spent. */
  removed(name: string): void {
    this.#renamed.delete(name);
  }

  /** A plain regular file, as listed at start (read.ts's quick path). */
  notePlain(name: string): void {
    this.#plain.add(name);
  }

  /** How long until a dirty name or a waiting reading is due, ms; Infinity: none. */
  dueIn(): number {
    const now = performance.now();
    let wait = this.#dirtyAt === null ? Infinity : Math.max(0, this.#dirtyAt - QUIET_SLACK_MS - now);
    for (const p of this.#pending.values()) {
      wait = Math.min(wait, Math.max(0, p.at + VERIFY_AFTER_MS - now));
      break; // the oldest decides
    }
    return wait;
  }

  // Reads `name`: the quick way if it was a regular file when last read (read.ts), else carefully.
  #read(name: string, real: string): FlagRead {
    const { read, linked } = readFlag(this.#dir, real, name, this.#plain.has(name));
    if (read.kind === 'file' && !linked) this.#plain.add(name);
    else this.#plain.delete(name);
    return read;
  }
}
