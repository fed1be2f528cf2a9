// The read buffers of upstream connections (connection.ts). Each connection reads into one buffer,
// reused read after read; a body chunk is a view of it. A chunk that a client connection still holds
// after onData returned (queued behind a slow client, or sent later by an HTTP/2 session) must not
// be overwritten, so the next read goes into another buffer. Two ways to hold one:
//
// - retained: held for as long as the holder likes, with no word when it lets go. The buffer is
//   left to the garbage collector.
// - lent: the holder gives it back (an HTTP/2 stream's write callback). Once every chunk lent from
//   a buffer is back, the buffer goes to a list of spares, which the next connection that needs a
//   buffer takes from before it allocates one.
//
// Why: a 64 KiB response relayed to an HTTP/2 client is queued in its session, and its buffer is
// still lent when the server's next answer on that connection arrives. A fresh 128 KiB buffer per
// response, 320 MB a second at 2,500 responses, had V8 run a full collection for every 64 MB of it:
// ten a second (bench/RESULTS.md, "HTTP/2 streams without Node's compatibility layer").

// One read's room, per connection: 128 KiB, so a 64 KiB body and its head, which arrive as two
// segments, are usually read at once and go to the client in one write instead of two: 13% less
// CPU per 64 KiB response than with Node's 64 KiB reads (bench/RESULTS.md). Pages are touched only
// as far as reads fill them.
const READ_BUFFER_BYTES = 131072;

// At most this many spare buffers wait for a connection (8 MiB); past it a given-back one is left
// to the collector. Under load the spares are taken as fast as they come back.
const MAX_SPARES = 64;
const spares: ReadBuffer[] = [];

/** A read buffer and what holds it. */
export class ReadBuffer {
  readonly bytes = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  /** Chunks of it lent and not given back. */
  #lent = 0;
  /** Held by something that never says when it lets go: never a spare again. */
  #retained = false;
  /** Its connection reads into another buffer now: it becomes a spare once nothing holds it. */
  #left = false;

  /** A buffer for a connection's reads: a spare if there is one, else a new one. */
  static take(): ReadBuffer {
    const b = spares.pop();
    if (b === undefined) return new ReadBuffer();
    b.#left = false;
    return b;
  }

  /** The next read may not overwrite it. */
  get held(): boolean {
    return this.#retained || this.#lent > 0;
  }

  retain(): void {
    this.#retained = true;
  }

  /** Lends the chunk just read; the function returned gives it back (call it once). */
  lend(): () => void {
    this.#lent++;
    return () => {
      if (--this.#lent === 0 && this.#left) this.#spare();
    };
  }

  /**
   * Its connection reads into another buffer now. (A connection that closes does not call this:
   * its buffer is left to the collector, as a read may still be handing its chunks on.)
   */
  leave(): void {
    this.#left = true;
    if (!this.held) this.#spare();
  }

  #spare(): void {
    if (this.#retained || spares.length >= MAX_SPARES) return;
    spares.push(this);
  }
}

/** Spare buffers waiting (for tests). */
export function sparesWaiting(): number {
  return spares.length;
}
