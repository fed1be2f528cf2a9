// Where one log's lines go (stdout, stderr, or the access log's own file), written so that the log
// never stops flagman from serving: what cannot be written is dropped and counted, and flagman goes on.
//
// Where the descriptor leads decides how:
// - A file, a terminal, /dev/null (anything but a pipe or a socket): a write never waits for a
//   reader, so it is made at once. One that fails (ENOSPC: a full disk) drops its lines; the next is
//   tried as usual, so lines flow again as soon as one succeeds.
// - A pipe or a socket (journald, docker, `| logger`): written through a non-blocking stream, one
//   write at a time, in order, so a slow reader never blocks the event loop. At most LIMIT
//   characters wait for the reader; past that, new lines are dropped until half of it has been
//   written (so a reader that barely keeps up does not flip the log between dropping and writing at
//   every batch). The reader gone (EPIPE, or any other error of the stream): the log is off for
//   good, its lines counted.
// - At exit, waiting for a slow reader is bounded (settle()).
//
// What to say about it (events, metrics) is the caller's (log.ts): a sink keeps counters and tells a
// watcher when its state changes.
import fs from 'node:fs';
import net from 'node:net';

/** Characters a log keeps in memory for a slow reader (1 MiB of ASCII lines). */
export const LIMIT = 1024 * 1024;
/** What `problem` says while lines are dropped because LIMIT characters already wait. */
export const BUFFER_FULL = 'buffer full';

/** Told by a sink when its state changes (never per line). */
export interface SinkWatcher {
  /** Lines start being dropped (`sink.problem` says why; `sink.dropped` does not count them yet). */
  dropping(sink: LogSink): void;
  /** A write succeeded again after lines were dropped. */
  recovered(sink: LogSink): void;
  /** The reader is gone (`sink.problem` says how): the log is off for good. */
  off(sink: LogSink): void;
}

/** The number of lines `text` ends (its newlines). Only on the paths that drop lines. */
function linesIn(text: string | Buffer): number {
  let n = 0;
  if (typeof text === 'string') for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  else for (let i = text.indexOf(10); i !== -1; i = text.indexOf(10, i + 1)) n++;
  return n;
}

/**
 * A non-blocking stream on `fd` when it is a pipe or a socket, whose writes can wait for a reader;
 * null for anything else (also a descriptor that is closed: its writes fail, and are counted).
 * libuv makes the descriptor non-blocking, as Node's own process.stdout does on a pipe.
 */
function streamOn(fd: number): net.Socket | null {
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFIFO() && !st.isSocket()) return null;
    const stream = new net.Socket({ fd, readable: false, writable: true });
    // Every error also reaches the write's callback, which handles it; unheard, it would throw.
    stream.on('error', () => undefined);
    return stream;
  } catch {
    return null;
  }
}

export class LogSink {
  /** Lines dropped since start. */
  dropped = 0;
  /** Why lines are being dropped now (an errno code such as ENOSPC, or BUFFER_FULL); null: they are not. */
  problem: string | null = null;
  /** The reader is gone: every line is dropped. */
  off = false;

  readonly #fd: number;
  // Decided at the first write: a process that never logs (a `flagman status`) opens no stream.
  #stream: net.Socket | null | undefined = undefined;
  readonly #maxWrite: number;
  readonly #watcher: SinkWatcher;
  // Through a stream: the chunks waiting (each at most maxWrite characters, unless one line is
  // longer), the one being written, and the characters of both.
  #chunks: string[] = [];
  #inFlight: string | null = null;
  #queued = 0;
  #idle: (() => void) | null = null;
  // At once: a write that went out in part and whose rest failed (a disk just full) left a line
  // unfinished; the next write starts with a newline, so what follows is whole lines again.
  #torn = false;

  /** `maxWrite`: chunks waiting for a slow reader are joined up to this many characters. */
  constructor(fd: number, maxWrite: number, watcher: SinkWatcher) {
    this.#fd = fd;
    this.#maxWrite = maxWrite;
    this.#watcher = watcher;
  }

  /** Writes whole lines (pino calls this with one line). */
  write(data: string): void {
    if (this.#stream === undefined) this.#stream = streamOn(this.#fd);
    if (this.off) {
      this.dropped += linesIn(data);
    } else if (this.#stream === null) {
      this.#writeNow(data);
    } else if (this.problem === BUFFER_FULL || this.#queued + data.length > LIMIT) {
      this.#drop(linesIn(data), BUFFER_FULL);
    } else {
      this.#queued += data.length;
      const last = this.#chunks.length - 1;
      if (last >= 0 && this.#chunks[last]!.length + data.length <= this.#maxWrite) this.#chunks[last] += data;
      else this.#chunks.push(data);
      if (this.#inFlight === null) this.#next();
    }
  }

  /**
   * Resolves once every line is written, or after `ms`: then what still waits is dropped (counted)
   * and the stream closed, so that a reader that stopped cannot keep the process alive.
   */
  settle(ms: number): Promise<void> {
    if (this.#inFlight === null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#idle = null;
        this.off = true; // quietly: the process is on its way out
        this.dropped += this.#discard() + linesIn(this.#inFlight ?? '');
        this.#inFlight = null;
        this.#stream?.destroy();
        resolve();
      }, ms);
      this.#idle = () => {
        clearTimeout(timer);
        this.#idle = null;
        resolve();
      };
    });
  }

  /**
   * Writes what waits (for at most `ms`, as settle()), then closes the descriptor: the access log
   * has moved to another file. Nothing is written to the sink after it.
   */
  async close(ms: number): Promise<void> {
    await this.settle(ms);
    this.off = true; // quietly: its lines went out, and the log goes on elsewhere
    if (this.#stream) {
      this.#stream.destroy(); // the stream's handle owns the descriptor
      return;
    }
    try {
      // A line the disk cut short is ended, so the file ends with whole lines.
      if (this.#torn) fs.writeSync(this.#fd, '\n');
    } catch {
      // The disk is still full: the cut line stays cut.
    }
    try {
      fs.closeSync(this.#fd);
    } catch {
      // Nothing to do about it: the descriptor is gone either way.
    }
  }

  #writeNow(data: string): void {
    let text: string | Buffer = this.#torn ? `\n${data}` : data;
    for (;;) {
      let n: number;
      try {
        n = typeof text === 'string' ? fs.writeSync(this.#fd, text) : fs.writeSync(this.#fd, text);
        if (n === 0) throw Object.assign(new Error('no byte written'), { code: 'EIO' }); // never loop on it
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
        // A newline this call added is no line of its own.
        const lines = linesIn(text) - (text === data || typeof text !== 'string' ? 0 : 1);
        if (code === 'EPIPE') this.#stop(code, lines);
        else this.#drop(lines, code);
        return;
      }
      // Characters are at most bytes: fewer bytes than characters is a partial write, found
      // without counting bytes.
      if (n >= text.length && (typeof text !== 'string' || n >= Buffer.byteLength(text))) {
        this.#torn = false;
        this.#wrote();
        return;
      }
      // In part: the rest at once (on a disk now full it fails, and is dropped).
      const bytes: Buffer = typeof text === 'string' ? Buffer.from(text) : text;
      if (n > 0) this.#torn = bytes[n - 1] !== 10;
      text = bytes.subarray(n);
    }
  }

  #next(): void {
    const chunk = this.#chunks.shift();
    if (chunk === undefined) {
      this.#idle?.();
      return;
    }
    this.#inFlight = chunk;
    this.#stream!.write(chunk, this.#done);
  }

  // One function for every write through the stream: no closure per write.
  readonly #done = (err?: Error | null): void => {
    const chunk = this.#inFlight;
    if (chunk === null) return; // settle() gave up on it
    this.#inFlight = null;
    this.#queued -= chunk.length;
    if (err) {
      // The stream is destroyed by its error: nothing more can go through it.
      this.#stop((err as NodeJS.ErrnoException).code ?? 'EIO', linesIn(chunk));
      return;
    }
    // A reader that stopped has to catch up to half the buffer before lines are taken again.
    if (this.problem !== BUFFER_FULL || this.#queued <= LIMIT / 2) this.#wrote();
    this.#next();
  };

  #wrote(): void {
    if (this.problem === null) return;
    this.problem = null;
    this.#watcher.recovered(this);
  }

  #drop(lines: number, reason: string): void {
    if (this.problem === null) {
      this.problem = reason;
      this.#watcher.dropping(this);
    }
    this.dropped += lines;
  }

  // The reader is gone: `lines` and all that waits are dropped, and every line after them.
  #stop(reason: string, lines: number): void {
    this.off = true;
    this.problem = reason;
    this.dropped += lines + this.#discard();
    this.#watcher.off(this);
    this.#idle?.();
  }

  // Forgets every chunk waiting; returns their lines.
  #discard(): number {
    let lines = 0;
    for (const c of this.#chunks) lines += linesIn(c);
    this.#chunks = [];
    this.#queued = 0;
    return lines;
  }
}
