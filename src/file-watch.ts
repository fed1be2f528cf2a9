// Watches a few files (the config file, a TLS frontend's certificates and keys, a respond page) and
// says when what they hold has changed. Editors and deploy tools write a file in place (truncate,
// write) or replace it (a temp file renamed over it, `mv`, vim's rename-and-write, a re-pointed
// symlink, a Kubernetes ConfigMap's or Secret's `..data` swap); either way events are only hints:
// after they go quiet for the debounce time the files are read, and the owner hears of a change only
// when what was read differs from what it holds — a `touch`, a chmod or a write of the same bytes
// changes nothing, and a half-written file that failed is retried as soon as it changes again. A
// read that fails is a problem, a FlagmanError naming the file, and the last good content stays.
//
// Only the files are watched, never their folder: a folder watch hands the process every event of
// every file in it, and a config folder often holds a busy file (`flagman run >> access.log` in
// /etc/flagman: an event per request, which would also keep postponing the read). A watch on a file
// follows its inode (through any symlinks), so it has to be re-armed when the path comes to name
// another inode: after a `rename` event (the file renamed or deleted, which is also what a
// replacement does to the old one), or when the path no longer resolves to the file watched. What no
// event on the old inode tells — a symlink re-pointed while its old target stays, a missed event, a
// file system without inotify — a stat of the path every POLL_MS finds: a few system calls a second
// a file, whatever happens in the folder.
//
// The flags directory is another matter (a directory of many files, read with its own checks):
// flags/watcher.ts.
import fs from 'node:fs';
import path from 'node:path';
import { FlagmanError } from './errors.js';

// The backstop for a replacement no event announced.
const POLL_MS = 1000;

/** Where a path leads now: the file (through every symlink) and its inode, size and times. */
interface Found {
  /** The path with every symlink resolved: what the watch is opened on. */
  readonly real: string;
  /** realpath and dev:ino: another value means another file, whose watch must be re-armed. */
  readonly file: string;
  /** `file` plus size and times: another value means look again. */
  readonly all: string;
}

function find(file: string): Found | null {
  try {
    const real = fs.realpathSync.native(file);
    const st = fs.statSync(real);
    const at = `${real}\0${st.dev}:${st.ino}`;
    return { real, file: at, all: `${at}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}` };
  } catch {
    return null; // missing for a moment (a rename in progress), or for good: the poll looks again
  }
}

/** The watch on one path, following the file the path leads to. */
class PathWatch {
  readonly path: string;
  readonly #hint: () => void;
  readonly #onError: ((err: Error) => void) | undefined;
  #watch: fs.FSWatcher | null = null;
  /** The file the watch is on (Found.file); null: no watch. */
  #watched: string | null = null;
  /** The watch saw a rename or delete: it may be dead, re-arm it even if the path looks the same. */
  #stale = false;
  /** What the path led to when last looked at (Found.all), null: nothing. */
  #seen: string | null = null;

  constructor(file: string, hint: () => void, onError: ((err: Error) => void) | undefined) {
    this.path = file;
    this.#hint = hint;
    this.#onError = onError;
    this.#arm(find(file));
  }

  /** Whether the path leads elsewhere, or to a file changed, since it was last looked at. */
  moved(): boolean {
    return (find(this.path)?.all ?? null) !== this.#seen;
  }

  /** Looks at the path before a read; re-arms the watch when it leads to another file now. */
  look(): void {
    const found = find(this.path);
    if (this.#stale || (found?.file ?? null) !== this.#watched) this.#arm(found);
    else this.#seen = found?.all ?? null;
  }

  close(): void {
    this.#watch?.close();
    this.#watch = null;
    this.#watched = null;
  }

  // Watches the file `found` names (after closing the old watch). A watch that cannot be opened
  // (missing, no inotify, out of watches) leaves the poll, and SIGHUP, which always works.
  #arm(found: Found | null): void {
    this.close();
    this.#stale = false;
    this.#seen = found?.all ?? null;
    if (!found) return;
    try {
      const watch = fs.watch(found.real, { persistent: false });
      watch.on('change', (ev) => {
        if (ev === 'rename') this.#stale = true;
        this.#hint();
      });
      watch.on('error', (err) => {
        this.#stale = true;
        this.#onError?.(err);
        this.#hint();
      });
      this.#watch = watch;
      this.#watched = found.file;
    } catch (err) {
      // The poll finds what changes, within POLL_MS.
      this.#onError?.(err as Error);
    }
  }
}

export interface FileWatchOptions<T> {
  /** The paths to watch: what `read` reads. */
  readonly files: readonly string[];
  /** How long after a hint the files are read. */
  readonly debounceMs: number;
  /**
   * `quiet` (the default): each hint restarts the wait, so a burst is read once it is over.
   * `first`: the read comes debounceMs after the first hint of a burst, however long the burst goes on.
   */
  readonly wait?: 'quiet' | 'first';
  /** Reads the files. A FlagmanError it throws is the problem; any other error is made one (CONFIG_READ). */
  readonly read: () => T;
  /** Whether two reads hold the same thing (then no change is reported). */
  readonly same: (a: T, b: T) => boolean;
  /** What the files hold changed: `next` is current now. */
  readonly onChange: (next: T) => void;
  /** A read failed; `again`: with the same message as the problem before it. The current content stays. */
  readonly onProblem?: (err: FlagmanError, again: boolean) => void;
  /** A read succeeded after a problem, and holds what was current before it. */
  readonly onRecover?: () => void;
  /** A watch failed or could not be opened (the poll goes on looking). */
  readonly onWatchError?: (err: Error) => void;
  /** How often every path is stat'ed, for what no event tells (POLL_MS). */
  readonly pollMs?: number;
}

/** Watches some files; tells its owner when what they hold changes, or cannot be read. */
export class FileWatch<T> {
  readonly #options: FileWatchOptions<T>;
  readonly #paths: PathWatch[];
  readonly #poll: NodeJS.Timeout;
  #timer: NodeJS.Timeout | null = null;
  #lastGood: T | undefined;
  #problem: FlagmanError | null = null;
  #closed = false;

  /** Starts watching; `initial` is what the owner holds now (else the files are read now, quietly). */
  constructor(options: FileWatchOptions<T>, initial?: T) {
    this.#options = options;
    this.#lastGood = initial;
    if (initial === undefined) this.accept();
    this.#paths = options.files.map((f) => new PathWatch(path.resolve(f), () => this.poke(), options.onWatchError));
    this.#poll = setInterval(() => {
      if (this.#paths.some((p) => p.moved())) this.poke();
    }, options.pollMs ?? POLL_MS);
    this.#poll.unref();
  }

  /** What the files held at the last good read (or what the owner started with). */
  get lastGood(): T | undefined {
    return this.#lastGood;
  }

  /** Why the last read failed, or null once one succeeds again. */
  get problem(): FlagmanError | null {
    return this.#problem;
  }

  /** A hint: the files are read after the debounce time. */
  poke(): void {
    if (this.#closed) return;
    if (this.#timer) {
      if (this.#options.wait === 'first') return;
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#check();
    }, this.#options.debounceMs);
  }

  /** Takes what the files hold now as current, telling no one (the owner has just read them itself). */
  accept(): void {
    try {
      this.#lastGood = this.#options.read();
      this.#problem = null;
    } catch {
      // Unreadable now: what was current stays, and the next change is compared with it.
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    clearInterval(this.#poll);
    for (const p of this.#paths) p.close();
  }

  #check(): void {
    // Armed before the read: a write after it is another event, a write before it is read now.
    for (const p of this.#paths) p.look();
    const o = this.#options;
    let next: T;
    try {
      next = o.read();
    } catch (err) {
      const problem = err instanceof FlagmanError ? err : this.#wrap(err);
      const again = this.#problem?.message === problem.message;
      this.#problem = problem;
      o.onProblem?.(problem, again);
      return;
    }
    const fixed = this.#problem !== null;
    this.#problem = null;
    if (this.#lastGood !== undefined && o.same(next, this.#lastGood)) {
      if (fixed) o.onRecover?.();
      return;
    }
    this.#lastGood = next;
    o.onChange(next);
  }

  #wrap(cause: unknown): FlagmanError {
    const file = this.#paths.map((p) => p.path).join(', ');
    const why = (cause as NodeJS.ErrnoException).code ?? String(cause);
    return new FlagmanError('CONFIG_READ', `cannot read ${file} (${why})`, { file }, { cause });
  }
}

/** Watches one file's bytes: the helper for a file read whole (the config file, a respond page). */
export function watchContent(
  file: string,
  options: Omit<FileWatchOptions<Buffer>, 'files' | 'read' | 'same'>,
  initial?: Buffer,
): FileWatch<Buffer> {
  return new FileWatch<Buffer>({ ...options, files: [file], read: () => fs.readFileSync(file), same: (a, b) => a.equals(b) }, initial);
}
