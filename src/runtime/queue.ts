// A backend's queue (docs/proxying.md, "Limits and the queue"): the requests (tcp: connections) that
// found every eligible server of their backend at its maxconn, first in, first out. Observed state,
// kept by backend name like the counters (servers.ts), so neither a flag change nor a reload lets go
// of a waiter: on every swap the holder binds each queue to the new runtime's backend of its name
// (holder.ts), whose servers then serve it.
//
// The queue knows nothing of HTTP or tcp. A waiter is told to try again (wake) when a slot may have
// freed — a request of the backend ended, or the runtime changed (a maxconn raised or lifted, a
// server back) — and that its time is up (expired). One that leaves on its own (its client went
// away, or it took a slot) takes itself out (remove). Entries form a doubly linked list, so leaving
// from the middle costs the same as from the head; the queue's own figures (length, waits,
// refusals) are plain counters that /status and /metrics read.
//
// What a queue serves is its type parameter T (runtime.ts's ProxyTarget), which the queue only
// keeps for its waiters: ProxyTarget names this class, so naming ProxyTarget back here would tie
// the two modules in a cycle. A queue is made unbound, as BackendQueue<never> (servers.ts), which
// fits a ProxyTarget's queue until holder.ts binds it.
import { Histogram } from './histogram.js';

/** What a waiter did when woken. */
export const Wake = {
  /** It left the queue: it took a slot, or was answered (no server left for it). */
  LEFT: 0,
  /** No server has a free slot: nobody behind it can be served either. */
  NO_SLOT: 1,
  /** The free slots are on servers it already failed to connect to: the next one may take them. */
  PASS: 2,
} as const;
export type Wake = (typeof Wake)[keyof typeof Wake];

/** Something waiting in a queue: an exchange's attempt (proxy/attempt.ts). */
export interface Waiter {
  /** A slot may be free, on the queue's current backend (`queue.target`): take it, or stay. */
  wake(): Wake;
  /** Its timeouts.queue ran out: it has been taken out of the queue after waiting `ms`. */
  expired(ms: number): void;
}

/** One waiter's place in its queue. */
export class QueueEntry<T> {
  prev: QueueEntry<T> | null = null;
  next: QueueEntry<T> | null = null;
  /** The queue it is in; null once it left. */
  queue: BackendQueue<T> | null;
  readonly waiter: Waiter;
  /** performance.now() when it joined. */
  readonly at: number;
  timer: NodeJS.Timeout | null = null;

  constructor(queue: BackendQueue<T>, waiter: Waiter, at: number) {
    this.queue = queue;
    this.waiter = waiter;
    this.at = at;
  }
}

/** Upper bounds (ms) of the queue-wait histogram's buckets; one more bucket counts the waits above the last. */
export const WAIT_BUCKETS_MS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000] as const;
const WAIT_BOUNDS = Float64Array.from(WAIT_BUCKETS_MS);

// A timer's callback with its entry as argument: no closure per waiter.
function onTimeout(entry: QueueEntry<unknown>): void {
  entry.timer = null;
  const queue = entry.queue;
  if (queue === null) return;
  const ms = queue.remove(entry);
  queue.timeouts++;
  entry.waiter.expired(ms);
}

export class BackendQueue<T> {
  /** Waiting now. */
  length = 0;
  /** Every request (tcp: connection) that ever waited, since start. */
  queued = 0;
  /** Answered 503 (tcp: closed) after waiting timeouts.queue, since start. */
  timeouts = 0;
  /** Refused at once because `queue` were already waiting, since start. */
  full = 0;
  /** How long waiters waited (ms), by WAIT_BUCKETS_MS. */
  readonly wait = new Histogram(WAIT_BOUNDS);
  /** The backend of this name in the current runtime (holder.ts binds it); null: none, or not a proxy backend. */
  target: T | null = null;
  #head: QueueEntry<T> | null = null;
  #tail: QueueEntry<T> | null = null;
  #scheduled = false;
  readonly #serve = (): void => this.#run();

  /**
   * Puts `waiter` at the back, to expire after `timeoutMs`; null when `bound` are already waiting
   * (null bound: no bound), counted as a refusal.
   */
  push(waiter: Waiter, timeoutMs: number, bound: number | null): QueueEntry<T> | null {
    if (bound !== null && this.length >= bound) {
      this.full++;
      return null;
    }
    const entry = new QueueEntry(this, waiter, performance.now());
    const tail = this.#tail;
    entry.prev = tail;
    if (tail === null) this.#head = entry;
    else tail.next = entry;
    this.#tail = entry;
    this.length++;
    this.queued++;
    entry.timer = setTimeout(onTimeout, timeoutMs, entry);
    return entry;
  }

  /** Takes `entry` out (it took a slot, its client left, or it expired); resolves with how long it waited (ms). */
  remove(entry: QueueEntry<T>): number {
    if (entry.queue !== this) return 0;
    entry.queue = null;
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = null;
    const { prev, next } = entry;
    if (prev === null) this.#head = next;
    else prev.next = next;
    if (next === null) this.#tail = prev;
    else next.prev = prev;
    entry.prev = entry.next = null;
    this.length--;
    const ms = performance.now() - entry.at;
    this.wait.observe(ms);
    return ms;
  }

  /**
   * A slot may have freed: the waiters are woken in order, once the code that freed it has finished
   * (a microtask later). Deferred so that an HTTP request's connection is back in its pool first,
   * ready for the next request, rather than a new one opened beside it; no request can arrive in
   * between, as new ones come from I/O callbacks.
   */
  wake(): void {
    if (this.#scheduled || this.length === 0) return;
    this.#scheduled = true;
    queueMicrotask(this.#serve);
  }

  /** The current runtime's backend of this name (null: none): its servers serve the waiters from now on. */
  bind(target: T | null): void {
    this.target = target;
    this.wake();
  }

  // From the head: each waiter takes a slot or stays. One that finds no free slot at all ends the
  // round, as nobody behind it would find one; one that only finds servers it already tried lets the
  // next one try. A waiter that takes a slot leaves the queue before it connects, so whatever it
  // does next (a failed connect that puts it back at the end, a wake from its release) finds the
  // list consistent.
  #run(): void {
    this.#scheduled = false;
    let entry = this.#head;
    while (entry !== null) {
      const next = entry.next;
      if (entry.waiter.wake() === Wake.NO_SLOT) return;
      // The next one left meanwhile (not expected: leaving is asynchronous): another round.
      if (next !== null && next.queue !== this) return this.wake();
      entry = next;
    }
  }
}
