// Holds: since when each flag has been seen empty (while unset) or missing. The flag rules (README) apply such a
// state only once it has lasted the settle time with no event for that flag (the core ends a hold
// on any event), so the empty moment of `echo 0 > new` or the missing moment of an editor's save is
// never applied. A hold is for one state: seen empty where it was held missing (or the other way
// round), with the event in between lost, it starts again (else the time it was missing would count
// as time empty, and the empty moment of a write would apply as 1). Pure (core.ts passes the time
// in); the hold timer of the step loop (steps.ts) asks at dueAt() for the due holds, which are then
// read again at once, even while a pass keeps the store busy.

/** What a hold waits out. */
export type HeldState = 'empty' | 'missing';

/** The running holds of one store; times are the core's clock (ms). */
export class Holds {
  readonly #settleMs: number;
  readonly #since = new Map<string, number>();
  readonly #state = new Map<string, HeldState>();

  constructor(settleMs: number) {
    this.#settleMs = settleMs;
  }

  get size(): number {
    return this.#since.size;
  }

  /** The names being held. */
  names(): IterableIterator<string> {
    return this.#since.keys();
  }

  /** True once `name`'s hold of `state` has lasted the settle time at `now`. */
  held(name: string, now: number, state: string): boolean {
    const since = this.#since.get(name);
    return since !== undefined && this.#state.get(name) === state && now - since >= this.#settleMs;
  }

  /**
   * Starts holding `name` in `state` at `now`, unless it is held in that state already (a hold of
   * the other state starts again); returns when it is due, if it began.
   */
  begin(name: string, now: number, state: HeldState): number | null {
    if (this.#since.has(name) && this.#state.get(name) === state) return null;
    this.#since.delete(name); // re-inserted last
    this.#since.set(name, now);
    this.#state.set(name, state);
    return now + this.#settleMs;
  }

  /** Ends `name`'s hold (an event for it, or a state that needs none). */
  end(name: string): void {
    this.#since.delete(name);
    this.#state.delete(name);
  }

  /** Ends every hold. */
  clear(): void {
    this.#since.clear();
    this.#state.clear();
  }

  /** When the earliest hold has lasted the settle time; null: none. */
  dueAt(): number | null {
    let first = Infinity;
    for (const since of this.#since.values()) first = Math.min(first, since);
    return first === Infinity ? null : first + this.#settleMs;
  }

  /**
   * The holds that have lasted the settle time at `now`, and when the next of the others will
   * (null: none). A due hold stays until the core has read it again and ended it (or found it
   * still held).
   */
  due(now: number): { names: string[]; next: number | null } {
    const names: string[] = [];
    let next = Infinity;
    for (const [name, since] of this.#since) {
      if (now - since >= this.#settleMs) names.push(name);
      else next = Math.min(next, since + this.#settleMs);
    }
    return { names, next: next === Infinity ? null : next };
  }
}
