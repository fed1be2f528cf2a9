// The primary's worker processes (node:cluster): forked with the same command line, told the flags
// and health by the primary, asked to reload, counted, stopped, and replaced when one dies. The
// listening sockets are the primary's (cluster shares them), so a worker that dies refuses no
// connection: the others go on accepting.
import cluster, { type Worker } from 'node:cluster';
import { events } from '../log.js';
import { forkSelf } from './exec.js';
import type { Stats, ToPrimary, ToWorker } from './messages.js';
import { ended } from './stats.js';

/** What the pool asks of the primary. */
export interface PoolHandlers {
  /** The first message for a new worker: the current flags and health. */
  init(): ToWorker;
  /** A worker's check result (a request's failed connection), for the primary to decide health. */
  check(msg: Extract<ToPrimary, { t: 'check' }>): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
}

// A worker that keeps dying right after its start is replaced at most this often.
const RESPAWN_PAUSE_MS = 1000;
// Under systemd a stop signals every process of the unit: the workers may see it first. The pause
// lets the primary's own signal arrive before it replaces them.
const RESPAWN_DELAY_MS = 100;
const REPLY_TIMEOUT_MS = 2000;

/** The workers of one primary. */
export class WorkerPool {
  readonly #handlers: PoolHandlers;
  readonly #slots: (Slot | null)[] = [];
  /**
   * The latest counters of every worker that ever ran (by cluster id), asked for or sent unasked: an
   * exited one's requests still count, and a worker that replaces it starts its own from zero.
   */
  readonly #stats = new Map<number, Stats>();
  readonly #waiting = new Map<number, (m: ToPrimary) => void>();
  #nextId = 1;
  #stopping = false;

  constructor(count: number, handlers: PoolHandlers) {
    this.#handlers = handlers;
    this.#slots.length = count;
    this.#slots.fill(null);
    forkSelf();
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Forks every worker; resolves once all listen, rejects if one exits first. */
  async start(): Promise<void> {
    await Promise.all(this.#slots.map((_, i) => this.#fork(i)));
  }

  /** The running workers' process ids, by slot. */
  pids(): (number | null)[] {
    return this.#slots.map((s) => (s?.ready ? (s.worker.process.pid ?? null) : null));
  }

  /** Sends `msg` to every running worker. */
  broadcast(msg: ToWorker): void {
    for (const s of this.#slots) if (s?.ready && s.worker.isConnected()) s.worker.send(msg);
  }

  /** Has every worker reload; resolves with what failed (each failing worker's error, their codes), or null when all succeeded. */
  async reload(generation: number): Promise<{ error: string; codes: string[] } | null> {
    const replies = await this.#ask((id) => ({ t: 'reload', generation, id }), 30_000);
    const errors: string[] = [];
    const codes = new Set<string>();
    for (const [slot, m] of replies) {
      if (m === null) errors.push(`worker ${slot + 1}: no answer`);
      else if (m.t === 'reloaded' && m.error !== null) {
        errors.push(`worker ${slot + 1}: ${m.error}`);
        for (const c of m.codes) codes.add(c);
      }
    }
    return errors.length > 0 ? { error: errors.join('; '), codes: [...codes] } : null;
  }

  /** Asks every worker for its counters; resolves with the latest of every worker that ever ran. */
  async gather(): Promise<Stats[]> {
    // The replies are kept as they arrive, with the reports sent unasked (#fork).
    await this.#ask((id) => ({ t: 'stats', id }), REPLY_TIMEOUT_MS);
    return [...this.#stats.values()];
  }

  /** Grows or shrinks the pool to `count` workers (a reload changed `workers`). */
  async resize(count: number): Promise<void> {
    const old = this.#slots.length;
    if (count > old) {
      this.#slots.length = count;
      this.#slots.fill(null, old);
      await Promise.all(this.#slots.map((_s, i) => (i >= old ? this.#fork(i) : Promise.resolve())));
    } else if (count < old) {
      const extra = this.#slots.splice(count);
      await Promise.all(extra.map((s) => (s ? this.#stopOne(s) : Promise.resolve())));
    }
  }

  /** Asks every worker to stop gracefully; resolves once all have exited (killed after `graceMs`). */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#slots.map((s) => (s ? this.#stopOne(s, graceMs) : Promise.resolve())));
  }

  #stopOne(slot: Slot, graceMs = 30_000): Promise<void> {
    const worker = slot.worker;
    if (worker.isDead()) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => worker.process.kill('SIGKILL'), graceMs);
      worker.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      // One still starting may not listen for messages yet; its SIGTERM handler, or the default, ends it.
      if (slot.ready && worker.isConnected()) worker.send({ t: 'stop' } satisfies ToWorker);
      else worker.process.kill('SIGTERM');
    });
  }

  // Sends each running worker a request made with a fresh id; resolves with each slot's reply
  // (null: none within `timeoutMs`).
  #ask(make: (id: number) => ToWorker & { id?: number }, timeoutMs: number): Promise<[number, ToPrimary | null][]> {
    const asks: Promise<[number, ToPrimary | null]>[] = [];
    for (const [slot, s] of this.#slots.entries()) {
      if (!s?.ready || !s.worker.isConnected()) continue;
      const id = this.#nextId++;
      asks.push(
        new Promise((resolve) => {
          const timer = setTimeout(() => {
            this.#waiting.delete(id);
            resolve([slot, null]);
          }, timeoutMs);
          this.#waiting.set(id, (m) => {
            clearTimeout(timer);
            this.#waiting.delete(id);
            resolve([slot, m]);
          });
          s.worker.send(make(id));
        }),
      );
    }
    return Promise.all(asks);
  }

  #fork(slot: number, replacing = false): Promise<void> {
    const worker = cluster.fork({ FLAGMAN_WORKER_SLOT: String(slot + 1) });
    const entry: Slot = { worker, ready: false };
    this.#slots[slot] = entry;
    const started = Date.now();
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (m: ToPrimary) => {
        if (m.t === 'hello') {
          worker.send(this.#handlers.init());
        } else if (m.t === 'ready') {
          entry.ready = true;
          // The first workers are named by the `start` event; a replacement says so itself.
          if (replacing)
            events.info({ event: 'worker.start', worker: slot + 1, pid: worker.process.pid }, `worker ${slot + 1} started again`);
          resolve();
        } else if (m.t === 'check') {
          this.#handlers.check(m);
        } else if (m.t === 'stats') {
          // One channel delivers a worker's messages in order: the last one read is its latest count.
          this.#stats.set(worker.id, worker.isDead() ? ended(m.stats) : m.stats);
          if (m.id !== null) this.#waiting.get(m.id)?.(m);
        } else if (m.t === 'reloaded') {
          this.#waiting.get(m.id)?.(m);
        } else if (m.t === 'spent') {
          // What its rate limits admitted, for every other worker to take off its own buckets.
          const relay: ToWorker = { t: 'spent', spent: m.spent };
          for (const other of this.#slots)
            if (other !== null && other !== entry && other.ready && other.worker.isConnected()) other.worker.send(relay);
        }
      });
      worker.once('exit', (code, signal) => {
        const last = this.#stats.get(worker.id);
        // Its requests stay counted, up to its last report (STATS_REPORT_MS); none is in flight any
        // more, nor does it hold connections or room for any.
        if (last) this.#stats.set(worker.id, ended(last));
        if (!entry.ready) {
          reject(new Error(`worker ${slot + 1} exited before listening (${signal ?? `exit ${code}`})`));
          return;
        }
        if (this.#stopping || this.#slots[slot] !== entry) return;
        events.error(
          { event: 'worker.exit', worker: slot + 1, pid: worker.process.pid, code, signal },
          `worker ${slot + 1} exited (${signal ?? `exit ${code}`}); starting another`,
        );
        const pause = Date.now() - started < RESPAWN_PAUSE_MS ? RESPAWN_PAUSE_MS : RESPAWN_DELAY_MS;
        setTimeout(() => {
          if (this.#stopping || this.#slots[slot] !== entry) return;
          this.#fork(slot, true).catch((err: unknown) =>
            events.error({ event: 'worker.exit', worker: slot + 1, error: String(err) }, `worker ${slot + 1} could not be restarted`),
          );
        }, pause);
      });
    });
  }
}
