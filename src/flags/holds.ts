// Holds: since when each flag has been seen empty (while unset) or missing. The flag rules (README) apply such a
// state only once it has lasted the settle time with no event for that flag (the store ends a hold
// on any event), so the empty moment of `echo 0 > new` or the missing moment of an editor's save is
// never applied. A timer has due holds read again at once, even while a pass keeps the store busy.

/** The running holds of one store. */
export class Holds {
  readonly #settleMs: number;
  readonly #onDue: (names: string[]) => void;
  readonly #since = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  /** When #timer fires (Date.now() ms). */
  #timerAt = 0;

  /** `onDue` gets the names whose hold has lasted `settleMs`, to be read again. */
  constructor(settleMs: number, onDue: (names: string[]) => void) {
    this.#settleMs = settleMs;
    this.#onDue = onDue;
  }

  get size(): number {
    return this.#since.size;
  }

  /** The names being held. */
  names(): IterableIterator<string> {
    return this.#since.keys();
  }

  /** True once `name`'s hold has lasted the settle time. */
  held(name: string): boolean {
    const since = this.#since.get(name);
    return since !== undefined && Date.now() - since >= this.#settleMs;
  }

  /** Starts holding `name` now, unless it is held already. */
  begin(name: string): void {
    if (this.#since.has(name)) return;
    const now = Date.now();
    this.#since.set(name, now);
    if (this.#timer === null || now + this.#settleMs < this.#timerAt) this.#arm(now + this.#settleMs);
  }

  /** Ends `name`'s hold (an event for it, or a state that needs none). */
  end(name: string): void {
    this.#since.delete(name);
  }

  /** Ends every hold. */
  clear(): void {
    this.#since.clear();
  }

  /** Re-arms the timer for the earliest hold, or stops it when there is none. */
  rearm(): void {
    this.close();
    let first = Infinity;
    for (const since of this.#since.values()) first = Math.min(first, since);
    if (first !== Infinity) this.#arm(first + this.#settleMs);
  }

  /** Stops the timer. */
  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  // At `due` (Date.now() ms), hands over the due holds and re-arms for the next one. A due hold
  // stays until the store has read it again and ended it (or found it still held).
  #arm(due: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = due;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const now = Date.now();
      const due: string[] = [];
      let next = Infinity;
      for (const [name, since] of this.#since) {
        if (now - since >= this.#settleMs) due.push(name);
        else next = Math.min(next, since + this.#settleMs);
      }
      if (next !== Infinity) this.#arm(next);
      if (due.length > 0) this.#onDue(due);
    }, Math.max(0, due - Date.now()) + 1);
  }
}
