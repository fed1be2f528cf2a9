// Observed state (docs/design/conventions.md, "Two kinds of state"): what flagman has seen happen, as opposed to what the
// config and flags declare. Keyed by stable names ("app/app2") so it survives every recompile when a
// flag changes, and later every reload. Owned here; the hot path only does plain increments on it,
// and a failed connection reports one check result (server-state.ts has the rules).
import { EventEmitter } from 'node:events';
import { BackendQueue } from './queue.js';
import { nextHealth, type Health, type HealthRule } from './server-state.js';
import { RateBuckets } from './buckets.js';
import { latencyHistogram, type Histogram } from './histogram.js';
import type { PoolFactory, PoolTimeouts, ServerPool } from './server-pool.js';

/** How a check result was obtained: one of the active probes, or a request's own connection. */
export type CheckSource = 'http' | 'tcp' | 'exec' | 'passive';

/** The check results that last changed a server's health, for the event line. */
export interface HealthChange {
  readonly source: CheckSource;
  /** What the last of them saw: `HTTP 200`, `ECONNREFUSED`, `exit 1`, `timed out after 1000ms`. */
  readonly detail: string;
  /** How many consecutive results it took (rise or fall). */
  readonly results: number;
}

/** One server's observed state and its connection pool. */
export class ObservedServer {
  readonly key: string;
  /** Requests in flight now (tcp: open connections). */
  active = 0;
  /** Requests sent to it since start (tcp: connections). */
  requests = 0;
  /** tcp only: bytes from clients sent on to it, and bytes from it sent on to clients. */
  bytesIn = 0;
  bytesOut = 0;
  /** Failed requests (connect failures, resets, timeouts, cut responses) and failed active checks since start. */
  failures = 0;
  /** The failed active checks among `failures` (with workers, the primary adds the workers' requests to these). */
  checkFailures = 0;
  /**
   * How long its new connections took to connect (HTTP's pooled ones, upgrades' and tcp
   * connections'; a reused one is not a connect), and its time to first byte: from a request (or
   * an upgrade's handshake) written to its response head. In ms (histogram.ts).
   */
  readonly connect: Histogram = latencyHistogram();
  readonly ttfb: Histogram = latencyHistogram();
  /**
   * Smooth weighted round-robin's running score (balance/round-robin.ts); kept across flag changes
   * so the sequence stays smooth.
   */
  rrScore = 0;
  /** Up until checks say otherwise (server-state.ts). */
  health: Health = 'up';
  /** Consecutive check results against `health`. */
  streak = 0;
  /** What brought the health to what it is; null while it has never changed. */
  change: HealthChange | null = null;
  /** Pooled keep-alive connections to this server, one pool per address and timeouts (a reload may change them). */
  readonly #pools = new Map<string, ServerPool>();
  readonly #makePool: PoolFactory;
  readonly #onHealth: (s: ObservedServer) => void;
  readonly #forward: CheckForward | null;

  constructor(key: string, makePool: PoolFactory, onHealth: (s: ObservedServer) => void, forward: CheckForward | null = null) {
    this.key = key;
    this.#makePool = makePool;
    this.#forward = forward;
    this.#onHealth = onHealth;
  }

  /**
   * The connection pool to `host:port` with `timeouts` (and the PROXY header version its
   * connections start with, if any), made on first use by the factory ObservedState was given. Called when a runtime
   * is compiled, never per request. A pool whose address a reload dropped stays until shutdown:
   * requests of the old runtime may still be on it, and an idle pool holds no connection.
   */
  pool(host: string, port: number, timeouts: PoolTimeouts, sendProxy: 1 | 2 | null = null): ServerPool {
    const key = `${host}:${port}/${timeouts.connect}/${timeouts.idle}/${sendProxy ?? ''}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = this.#makePool(host, port, timeouts, sendProxy);
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Closes every pooled connection, ending requests still on them (at shutdown). */
  destroyPools(): Promise<void> {
    const all = [...this.#pools.values()].map((p) => p.destroy());
    this.#pools.clear();
    return Promise.all(all).then(() => undefined);
  }

  /** Applies one check result under `rule`; a change of health is announced to the owner. */
  check(pass: boolean, rule: HealthRule, source: CheckSource, detail: string): void {
    // A worker process reports to the primary, which decides health for every worker alike.
    if (this.#forward) return this.#forward(this.key, pass, source, detail);
    const before = this.health;
    const streak = this.streak + 1;
    const next = nextHealth(this, pass, rule);
    this.health = next.health;
    this.streak = next.streak;
    if (next.health === before) return;
    this.change = { source, detail, results: streak };
    this.#onHealth(this);
  }

  /** Takes the health the primary decided (worker processes only). */
  adopt(health: Health, change: HealthChange | null): void {
    if (health === this.health) return;
    this.health = health;
    this.streak = 0;
    this.change = change;
    this.#onHealth(this);
  }
}

/** Where a worker process sends its check results instead of applying them. */
export type CheckForward = (key: string, pass: boolean, source: CheckSource, detail: string) => void;

/** Per-frontend and per-backend counters; in tcp mode a request is a connection. */
export interface Counters {
  requests: number;
  active: number;
  /** Indexed by status class: [0]=other, [1]=1xx … [5]=5xx. */
  readonly responses: number[];
  /** tcp only: bytes received from clients, and bytes sent to them. */
  bytesIn: number;
  bytesOut: number;
  /**
   * HTTP only: how long requests took, from their head read to their response's end (or their
   * client gone), in ms (histogram.ts). Not upgrades, nor tcp connections: those last as long as
   * their clients like, which says nothing of how fast anything answered.
   */
  readonly duration: Histogram;
}

/** Client connections on the frontend listeners, every frontend together (proxy/admission.ts). */
export interface ConnectionCounters {
  /** Open now. */
  open: number;
  /** Closed as soon as accepted because `open` had reached `max`, since start. */
  refused: number;
  /** The most held at once, from the descriptor limit (descriptors.ts); null: no cap. */
  max: number | null;
}

/** A frontend's limits as observed (docs/proxying.md, "Limits and the queue"), every listener of it together. */
export interface FrontendLimitCounters {
  /** Requests refused with 413 (a body over `maxBody`), and with 429 (over a rule's rate), since start. */
  bodyTooLarge: number;
  rateLimited: number;
  /** Client connections being served now: at most `maxconn`. */
  open: number;
  /** Client connections accepted and held, unread, until one of those served closes (`maxconn`). */
  waiting: number;
  /** Connections that had to wait, since start. */
  waited: number;
  /** Connections closed for want of a valid PROXY header (`acceptProxy`, proxy/accept-proxy.ts), since start. */
  proxyHeaderRefused: number;
}

/** One rule's observed state: what its limits refused, and its rate limit's buckets. */
export class RuleState {
  /** `frontend/N`, N the rule's number in the file (1-based): stable across flag changes. */
  readonly key: string;
  bodyTooLarge = 0;
  rateLimited = 0;
  #buckets: RateBuckets | null = null;
  #keyedBy: string | null = null;
  readonly #shared: boolean;

  constructor(key: string, shared: boolean) {
    this.key = key;
    this.#shared = shared;
  }

  /**
   * The buckets of the rule's rate limit, whose keys are given by `by` (its source): kept while
   * `by` stays the same, whatever the rate; new, every key full, when a reload changes what a key is.
   */
  buckets(by: string): RateBuckets {
    if (this.#buckets === null || this.#keyedBy !== by) {
      this.#buckets = new RateBuckets();
      this.#keyedBy = by;
      if (this.#shared) this.#buckets.share();
    }
    return this.#buckets;
  }

  /** The most keys a worker reported holding (a primary's: it holds no bucket itself). */
  reportedKeys = 0;

  /** The keys the rate limit holds now (0 without one); with workers, the most any of them holds. */
  get keys(): number {
    return Math.max(this.#buckets?.size ?? 0, this.reportedKeys);
  }

  /** The buckets in use, if the rule has a rate limit that took a request. */
  get currentBuckets(): RateBuckets | null {
    return this.#buckets;
  }
}

function newCounters(): Counters {
  return { requests: 0, active: 0, responses: [0, 0, 0, 0, 0, 0], bytesIn: 0, bytesOut: 0, duration: latencyHistogram() };
}

interface ObservedEvents {
  /** A server's health changed: the runtime's eligible servers must be recomputed. */
  health: [ObservedServer];
}

/** The registry of observed state, looked up by name only when a runtime is compiled. */
export class ObservedState extends EventEmitter<ObservedEvents> {
  readonly #servers = new Map<string, ObservedServer>();
  readonly #frontends = new Map<string, Counters>();
  readonly #backends = new Map<string, Counters>();
  readonly #queues = new Map<string, BackendQueue<never>>();
  readonly #frontendLimits = new Map<string, FrontendLimitCounters>();
  readonly #rules = new Map<string, RuleState>();
  /**
   * Rate-limit buckets count what they admit, for the other workers (worker processes only: set
   * before the first runtime is built).
   */
  shareRates = false;
  /** This process's client connections (with workers, the primary adds theirs up here). */
  readonly connections: ConnectionCounters = { open: 0, refused: 0, max: null };
  readonly #forward: CheckForward | null;
  /** Health adopted for servers not yet created (worker processes: the primary's word comes first). */
  readonly #adopted = new Map<string, [Health, HealthChange | null]>();

  readonly #makePool: PoolFactory;

  /**
   * `makePool`: makes each server's connection pool (server-pool.ts; upstream/pool.ts has the
   * real one). `forward`: in a worker process, where check results go (the primary); null: decide here.
   */
  constructor(makePool: PoolFactory, forward: CheckForward | null = null) {
    super();
    this.#makePool = makePool;
    this.#forward = forward;
  }

  /** The state of `backend/server`, created on first use. */
  server(backend: string, server: string): ObservedServer {
    const key = `${backend}/${server}`;
    let state = this.#servers.get(key);
    if (!state) {
      state = new ObservedServer(key, this.#makePool, (s) => this.emit('health', s), this.#forward);
      const adopted = this.#adopted.get(key);
      if (adopted) {
        state.health = adopted[0];
        state.change = adopted[1];
      }
      this.#servers.set(key, state);
    }
    return state;
  }

  frontend(name: string): Counters {
    let c = this.#frontends.get(name);
    if (!c) {
      c = newCounters();
      this.#frontends.set(name, c);
    }
    return c;
  }

  backend(name: string): Counters {
    let c = this.#backends.get(name);
    if (!c) {
      c = newCounters();
      this.#backends.set(name, c);
    }
    return c;
  }

  /**
   * The queue of proxy backend `name` (queue.ts), made on first use, kept through flag changes and
   * reloads; unbound (`never`: no target yet) until holder.ts binds it to its ProxyTarget.
   */
  queue(name: string): BackendQueue<never> {
    let q = this.#queues.get(name);
    if (!q) {
      q = new BackendQueue();
      this.#queues.set(name, q);
    }
    return q;
  }

  /** The limits observed on frontend `name` (maxconn, refusals), created on first use. */
  frontendLimits(name: string): FrontendLimitCounters {
    let c = this.#frontendLimits.get(name);
    if (!c) {
      c = { bodyTooLarge: 0, rateLimited: 0, open: 0, waiting: 0, waited: 0, proxyHeaderRefused: 0 };
      this.#frontendLimits.set(name, c);
    }
    return c;
  }

  /** The state of rule `n` (1-based) of `frontend`, created on first use. */
  rule(frontend: string, n: number): RuleState {
    return this.ruleByKey(`${frontend}/${n}`);
  }

  /** The state of the rule under `frontend/N` (RuleState.key), created on first use. */
  ruleByKey(key: string): RuleState {
    let r = this.#rules.get(key);
    if (!r) {
      r = new RuleState(key, this.shareRates);
      this.#rules.set(key, r);
    }
    return r;
  }

  /** The server state under `backend/server`, if it exists. */
  get(key: string): ObservedServer | undefined {
    return this.#servers.get(key);
  }

  /** Takes the primary's health for `key` (worker processes only). */
  adopt(key: string, health: Health, change: HealthChange | null): void {
    const state = this.#servers.get(key);
    if (state) state.adopt(health, change);
    else this.#adopted.set(key, [health, change]);
  }

  /** Every server state, frontend and backend counter, queue and limit, for adding up across processes. */
  all(): {
    servers: ReadonlyMap<string, ObservedServer>;
    frontends: ReadonlyMap<string, Counters>;
    backends: ReadonlyMap<string, Counters>;
    queues: ReadonlyMap<string, BackendQueue<unknown>>;
    frontendLimits: ReadonlyMap<string, FrontendLimitCounters>;
    rules: ReadonlyMap<string, RuleState>;
  } {
    return {
      servers: this.#servers,
      frontends: this.#frontends,
      backends: this.#backends,
      queues: this.#queues,
      frontendLimits: this.#frontendLimits,
      rules: this.#rules,
    };
  }

  /** Closes every pooled upstream connection (at shutdown). */
  destroy(): Promise<void> {
    return Promise.all([...this.#servers.values()].map((s) => s.destroyPools())).then(() => undefined);
  }
}
