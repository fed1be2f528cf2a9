// The reading side of the flag core (core.ts): which flags must be read (dirty, after a quiet
// time), the first readings waiting ~1 ms for their verifying second read, and the evidence a
// missing file needs before it counts as removed. Pure lists: the core decides what goes in and
// out, with the time passed in; the step loop (steps.ts) has the reading done.
import type { Observed } from './decide.js';

// A first reading is verified ~1 ms after it was taken (by one 1 ms timer), always in a later step,
// after a turn of the event loop: an event for a write still in progress has arrived by then.
// Node's timers count whole milliseconds of a clock read once per loop turn, so a 1 ms timer can
// fire when performance.now() says only ~0.5 ms have passed; asking for a full 1 ms by that clock
// would often take a second timer, +1 ms on every change.
export const VERIFY_AFTER_MS = 0.5;
// The same slack for the quiet time after a hint, which only lets a burst of hints coalesce.
export const QUIET_SLACK_MS = 1;

/** A first reading that would change something, waiting to be verified. */
export interface Pending {
  readonly seen: Observed;
  /** When it was read (the core's clock). */
  readonly at: number;
  /** false: accepted without a second read (the start-up pass; see FlagStore.start()). */
  readonly reread: boolean;
}

/** Dirty names, first readings and removal evidence of one flags directory. */
export class Readings {
  readonly #dirty = new Set<string>();
  /** When the dirty names may be read; null while none is dirty. */
  #dirtyAt: number | null = null;
  /** First readings waiting for their verification, oldest first. */
  readonly #pending = new Map<string, Pending>();
  /** Names with a rename/delete event since last seen present: evidence for "file removed". */
  readonly #renamed = new Set<string>();

  /** Names dirty or waiting for verification. */
  get size(): number {
    return this.#dirty.size + this.#pending.size;
  }

  /** The dirty names (tracked by the next pass even past the flag limit). */
  dirtyNames(): IterableIterator<string> {
    return this.#dirty.keys();
  }

  /** Marks `name` for reading no sooner than `at` (or sooner, when other dirty names are due). */
  markDirty(name: string, at: number): void {
    this.#dirty.add(name);
    this.#dirtyAt = Math.min(this.#dirtyAt ?? at, at);
  }

  /** Drops `name`'s waiting first reading, if any. */
  drop(name: string): void {
    this.#pending.delete(name);
  }

  /** Drops the waiting first readings and marks those flags dirty for `at`. */
  restart(at: number): void {
    for (const name of this.#pending.keys()) this.markDirty(name, at);
    this.#pending.clear();
  }

  /** Forgets every dirty name and waiting reading. */
  clear(): void {
    this.#dirty.clear();
    this.#dirtyAt = null;
    this.#pending.clear();
  }

  /** From now on the start-up pass's readings are read twice too. */
  rereadAll(): void {
    for (const [name, p] of this.#pending) if (!p.reread) this.#pending.set(name, { ...p, reread: true });
  }

  /** True while a reading taken without a second read waits. */
  waitingUnverified(): boolean {
    for (const p of this.#pending.values()) if (!p.reread) return true;
    return false;
  }

  /** True when the dirty names' quiet time is over at `now`. */
  dirtyDue(now: number): boolean {
    return this.#dirtyAt !== null && now >= this.#dirtyAt - QUIET_SLACK_MS;
  }

  /** Dirty or already waiting. */
  claimed(name: string): boolean {
    return this.#dirty.has(name) || this.#pending.has(name);
  }

  /** Takes one dirty name to read (undefined: none left). */
  takeDirty(): string | undefined {
    for (const name of this.#dirty) {
      this.#dirty.delete(name);
      if (this.#dirty.size === 0) this.#dirtyAt = null;
      return name;
    }
    this.#dirtyAt = null;
    return undefined;
  }

  /** Keeps a first reading to verify (re-inserted last: the map stays oldest first). */
  wait(name: string, p: Pending): void {
    this.#pending.delete(name);
    this.#pending.set(name, p);
  }

  /** Takes the first readings taken at or before `before`, oldest first. */
  takeDue(before: number): Array<{ name: string } & Pending> {
    const due: Array<{ name: string } & Pending> = [];
    for (const [name, p] of this.#pending) {
      if (p.at > before) break; // oldest first: the rest are younger
      this.#pending.delete(name);
      due.push({ name, ...p });
    }
    return due;
  }

  /** A rename or delete event for `name`. */
  renamed(name: string): void {
    this.#renamed.add(name);
  }

  /** True when a rename or delete event came for `name` since it was last seen present. */
  wasRenamed(name: string): boolean {
    return this.#renamed.has(name);
  }

  /** `name` seen present, or no longer tracked: its removal evidence is spent. */
  removed(name: string): void {
    this.#renamed.delete(name);
  }

  /** How long after `now` a dirty name or a waiting reading is due, ms; Infinity: none. */
  dueIn(now: number): number {
    let wait = this.#dirtyAt === null ? Infinity : Math.max(0, this.#dirtyAt - QUIET_SLACK_MS - now);
    for (const p of this.#pending.values()) {
      wait = Math.min(wait, Math.max(0, p.at + VERIFY_AFTER_MS - now));
      break; // the oldest decides
    }
    return wait;
  }
}
