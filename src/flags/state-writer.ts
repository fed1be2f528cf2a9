// Writes the state file (src/flags/state.ts has its format and its reading), coalesced and off
// the event loop. Apart from the reading so that the commands that only read the flags (`flagman
// get`, `list`) load neither the logger nor this.
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { events as log } from '../log.js';
import type { FlagState } from './snapshot.js';
import { renderState, STATE_MODE, STATE_WRITE_INTERVAL_MS } from './state.js';
import { tempSuffix } from './write.js';

/**
 * Writes a flags directory's state file, coalesced: `save()` hands over the latest flags, and at
 * most one write per STATE_WRITE_INTERVAL_MS follows (the last flags handed over win). `flush()`
 * writes what is pending at once (at shutdown).
 */
export class StateWriter {
  readonly file: string;
  readonly #dir: string;
  #pending: ReadonlyMap<string, FlagState> | null = null;
  #writing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastAt = -Infinity;
  #problem: string | null = null;
  #writes = 0;

  constructor(file: string, dir: string) {
    this.file = file;
    this.#dir = dir;
  }

  /** Why the last write failed; null once one succeeded. */
  get problem(): string | null {
    return this.#problem;
  }

  /** Completed writes, for tests and benchmarks. */
  get writes(): number {
    return this.#writes;
  }

  /** Schedules a write of `flags`. */
  save(flags: ReadonlyMap<string, FlagState>): void {
    this.#pending = flags;
    this.#kick();
  }

  /** Writes what is pending now, and resolves once nothing is pending or being written. */
  async flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    while (this.#writing || this.#pending) {
      if (this.#writing) await this.#writing;
      else this.#writeNow();
    }
  }

  #kick(): void {
    if (this.#timer || this.#writing || !this.#pending) return;
    const wait = Math.max(0, this.#lastAt + STATE_WRITE_INTERVAL_MS - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#writeNow();
    }, wait);
    // A pending write never keeps the process alive: shutdown flushes it.
    this.#timer.unref();
  }

  #writeNow(): void {
    const flags = this.#pending;
    if (!flags) return;
    this.#pending = null;
    this.#lastAt = performance.now();
    this.#writing = this.#write(renderState(this.#dir, flags)).finally(() => {
      this.#writing = null;
      this.#kick();
    });
  }

  async #write(text: string): Promise<void> {
    const folder = path.dirname(this.file);
    const tmp = path.join(folder, `.${path.basename(this.file)}.${tempSuffix()}.tmp`);
    try {
      const fh = await open(tmp, 'wx', STATE_MODE);
      try {
        await fh.chmod(STATE_MODE); // the umask (0077 under the systemd unit) would leave it 0600
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
      await syncFolder(folder);
      this.#writes++;
      this.#report(null);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      this.#report(`state file ${this.file} cannot be written (${code}): a restart may read emptied or invalid flag files differently`);
    }
  }

  // Each problem is logged once, when it appears and when it goes.
  #report(problem: string | null): void {
    if (problem === this.#problem) return;
    if (problem !== null) log.warn({ event: 'flags.state', file: this.file, problem }, problem);
    else log.info({ event: 'flags.state', file: this.file, problem: null }, `state file ${this.file} written again`);
    this.#problem = problem;
  }
}

// Makes the rename durable; some file systems cannot fsync a folder (EINVAL), and the rename stands.
async function syncFolder(folder: string): Promise<void> {
  try {
    const fh = await open(folder, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Best effort, see above.
  }
}
