// The flag values a store has applied, and their publication as immutable snapshots (docs/design/conventions.md).
// Two costs of 10,000 flags are kept off the way to routing a change:
// - The map is shared with the snapshot it was published in, and copied before it next changes.
//   The copy (3–8 ms for 10,000 entries here) is made on a later turn of the event loop, after the
//   listeners have swapped the routing, or by the next change if that comes sooner.
// - Changes applied while a burst of events is still being read (10,000 files created at once) are
//   published together, at most PUBLISH_BURST_MS after the first of them: each snapshot costs
//   O(flags) (the copy, the freeze, the listeners' recompile), so one per chunk would be
//   quadratic. A lone change has nothing queued behind it and is published at once.
import { EMPTY_SNAPSHOT, makeSnapshot, type FlagChange, type FlagSnapshot, type FlagState } from './snapshot.js';

/** Longest a change waits to be published while a burst is still being read, ms. */
export const PUBLISH_BURST_MS = 20;

/** The applied values of one store. */
export class FlagValues {
  #entries = new Map<string, FlagState>();
  /** #entries is the published snapshot's map: copy it before changing it. */
  #shared = false;
  #snapshot: FlagSnapshot = EMPTY_SNAPSHOT;
  /** Changes applied and not published yet (null: none; [] for a note or problem only). */
  #unpublished: FlagChange[] | null = null;
  /** When the oldest unpublished change was applied (the store's monotonic clock, ms). */
  #unpublishedAt = 0;

  /** The last published snapshot. */
  get snapshot(): FlagSnapshot {
    return this.#snapshot;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(name: string): FlagState | undefined {
    return this.#entries.get(name);
  }

  names(): IterableIterator<string> {
    return this.#entries.keys();
  }

  /** Sets (or, with undefined, removes) a flag's entry. */
  set(name: string, entry: FlagState | undefined): void {
    if (this.#shared) {
      this.#entries = new Map(this.#entries);
      this.#shared = false;
    }
    if (entry) this.#entries.set(name, entry);
    else this.#entries.delete(name);
  }

  /** Records the changes one step applied (a value, note or problem changed) at `now`. */
  applied(changes: readonly FlagChange[], now: number): void {
    if (this.#unpublished === null) this.#unpublishedAt = now;
    this.#unpublished ??= [];
    this.#unpublished.push(...changes);
  }

  /** True while something applied is not published yet. */
  get unpublished(): boolean {
    return this.#unpublished !== null;
  }

  /** How long after `now` unpublished changes are due however busy, ms (Infinity: none). */
  dueIn(now: number): number {
    return this.#unpublished === null ? Infinity : Math.max(0, this.#unpublishedAt + PUBLISH_BURST_MS - now);
  }

  /**
   * The changes to publish now, taken, or null: nothing applied, or `burst` (more events are being
   * read) and the oldest change is younger than PUBLISH_BURST_MS at `now`.
   */
  takeDue(burst: boolean, now: number): FlagChange[] | null {
    if (this.#unpublished === null || (burst && this.dueIn(now) > 0)) return null;
    const changes = this.#unpublished;
    this.#unpublished = null;
    return changes;
  }

  /** Freezes the current values into the next snapshot, and returns it. */
  publish(): FlagSnapshot {
    this.#snapshot = makeSnapshot(this.#snapshot.version + 1, this.#entries);
    this.#shared = true;
    setImmediate(() => {
      if (!this.#shared) return;
      this.#entries = new Map(this.#entries);
      this.#shared = false;
    }).unref();
    return this.#snapshot;
  }
}
