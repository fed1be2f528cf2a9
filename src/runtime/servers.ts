// Observed state (STYLE, "two kinds of state"): what flagman has seen happen, as opposed to what the
// config and flags declare. Keyed by stable names ("app/app2") so it survives every recompile when a
// flag changes, and later every reload. Owned here; the hot path only does plain increments on it.
import http from 'node:http';

/** One server's observed state and its connection pool. */
export interface ServerState {
  readonly key: string;
  /** Requests in flight now. */
  active: number;
  /** Requests sent to it since start. */
  requests: number;
  /** Connect failures, resets and timeouts since start. */
  failures: number;
  /** Smooth weighted round-robin position; kept across flag changes so the sequence stays smooth. */
  current: number;
  /** Pooled keep-alive connections to this server. */
  readonly agent: http.Agent;
}

/** Per-frontend and per-backend counters. */
export interface Counters {
  requests: number;
  active: number;
  /** Indexed by status class: [0]=other, [1]=1xx … [5]=5xx. */
  readonly responses: number[];
}

function newCounters(): Counters {
  return { requests: 0, active: 0, responses: [0, 0, 0, 0, 0, 0] };
}

/** The registry of observed state, looked up by name only when a runtime is compiled. */
export class ObservedState {
  readonly #servers = new Map<string, ServerState>();
  readonly #frontends = new Map<string, Counters>();
  readonly #backends = new Map<string, Counters>();

  /** The state of `backend/server`, created on first use with a pool that idles out after `idleMs`. */
  server(backend: string, server: string, idleMs: number): ServerState {
    const key = `${backend}/${server}`;
    let state = this.#servers.get(key);
    if (!state) {
      state = {
        key,
        active: 0,
        requests: 0,
        failures: 0,
        current: 0,
        // keepAlive pools upstream connections (SPEC §3); `timeout` closes pooled sockets idle for
        // longer than the idle timeout so a server's own keep-alive close rarely races a reuse.
        agent: new http.Agent({ keepAlive: true, timeout: idleMs, scheduling: 'lifo' }),
      };
      this.#servers.set(key, state);
    }
    return state;
  }

  frontend(name: string): Counters {
    let c = this.#frontends.get(name);
    if (!c) this.#frontends.set(name, (c = newCounters()));
    return c;
  }

  backend(name: string): Counters {
    let c = this.#backends.get(name);
    if (!c) this.#backends.set(name, (c = newCounters()));
    return c;
  }

  /** Closes every pooled upstream connection (at shutdown). */
  destroy(): void {
    for (const s of this.#servers.values()) s.agent.destroy();
  }
}
