// A full pass over every flag (the start-up read, the backstop rescan, or everything after a
// `..`-name event) as a cursor that the store advances a little at a time between other work, so
// an event for one flag never waits for a pass over 10,000 of them; how the pass lists the
// directory; and the rule for when the next backstop pass starts.
import fs from 'node:fs';
import { isFlagName } from './parse.js';

/**
 * How long one step of the store reads files before it yields to the event loop, ms. A plain flag
 * costs 6–30 µs to read (four system calls; more on a busy machine), so that is some 30–150 files:
 * it bounds what a request, or a hint, waits for, however slow reads become.
 */
export const STEP_BUDGET_MS = 1;

/**
 * The pause after a backstop pass is at least this many times the pass's own busy time, so the
 * rescan takes at most 1/(1 + 4) = 20% of a core however slow reads become (10,000 flags on a busy
 * machine). With 10,000 plain files a pass is busy ~100–200 ms here, under the 250 ms where this
 * starts to stretch the 1 s default.
 */
export const BACKSTOP_FACTOR = 4;

/** The flag names in a directory; with `types`, also those that were regular files. */
export interface Listing {
  readonly names: readonly string[];
  readonly files: readonly string[];
}

/**
 * The flag names in `dir`, as dir.ts's listFlagNames, but listed on libuv's thread pool: a
 * synchronous readdir of 10,000 names blocks the event loop for 10–25 ms on a busy 2-core machine;
 * this way only turning the names into strings does (2–3 ms). `types`: also tell which entries are
 * regular files (readdir's entry types; making the objects for them blocks for 10–30 ms, which is
 * worth it only at start, when nothing is served yet and no name has been read before).
 */
export async function listFlagsAsync(dir: string, types = false): Promise<Listing> {
  try {
    if (!types) return { names: (await fs.promises.readdir(dir)).filter(isFlagName), files: [] };
    const entries = (await fs.promises.readdir(dir, { withFileTypes: true })).filter((e) => isFlagName(e.name));
    return { names: entries.map((e) => e.name), files: entries.filter((e) => e.isFile()).map((e) => e.name) };
  } catch {
    // Vanished since it was inspected: it lists as empty and the next inspection reports it.
    return { names: [], files: [] };
  }
}

/** One pass over a fixed list of names. */
export class Sweep {
  readonly #names: readonly string[];
  #next = 0;
  #busyMs: number;

  /** `setupMs`: what setting up this pass cost, counted as busy time. */
  constructor(names: readonly string[], setupMs: number) {
    this.#names = names;
    this.#busyMs = setupMs;
  }

  /** True once every name has been taken. */
  get done(): boolean {
    return this.#next >= this.#names.length;
  }

  /** Time spent on this pass's own reads so far, ms. */
  get busyMs(): number {
    return this.#busyMs;
  }

  /** The next name, or undefined when done. */
  next(): string | undefined {
    return this.#names[this.#next++];
  }

  /** Adds time spent reading for this pass. */
  addBusy(ms: number): void {
    this.#busyMs += ms;
  }
}

/**
 * How long after a pass ended the next backstop pass starts: `rescanMs` (counted from the end of
 * the last pass, never from its start, so passes cannot overlap or run back to back), or
 * BACKSTOP_FACTOR times the pass's busy time when that is longer.
 */
export function backstopPause(rescanMs: number, busyMs: number): number {
  return Math.max(rescanMs, BACKSTOP_FACTOR * busyMs);
}
