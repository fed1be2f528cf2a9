// The server → client bytes of a tcp connection, read into one buffer of the connection's own and
// written on from it.
//
// Node's default read path gives every read a fresh 64 KiB allocation (trimmed to what was read),
// garbage for V8 to collect and memory for malloc to return: on a bulk transfer that is most of
// what a chunk costs besides the two syscalls. A socket made with `onread` reads into the buffer it
// is given instead, and calls back with the byte count, no allocation at all.
//
// Reuse is safe only if the buffer is never read into while a write still holds it. A write that
// the kernel takes whole at once (the common case: the client keeps up) is done when write()
// returns, and `writableLength` is 0 again: the next read may reuse the buffer at once. When the
// kernel takes only part (the client is slow: back-pressure), Node keeps the rest queued *by
// reference* to this buffer: reading stops there (onread's `false`), and starts again in the
// write's callback, once nothing is queued. So at most one chunk is ever in flight, and it is never
// overwritten; the client socket's own buffering (highWaterMark) plays no part.
//
// The price: the buffer lives as long as the connection, idle or not (RELAY_BUFFER bytes each).
// Only the server side can have it: Node offers `onread` to sockets it connects, not to the ones
// a server accepts, so client → server bytes keep the default path (pipe()).
import type net from 'node:net';

/** Bytes read from a server at once: what Node's default read path asks the kernel for. */
export const RELAY_BUFFER = 64 * 1024;

export class Relay {
  /** The server socket's `onread` option (net.connect): it must be given when the socket is made. */
  readonly onread: net.OnReadOpts;
  #count: (n: number) => void = () => {};
  #from: net.Socket | null = null;
  #to: net.Socket | null = null;
  /** A write still holds the buffer: reading is stopped until it is done. */
  #held = false;
  readonly #written = (err?: Error | null): void => {
    if (!this.#held || err || this.#to!.writableLength !== 0) return;
    this.#held = false;
    this.#from!.resume();
  };

  constructor() {
    this.onread = { buffer: Buffer.allocUnsafeSlow(RELAY_BUFFER), callback: (n, buf) => this.#read(n, buf as Buffer) };
  }

  /**
   * Starts forwarding what `from` (made with this.onread) reads to `to`; its FIN is passed on as a
   * FIN. `count(n)` is called with every chunk's size.
   */
  join(from: net.Socket, to: net.Socket, count: (n: number) => void): void {
    this.#from = from;
    this.#to = to;
    this.#count = count;
    from.once('end', () => to.end());
  }

  #read(n: number, buf: Buffer): boolean {
    const to = this.#to;
    // Not joined (never read before: reading starts after the connect), or the client is gone and
    // the connection is closing: nothing to write to, stop reading.
    if (to === null || to.destroyed) return false;
    this.#count(n);
    to.write(buf.subarray(0, n), this.#written);
    if (to.writableLength === 0) return true;
    this.#held = true;
    return false;
  }
}
