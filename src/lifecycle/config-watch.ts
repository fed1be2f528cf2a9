// Watches the config file and asks for a reload when its content changes (docs/signals.md): after
// events go quiet for DEBOUNCE_MS the file is read, and a reload runs only when the content differs
// from the last content a reload was asked for. How the file is followed through in-place writes,
// replacements and re-pointed symlinks, without watching its folder, is the one file watch of
// file-watch.ts.
import path from 'node:path';
import { type FileWatch, watchContent } from '../file-watch.js';

// Long enough for a `cat > file` of a few kilobytes, or an editor's write-and-rename, to finish.
const DEBOUNCE_MS = 150;

/** Watches one config file; `onChange` runs after its content changed. */
export class ConfigWatch {
  readonly #watch: FileWatch<Buffer>;

  constructor(file: string, onChange: () => void) {
    // A file that cannot be read (missing for a moment: a rename in progress) reloads nothing: the
    // watch looks again when it is back, and a reload would only fail on it.
    this.#watch = watchContent(path.resolve(file), { debounceMs: DEBOUNCE_MS, onChange: () => onChange() });
  }

  /** The watch is armed from the start; a change made before that is looked for now. */
  async ready(): Promise<void> {
    this.#watch.poke();
  }

  /** The content a reload was last asked for (SIGHUP reloads set it too). */
  loaded(): void {
    this.#watch.accept();
  }

  async close(): Promise<void> {
    this.#watch.close();
  }
}
