// Trying the servers of a proxy backend for one exchange: an HTTP request (upstream.ts), an
// upgrade (tunnel.ts) or a tcp connection (tcp-session.ts). Written once for the three: which
// server (the backend's balancer), the connection to it (reused from the server's pool, or one of
// its own: upstream/dial.ts), what a failure means (another server, a replay, an answer of
// flagman's own, a cut), the backend's and the server's `active` and `requests`, and passive health
// checks. Each kind says only how it talks to the server and how it answers its client.
//
// What may be tried again:
//   - a connect failure (refused, unreachable, connect timeout): nothing was sent; next server.
//     Not so when flagman itself is out of descriptors (EMFILE): 503 at once, the server unblamed.
//     A pooled connection calls onStart only when it writes the request on a connected socket, so
//     a failure before then means nothing left flagman.
//   - a request written on a reused pooled connection that the server closed before anything came
//     back (the keep-alive race), if it is idempotent and has no body: once, on any server.
//   - nothing else: a request that reached a server is answered 502 (504 on a timeout), and a POST
//     is never sent twice. Upgrades and tcp connections get a connection of their own, never a
//     reused one: only their connect is ever tried again.
// Once every eligible server failed to connect: 504 when the last one timed out, else 502 (tcp:
// closed, the same words in its access line).
//
// Limits (docs/proxying.md, "Limits and the queue"): a server with a maxconn takes at most that
// many exchanges at once; a pick passes over the servers at their limit, and an exchange that finds
// none with a free slot waits in its backend's queue (runtime/queue.ts) until one frees — any
// release() of the backend wakes the queue — or until timeouts.queue: 503 with Retry-After (tcp:
// closed), `queue timeout`. A bounded queue that is full refuses at once: `queue full`. The queue
// outlives the runtime: a waiter is served by the servers of its backend's name in the newest one.
//
// Hot path: an HTTP request's attempt is its upstream handler itself (a subclass), so trying a
// server allocates nothing of its own; the decisions are integer and identity comparisons, made
// only on failures. A backend without any maxconn (`limited`, decided per runtime) picks as if
// limits did not exist; what is left of them is one check at release, whether anything waits.
import type net from 'node:net';
import { isDescriptorShortage } from '../descriptors.js';
import { Wake, type QueueEntry, type Waiter } from '../runtime/queue.js';
import type { ProxyTarget, Target } from '../runtime/runtime.js';
import type { ObservedServer } from '../runtime/servers.js';
import { dial, type ConnectWaiter } from '../upstream/dial.js';
import type { UpstreamError, UpstreamErrorCode } from '../upstream/error.js';
import type { Candidate, Skip } from '../runtime/balance/balancer.js';
import { clientEndpointsOf } from './client-ip.js';
import { buildProxyHeader } from './proxy-header.js';
import { cutReason, failureReason, REASONS } from './reasons.js';

/**
 * The PROXY header that tells a server (`sendProxy`) about the client of `socket`: the client
 * behind the balancer when the frontend took a header itself (client-ip.ts).
 */
export function proxyHeaderOf(version: 1 | 2, socket: net.Socket): Buffer {
  const { source, destination } = clientEndpointsOf(socket);
  return buildProxyHeader(version, source, destination);
}

/** How far a try got when it failed. */
export const Stage = {
  /** The connection is being made (or a pooled one was not written on yet): nothing left flagman. */
  CONNECTING: 0,
  /** The request went out and nothing came back. */
  SENT: 1,
  /** The server's response head came, and nothing of it reached the client. */
  ANSWERED: 2,
  /** The response head reached the client: only a cut is left. */
  RELAYED: 3,
} as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

/** What a failed try leads to. */
export const Verdict = {
  /** Another server (the failed one is skipped). */
  NEXT: 0,
  /** The same request again, on any server, the server unblamed: the keep-alive race. */
  REPLAY: 1,
  /** An answer of flagman's own: 502, or 504 for a timeout. */
  ANSWER: 2,
  /** The client's response is cut short. */
  CUT: 3,
  /** flagman's own failure (out of descriptors, shutting down): 503, no server blamed, none other tried. */
  OWN: 4,
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/** What a failure costs its server. */
export const Blame = {
  NONE: 0,
  /** Counted in the server's `failures`, no failed check: a slow answer. */
  FAILURE: 1,
  /** Counted, and one failed passive check: the connection itself failed (refused, reset, cut, not made in time). */
  FAILED_CHECK: 2,
} as const;
export type Blame = (typeof Blame)[keyof typeof Blame];

/**
 * The retry policy. `replayable`: the request went out on a reused pooled connection, is idempotent,
 * has no body, and this is its first try.
 */
export function verdictFor(code: UpstreamErrorCode, stage: Stage, replayable: boolean): Verdict {
  if (stage === Stage.RELAYED) return Verdict.CUT;
  // No other server would take a request flagman is closing, or could not open a socket for.
  if (code === 'SHUTDOWN' || (stage === Stage.CONNECTING && isDescriptorShortage(code))) return Verdict.OWN;
  if (stage === Stage.CONNECTING) return Verdict.NEXT;
  // A timeout or a garbled answer is the server's doing, not the race: it would happen again.
  if (stage === Stage.SENT && replayable && code !== 'SERVER_TIMEOUT' && code !== 'BAD_RESPONSE') return Verdict.REPLAY;
  return Verdict.ANSWER;
}

/** What a failure with `code` that led to `verdict` costs its server. */
export function blameFor(code: UpstreamErrorCode, verdict: Verdict): Blame {
  if (verdict === Verdict.OWN || verdict === Verdict.REPLAY || code === 'SHUTDOWN') return Blame.NONE;
  return code === 'SERVER_TIMEOUT' ? Blame.FAILURE : Blame.FAILED_CHECK;
}

/** The status of flagman's own answer to a failure (Verdict.ANSWER and OWN). */
export function statusFor(code: UpstreamErrorCode, verdict: Verdict): number {
  if (verdict === Verdict.OWN) return 503;
  return code === 'SERVER_TIMEOUT' || code === 'CONNECT_TIMEOUT' ? 504 : 502;
}

/**
 * The backend that takes an exchange routed to `target`: a proxy backend without an eligible server
 * hands it to its fallback (docs/proxying.md: "No eligible server → the fallback backend, or 503"), as far
 * as the chain goes (config/refs.ts refuses cycles). A proxy backend returned without an eligible
 * server has no fallback: Attempt.start() answers REASONS.noServer.
 */
export function takerOf(target: Target): Target {
  let t = target;
  while (t.kind === 'proxy' && t.eligible.length === 0 && t.fallback !== null) t = t.fallback;
  return t;
}

/**
 * `Retry-After` on a refusal by the queue of `target`: its timeouts.queue in whole seconds, rounded
 * up. A client that comes back sooner would most likely find the servers as busy as they were.
 */
export function retryAfter(target: ProxyTarget): string {
  return String(Math.max(1, Math.ceil(target.timeouts.queue / 1000)));
}

/**
 * One exchange's tries at the servers of one backend. A subclass says how a try reaches its server
 * (connect), how flagman answers the client itself (answer), and how a response already under way
 * is cut (cut); it reports a failed try with failed() and the end of a try with release().
 */
export abstract class Attempt implements Skip, Waiter {
  /** The backend being tried (set by start(); a waiter follows its backend's name into newer runtimes). */
  protected target!: ProxyTarget;
  /** The server of the current (or last) try; null before the first. */
  protected server: Candidate | null = null;
  /**
   * The servers that failed to connect, skipped by the next pick; null until one did. By observed
   * state, which stays the same object when a waiter moves to a newer runtime's servers.
   */
  #tried: Set<ObservedServer> | null = null;
  /** Tries begun. */
  #tries = 0;
  /** The last failed connect was a timeout: what the answer says once no server is left. */
  #timedOut = false;
  /** The current try holds its share of `active`. */
  #counted = false;
  /** The current try's failure was counted against its server (once per try). */
  #blamed = false;
  /** Its place in its backend's queue while it waits for a free slot; null otherwise. */
  #waiting: QueueEntry<ProxyTarget> | null = null;
  /**
   * The access line's timers of the current (or last) try, ms: how long its connection took to
   * connect (0: a pooled connection reused; -1: none made), and from the request (or handshake)
   * written to the server's response head (-1: none came). Set by the kind as it learns them.
   */
  connectMs = -1;
  ttfbMs = -1;

  /** Servers tried so far (the access line's `tries`): 1 when the first one answered. */
  get tries(): number {
    return this.#tries;
  }

  /** Starts on `target` (see takerOf): its first try, or flagman's answer when it has no eligible server. */
  protected start(target: ProxyTarget): void {
    this.target = target;
    this.#try();
  }

  #try(): void {
    const target = this.target;
    // Without limits, and before any failure, nothing is skipped: the pick runs as it always did.
    const server = target.balancer.pick(target.eligible, target.limited || this.#tried !== null ? this : undefined);
    if (server === null) {
      // Every server with a free slot is taken, and some it has not tried yet are full: wait.
      if (target.limited && this.#untried(target)) return this.#wait(target);
      if (this.#tries === 0) return this.answer(503, REASONS.noServer);
      return this.#exhausted();
    }
    this.#begin(server);
  }

  #begin(server: Candidate): void {
    const target = this.target;
    this.#tries++;
    this.connectMs = -1;
    this.ttfbMs = -1;
    this.server = server;
    this.#counted = true;
    this.#blamed = false;
    const state = server.state;
    state.active++;
    state.requests++;
    target.counters.requests++;
    target.counters.active++;
    this.connect(server);
  }

  // Every eligible server was tried: an upstream failure, not an absence of servers.
  #exhausted(): void {
    return this.#timedOut ? this.answer(504, REASONS.connectTimeout) : this.answer(502, REASONS.unreachable);
  }

  /**
   * The pick's skip (Skip): a server already tried, or one at its maxconn. The attempt is its own
   * skip, so a pick allocates nothing.
   */
  has(server: Candidate): boolean {
    const limit = server.maxconn;
    return (limit !== 0 && server.state.active >= limit) || this.#tried?.has(server.state) === true;
  }

  /** Some eligible server of `target` has not been tried. */
  #untried(target: ProxyTarget): boolean {
    const tried = this.#tried;
    if (tried === null) return target.eligible.length > 0;
    for (const s of target.eligible) if (!tried.has(s.state)) return true;
    return false;
  }

  // Into the queue, or refused when it is full. A refusal names the backend, not a server.
  #wait(target: ProxyTarget): void {
    const entry = target.queue.push(this, target.timeouts.queue, target.queueBound);
    if (entry === null) return this.answer(503, REASONS.queueFull, retryAfter(target));
    this.#waiting = entry;
    this.waiting();
  }

  /** Leaves the queue (`served`: to take a slot; else gone, or answered); the kind hears how long it waited. */
  #leave(served = false): void {
    const entry = this.#waiting!;
    this.#waiting = null;
    this.waited(entry.queue!.remove(entry), served);
  }

  /**
   * Woken in the queue (runtime/queue.ts): a slot may be free on a server of `queue.target`, the
   * backend of this name in the current runtime. Takes it, or stays.
   */
  wake(): Wake {
    const target = this.#waiting!.queue!.target;
    if (this.abandoned()) {
      this.#leave();
      return Wake.LEFT;
    }
    // The backend is gone, carries the other mode, or has no eligible server left: nothing will free
    // a slot for this one. (A fallback takes new exchanges; this one already belongs here.)
    if (target === null || target.mode !== this.target.mode || target.eligible.length === 0) {
      this.#leave();
      this.answer(503, REASONS.noServer);
      return Wake.LEFT;
    }
    const server = target.balancer.pick(target.eligible, this);
    if (server === null) {
      if (this.#tried === null) return Wake.NO_SLOT;
      if (this.#untried(target)) return Wake.PASS;
      this.#leave();
      this.#exhausted();
      return Wake.LEFT;
    }
    this.#leave(true);
    this.target = target;
    this.#begin(server);
    return Wake.LEFT;
  }

  /** Waited timeouts.queue (the queue has taken it out): 503 with Retry-After (tcp: closed). */
  expired(ms: number): void {
    this.#waiting = null;
    this.waited(ms, false);
    if (this.abandoned()) return;
    this.answer(503, REASONS.queueTimeout, retryAfter(this.target));
  }

  /** The client is gone while the exchange waits in the queue: it leaves it. Nothing otherwise. */
  protected withdraw(): void {
    if (this.#waiting !== null) this.#leave();
  }

  /**
   * Entered its backend's queue: a kind whose client needs other care while nothing is sent to a
   * server starts it here (a tcp client is read; an HTTP body's stall timer pauses).
   */
  protected waiting(): void {}

  /** Left the queue after `ms`: `served`, to take a slot; else timed out, or gone. For the access line, and to end what waiting() began. */
  protected waited(_ms: number, _served: boolean): void {}

  /**
   * Starts the current try on `server`: an HTTP request goes to its pool (a reused connection or a
   * new one); an upgrade or a tcp connection dials one of its own (dialFor()).
   */
  protected abstract connect(server: Candidate): void;

  /**
   * The client got no answer from a server and none is coming: `status` (tcp: closed), `reason` in
   * the access log; `retryAfter` (seconds), a Retry-After header when the queue refused it.
   */
  protected abstract answer(status: number, reason: string, retryAfter?: string): void;

  /** The client's response is under way and cannot be finished: cut it, `reason` in the access log. */
  protected abstract cut(reason: string): void;

  /** The client is gone (or being closed): a failure now is nobody's to answer, and no server's fault. */
  protected abstract abandoned(): boolean;

  /**
   * The current try's new connection to its server is up, `ms` after its connect began: the access
   * line's connectMs, and the server's connect histogram.
   */
  protected connected(ms: number): void {
    this.connectMs = ms;
    this.server!.state.connect.observe(ms);
  }

  /**
   * The current try's server answered (its response head came) `ms` after the request went out:
   * the access line's ttfbMs, and the server's time-to-first-byte histogram.
   */
  protected responded(ms: number): void {
    this.ttfbMs = ms;
    this.server!.state.ttfb.observe(ms);
  }

  /**
   * An upgrade's or a tcp connection's own connection to `server`, timed by the backend's
   * timeouts.connect; `waiter` (the attempt itself) hears when it is up, or the UpstreamError that
   * ended it, for failed(). A server with sendProxy is first sent the PROXY header of `client`.
   * `onread`: the socket reads into the caller's buffer (dial()).
   */
  protected dialFor(
    server: Candidate,
    allowHalfOpen: boolean,
    waiter: ConnectWaiter,
    client: net.Socket,
    onread: net.OnReadOpts | null = null,
  ): net.Socket {
    const preface = server.sendProxy === null ? null : proxyHeaderOf(server.sendProxy, client);
    return dial(server.host, server.port, this.target.timeouts.connect, allowHalfOpen, waiter, preface, onread);
  }

  /**
   * The current try is over (its exchange ended, or failed): its share of `active` goes, once per
   * try, and the queue of its backend is woken if anything waits there: the one place a slot frees.
   * An exchange still waiting in the queue (its client left) leaves it instead.
   */
  protected release(): void {
    if (!this.#counted) {
      if (this.#waiting !== null) this.#leave();
      return;
    }
    this.#counted = false;
    this.server!.state.active--;
    const target = this.target;
    target.counters.active--;
    // Checked whatever `limited` says: this request may have started before a maxconn was set.
    if (target.queue.length !== 0) target.queue.wake();
  }

  /**
   * Counts a failure of the current try against its server: `failures`, and a failed passive
   * check unless `blame` says it was only slow.
   */
  protected blame(err: UpstreamError, blame: Blame = blameFor(err.code, Verdict.ANSWER)): void {
    if (blame === Blame.NONE || this.#blamed) return;
    this.#blamed = true;
    const state = this.server!.state;
    state.failures++;
    const health = this.target.health;
    if (blame === Blame.FAILED_CHECK && health !== null) state.check(false, health, 'passive', failureReason(err));
  }

  /**
   * The current try failed with `err`, having got as far as `stage`; `replayable`: the request went
   * out on a reused pooled connection, is idempotent and has no body. Applies the policy: another
   * try, or flagman's answer, or a cut.
   */
  protected failed(err: UpstreamError, stage: Stage, replayable = false): void {
    this.release();
    if (this.abandoned()) return;
    const code = err.code;
    const verdict = verdictFor(code, stage, replayable && this.#tries === 1);
    this.blame(err, blameFor(code, verdict));
    switch (verdict) {
      case Verdict.NEXT:
        this.#tried ??= new Set();
        this.#tried.add(this.server!.state);
        this.#timedOut = code === 'CONNECT_TIMEOUT';
        return this.#try();
      case Verdict.REPLAY:
        return this.#try();
      case Verdict.CUT:
        return this.cut(cutReason(err));
      default:
        return this.answer(statusFor(code, verdict), failureReason(err));
    }
  }
}
