// Watches the config file and asks for a reload when its content changes (docs/signals.md). Editors
// and deploy tools write it in place (truncate, write) or replace it (a temp file renamed over it,
// `mv`, vim's rename-and-write, a re-pointed symlink, a Kubernetes ConfigMap's `..data` swap); either way events
// are only hints: after they go quiet for DEBOUNCE_MS the file is read, and a reload runs only when
// the content differs from the last content a reload was asked for — a `touch`, a chmod or a write
// of the same bytes reloads nothing, and a half-written file that failed is retried as soon as it
// changes again.
//
// Only the file is watched, never its folder: a folder watch hands the process every event of every
// file in it, and a config folder often holds a busy file (`flagman run >> access.log` in
// /etc/flagman: an event per request). A watch on the file follows its inode (through any symlinks),
// so it has to be re-armed when the path comes to name another inode: after a `rename` event (the
// file renamed or deleted, which is also what a replacement does to the old one), or when the path
// no longer resolves to the file watched. What no event on the old inode tells — a symlink
// re-pointed while its old target stays, a missed event, a file system without inotify — a stat
// of the path every POLL_MS finds: a few system calls a second, whatever happens in the folder.
import fs from 'node:fs';
import path from 'node:path';

// Long enough for a `cat > file` of a few kilobytes, or an editor's write-and-rename, to finish.
const DEBOUNCE_MS = 150;
// The backstop for a replacement no event announced.
const POLL_MS = 1000;

/** Where the path leads now: the file (through every symlink) and its inode, size and times. */
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

/** Watches one config file; `onChange` runs after its content changed. */
export class ConfigWatch {
  readonly #file: string;
  readonly #onChange: () => void;
  #watch: fs.FSWatcher | null = null;
  /** The file the watch is on (Found.file); null: no watch. */
  #watched: string | null = null;
  /** The watch saw a rename or delete: it may be dead, re-arm it even if the path looks the same. */
  #stale = false;
  /** What the path led to when last looked at (Found.all). */
  #seen: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  readonly #poll: NodeJS.Timeout;
  #last: string | null;
  #closed = false;

  constructor(file: string, onChange: () => void) {
    this.#file = path.resolve(file);
    this.#onChange = onChange;
    this.#last = this.#read();
    this.#arm(find(this.#file));
    this.#poll = setInterval(() => {
      if (find(this.#file)?.all !== this.#seen) this.#poke();
    }, POLL_MS);
    this.#poll.unref();
  }

  /** The watch is armed from the start; a change made before that is looked for now. */
  async ready(): Promise<void> {
    this.#poke();
  }

  /** The content a reload was last asked for (SIGHUP reloads set it too). */
  loaded(): void {
    this.#last = this.#read() ?? this.#last;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    clearInterval(this.#poll);
    this.#unwatch();
  }

  // Watches the file `found` names (after closing the old watch). A watch that cannot be opened
  // (missing, no inotify, out of watches) leaves the poll, and SIGHUP, which always works.
  #arm(found: Found | null): void {
    this.#unwatch();
    this.#stale = false;
    this.#seen = found?.all ?? null;
    if (!found) return;
    try {
      const watch = fs.watch(found.real, { persistent: false });
      watch.on('change', (ev) => {
        if (ev === 'rename') this.#stale = true;
        this.#poke();
      });
      watch.on('error', () => {
        this.#stale = true;
        this.#poke();
      });
      this.#watch = watch;
      this.#watched = found.file;
    } catch {
      // The poll finds what changes, within POLL_MS.
    }
  }

  #unwatch(): void {
    this.#watch?.close();
    this.#watch = null;
    this.#watched = null;
  }

  #poke(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      // Armed before the read: a write after it is another event, a write before it is read now.
      const found = find(this.#file);
      if (this.#stale || found?.file !== this.#watched) this.#arm(found);
      else this.#seen = found?.all ?? null;
      const text = this.#read();
      // Missing for a moment (a rename in progress): the poll finds it when it is back.
      if (text === null || text === this.#last) return;
      this.#last = text;
      this.#onChange();
    }, DEBOUNCE_MS);
  }

  #read(): string | null {
    try {
      return fs.readFileSync(this.#file, 'utf8');
    } catch {
      return null;
    }
  }
}
