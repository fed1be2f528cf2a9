// The slow-reader cut: a client that takes no byte of its response for the backend's
// timeouts.server is cut off, reason `client timeout` (docs/proxying.md).
//
// Node's own timeouts cannot time this. A socket's (res.setTimeout on HTTP/1.1) is an idle timer
// that a write in progress holds off: when it fires, it compares the socket's pending bytes with
// the size of the write as dispatched, and the part the kernel took at once makes them differ, so
// a client that reads nothing from the start is still taken for one that progresses and gets a
// second full period — cut at 2× the timeout. An HTTP/2 stream's timer does the same with the
// session's count of frames sent, which any stream of the session moves. Here the client is timed
// from the moment its response is held back, and sampled: any change in what the response still has
// queued is progress.
import type { Exchange } from './exchange.js';
import { REASONS } from './reasons.js';

/**
 * How often a timeout of `ms` is checked: a quarter of it, at most every second, at least every
 * 50 ms. The same for Node's check of the request-head timeout (applyTimeouts in frontend.ts, for
 * plain and TLS listeners).
 */
export function checkInterval(ms: number): number {
  return Math.max(50, Math.min(1000, Math.floor(ms / 4)));
}

/** What Node's stream handles report of the bytes a write dispatched to them still has to send. */
interface WriteQueue {
  readonly writeQueueSize?: number;
}

/**
 * Times one response whose writes the client stopped taking. Made at the first hold of a response
 * (most responses never have one); then `held()` at each later hold, `drained()` when the client
 * took everything queued. One timer, re-armed with refresh() rather than made again.
 */
export class SlowReaderWatch {
  readonly #ex: Exchange;
  readonly #ticks: number;
  readonly #timer: NodeJS.Timeout;
  /** Checks in a row that saw no progress. */
  #idle = 0;
  #last = 0;
  #held = false;

  constructor(ex: Exchange, ms: number) {
    this.#ex = ex;
    const every = checkInterval(ms);
    // The cut comes at the first check at least `ms` after the last progress seen: between ms and
    // ms plus one interval after the client took its last byte.
    this.#ticks = Math.ceil(ms / every);
    this.#timer = setTimeout(this.#tick, every);
    // The exchange keeps the process alive, not its watch.
    this.#timer.unref();
    this.held();
  }

  /** The response's writes are refused again: the client is timed from now. */
  held(): void {
    this.#held = true;
    this.#idle = 0;
    this.#last = this.#queued();
    // From now, whether or not a check was pending: the checks count whole intervals from the hold.
    this.#timer.refresh();
  }

  /** The client took everything queued. */
  drained(): void {
    this.#held = false;
  }

  // An arrow function field: the timer calls it with the watch bound.
  readonly #tick = (): void => {
    const ex = this.#ex;
    // Drained, finished, or closed (the client left, or another cut): nothing to time until the
    // next hold. A response ended while held (its server's body all in) is still timed until it
    // flushes: the client still has to read it.
    if (!this.#held || ex.res.writableFinished || ex.clientGone) return;
    const queued = this.#queued();
    if (queued !== this.#last) {
      this.#last = queued;
      this.#idle = 0;
    } else if (++this.#idle >= this.#ticks) {
      // Timers run before the event loop polls for I/O: after a stall of flagman's own (a loaded
      // machine) the client's reads may be done but not yet seen. The verdict waits for that poll.
      setImmediate(this.#verdict);
      return;
    }
    this.#timer.refresh();
  };

  readonly #verdict = (): void => {
    const ex = this.#ex;
    if (!this.#held || ex.res.writableFinished || ex.clientGone) return;
    const queued = this.#queued();
    if (queued === this.#last) return ex.cut(REASONS.clientTimeout);
    this.#last = queued;
    this.#idle = 0;
    this.#timer.refresh();
  };

  // What the response still has queued on its way to the client; it changes only when the client
  // takes bytes, since the server's side is paused while the response is held. HTTP/1.1: the
  // socket's queue and the part of its write in progress the kernel has not taken (the handle's
  // count, which moves byte by byte where the queue moves a whole write at a time). HTTP/2: the
  // stream's queue, which moves as the client's flow-control window lets frames go.
  #queued(): number {
    const res = this.#ex.res;
    if (!this.#ex.http1) return (res as unknown as { stream: { bufferSize: number } }).stream.bufferSize;
    const socket = res.socket;
    if (socket === null) return 0;
    return socket.writableLength + ((socket as unknown as { _handle: WriteQueue | null })._handle?.writeQueueSize ?? 0);
  }
}
