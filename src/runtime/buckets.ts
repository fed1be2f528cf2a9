// The token buckets of one rate-limited rule (docs/proxying.md, "Limits and the queue"): observed state, one
// bucket per key (a client address, an API key), kept across flag changes and reloads.
//
// A bucket holds up to `capacity` (rate + burst) tokens, starts full, and refills at `rate` tokens
// a second; a request takes one or is refused. The time comes in as an argument (performance.now()
// on the request path, a fake clock in tests), so the arithmetic is testable to the millisecond.
//
// Memory is bounded: at most `maxKeys` buckets (DEFAULTS.rateKeys), in a Map kept in order of last
// use; a new key past the cap pushes out the least recently used one, which starts full again when
// it comes back. A bucket is an object of two numbers, about 100 bytes with its Map entry and key:
// 100,000 keys are about 10 MB per rule and process.
//
// Several processes (`workers`): each worker decides alone, on its own buckets, and every bucket
// refills at the whole rate; what each admits is sent to the others (cluster/rate-sync.ts), which
// take it off their own bucket for that key (charge()), into debt if need be. So every worker sees
// every request of a key within one sync interval, and over time a key gets `rate` requests a second
// across all workers; within one interval, each worker may spend the same tokens once.
import { DEFAULTS } from '../config/schema.js';

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
}

export class RateBuckets {
  readonly maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();
  /** Requests admitted per key since the last drain(), for the other workers; null: one process. */
  #spent: Map<string, number> | null = null;

  constructor(maxKeys: number = DEFAULTS.rateKeys) {
    this.maxKeys = maxKeys;
  }

  /** Keys held now. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Counts what is admitted here for drain() (a worker's buckets: the others are told). */
  share(): void {
    this.#spent ??= new Map();
  }

  /**
   * Takes a token from `key`'s bucket at `now` (ms) for a limit of `rate` a second holding at most
   * `capacity`: 0 when one was there (the request passes), else the ms until there is one.
   */
  take(key: string, now: number, rate: number, capacity: number): number {
    const b = this.#touch(key, now, rate, capacity);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      if (this.#spent !== null) this.#spent.set(key, (this.#spent.get(key) ?? 0) + 1);
      return 0;
    }
    return Math.ceil(((1 - b.tokens) * 1000) / rate);
  }

  /** Takes `n` tokens that requests admitted by another worker spent, into debt if need be. */
  charge(key: string, n: number, now: number, rate: number, capacity: number): void {
    this.#touch(key, now, rate, capacity).tokens -= n;
  }

  /** What was admitted here per key since the last call, and forgets it; null when not shared or nothing was. */
  drain(): [string, number][] | null {
    const spent = this.#spent;
    if (spent === null || spent.size === 0) return null;
    const out = [...spent];
    spent.clear();
    return out;
  }

  // The bucket of `key`, refilled up to `now` and made the most recently used; a new one starts full.
  #touch(key: string, now: number, rate: number, capacity: number): Bucket {
    const buckets = this.#buckets;
    let b = buckets.get(key);
    if (b === undefined) {
      if (buckets.size >= this.maxKeys) buckets.delete(buckets.keys().next().value!);
      b = { tokens: capacity, at: now };
      buckets.set(key, b);
      return b;
    }
    // Re-inserted: a Map iterates in insertion order, so the first key is the least recently used.
    buckets.delete(key);
    buckets.set(key, b);
    // A rate lowered by a flag leaves no more than the new capacity; debt stays debt.
    b.tokens = Math.min(capacity, b.tokens + ((now - b.at) * rate) / 1000);
    b.at = now;
    return b;
  }
}
