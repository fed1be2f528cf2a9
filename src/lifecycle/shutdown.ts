// The end of a process that serves frontends, a single process, a primary or a worker alike: stop
// accepting, let what is in flight finish until timeouts.shutdown, cut the rest, wait until every
// exchange has written its access line, close what the process holds, flush the logs, exit 0. The
// sequence is written once, here; what differs between a primary and a worker is the steps it is
// given (ShutdownSteps), not a second copy of it.
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { events, flushLogs } from '../log.js';
import type { ObservedState } from '../runtime/servers.js';
import type { ListenerSet } from './listeners.js';
import type { Live } from './reload.js';
import { STOP_SIGNALS } from '../stop-signals.js';

// A connection cut at the deadline closes in a later turn of the event loop, after its server has
// already reported itself closed; how long its exchange may take to log, at most, once cut.
const SETTLE_MS = 1000;

interface Closes {
  close(): Promise<void>;
}

/** What a serving process holds until it ends (structural, so that a test can hand in fakes). */
export interface Serving {
  readonly listeners: Pick<ListenerSet, 'close' | 'forceClose'>;
  /** Upgraded connections (WebSocket, CONNECT), cut at the deadline with what is in flight. */
  readonly tunnels: Set<Duplex>;
  readonly observed: Pick<ObservedState, 'all' | 'destroy'>;
  /** The current config (its timeouts.shutdown, read when the stop begins), checks and flag store. */
  readonly live: Pick<Live, 'config' | 'stopChecks' | 'close'>;
  readonly pages: Closes;
  readonly certs: Closes;
}

/** Where a primary (or single process) and a worker differ in how they end. */
export interface ShutdownSteps {
  /** Logs the `stop` and `exit` events: the process that speaks for the instance, not each worker. */
  readonly announce: boolean;
  /** What ends before the listeners close: a primary's config watch and its workers. */
  readonly first?: () => Promise<void>;
  /** Once everything is closed, before the logs are flushed: a worker's last counters. */
  readonly closed?: () => void;
  /** After the logs are flushed: a worker lets go of its IPC channel. */
  readonly last?: () => void;
}

/**
 * Closes every listener and resolves once all their exchanges have ended and logged; those still
 * open after `deadlineMs` are cut, their lines saying `"reason":"shutdown"` (proxy/reasons.ts).
 */
async function drainForShutdown(
  listeners: Serving['listeners'],
  tunnels: Set<Duplex>,
  observed: Serving['observed'],
  deadlineMs: number,
): Promise<void> {
  const deadline = setTimeout(() => {
    listeners.forceClose();
    for (const t of tunnels) t.destroy();
  }, deadlineMs);
  deadline.unref();
  await listeners.close();
  clearTimeout(deadline);
  await logged(observed);
}

/** Closes what a process holds besides its listeners: the flag store and checks, pages, certificates. */
export async function release(s: Pick<Serving, 'live' | 'pages' | 'certs'>): Promise<void> {
  await s.live.close();
  await s.pages.close();
  await s.certs.close();
}

/** The one stop sequence of a serving process; `done` resolves with the exit code once it has run. */
export class Shutdown {
  readonly done: Promise<number>;
  #resolve!: (code: number) => void;
  #running: Promise<void> | null = null;

  constructor(
    private readonly serving: Serving,
    private readonly steps: ShutdownSteps,
  ) {
    this.done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  get stopping(): boolean {
    return this.#running !== null;
  }

  /** Starts the sequence; a later call (a second signal, the primary's word) joins the first. */
  stop(reason: string): Promise<void> {
    this.#running ??= this.#run(reason);
    return this.#running;
  }

  /**
   * Each of STOP_SIGNALS (src/stop-signals.ts says why SIGQUIT is one) stops gracefully. Each is
   * heard once: a second one of the same kind finds no handler, and Node's default action ends the
   * process at once.
   */
  onSignals(): this {
    for (const signal of STOP_SIGNALS) process.once(signal, () => void this.stop(signal));
    return this;
  }

  async #run(reason: string): Promise<void> {
    const { serving: s, steps } = this;
    if (steps.announce) events.info({ event: 'stop', signal: reason }, `stopping on ${reason}`);
    // Checks stop beside the drain: none of their results would steer anything now.
    const checksStopped = s.live.stopChecks();
    await steps.first?.();
    await drainForShutdown(s.listeners, s.tunnels, s.observed, s.live.config.timeouts.shutdown);
    await checksStopped;
    await release(s);
    await s.observed.destroy();
    steps.closed?.();
    if (steps.announce) events.info({ event: 'exit' }, 'stopped');
    await flushLogs();
    steps.last?.();
    this.#resolve(0);
  }
}

// An exchange (HTTP request, upgrade, tcp connection) leaves its frontend's `active` count in the
// same step as it writes its line: none active, every line written. No event says so, and this runs
// once per process lifetime, so it looks every millisecond.
async function logged(observed: Serving['observed']): Promise<void> {
  const until = Date.now() + SETTLE_MS;
  const active = (): number => {
    let n = 0;
    for (const c of observed.all().frontends.values()) n += c.active;
    return n;
  };
  while (active() > 0 && Date.now() < until) await sleep(1);
}
