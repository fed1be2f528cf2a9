// Watches the config file and asks for a reload when its content changes (docs/signals.md). Editors and
// deploy tools write it in place (truncate, write) or by rename; either way events are only hints:
// after they go quiet for DEBOUNCE_MS the file is read, and a reload runs only when the content
// differs from the last content a reload was asked for — a `touch`, a chmod or a write of the same
// bytes reloads nothing, and a half-written file that failed is retried as soon as it changes again.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FSWatcher } from 'chokidar';

// Long enough for a `cat > file` of a few kilobytes, or an editor's write-and-rename, to finish.
const DEBOUNCE_MS = 150;

/** Watches one config file; `onChange` runs after its content changed. */
export class ConfigWatch {
  readonly #file: string;
  readonly #onChange: () => void;
  readonly #watcher: FSWatcher;
  #timer: NodeJS.Timeout | null = null;
  #last: string | null;
  readonly #ready: Promise<void>;

  constructor(file: string, onChange: () => void) {
    this.#file = path.resolve(file);
    this.#onChange = onChange;
    this.#last = this.#read();
    const base = path.basename(this.#file);
    const dir = path.dirname(this.#file);
    // The directory, not the file: a rename over the file replaces the inode a file watch is on.
    // Only the file's own events matter (raw events name it before chokidar's per-path throttle,
    // which can drop the last event of a burst: docs/design/watching.md).
    this.#watcher = new FSWatcher({
      ignoreInitial: true,
      depth: 0,
      atomic: false,
      ignored: (p: string) => path.resolve(p) !== dir && path.resolve(p) !== this.#file,
    });
    this.#watcher.on('raw', (_ev, name) => {
      if (!name || name === base || name === this.#file) this.#poke();
    });
    this.#watcher.on('all', () => this.#poke());
    // A watch that fails leaves SIGHUP, which always works: nothing to do but not crash.
    this.#watcher.on('error', () => undefined);
    this.#ready = new Promise<void>((resolve) => {
      // chokidar emits `ready` even for a path it cannot watch; the timer only bounds a stuck scan.
      const timer = setTimeout(resolve, 2000);
      this.#watcher.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#watcher.add(dir);
  }

  /** Resolves once the watch is armed; a change made before that is looked for then. */
  async ready(): Promise<void> {
    await this.#ready;
    this.#poke();
  }

  /** The content a reload was last asked for (SIGHUP reloads set it too). */
  loaded(): void {
    this.#last = this.#read() ?? this.#last;
  }

  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#watcher.close();
  }

  #poke(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const text = this.#read();
      // Missing for a moment (a rename in progress): its arrival is another event.
      if (text === null || text === this.#last) return;
      this.#last = text;
      this.#onChange();
    }, DEBOUNCE_MS);
  }

  #read(): string | null {
    try {
      return readFileSync(this.#file, 'utf8');
    } catch {
      return null;
    }
  }
}
