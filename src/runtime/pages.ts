// Bodies of `respond` backends. A file body is read once into memory and re-read when the file
// changes, so serving it never touches the filesystem; a failed re-read keeps the last good body.
// In runtime/, which compiles them: the proxy serves only what a compiled backend holds.
import fs from 'node:fs';
import { watch, type FSWatcher } from 'chokidar';
import { events } from '../log.js';

/** A body served from memory; `body` is replaced in place when its file changes. */
export interface Page {
  body: Buffer;
  readonly file: string | null;
}

// chokidar drops a second change within 50 ms of the first and emits no trailing event, so a
// re-read is scheduled after that window: the read then sees the last of a burst of writes.
const REREAD_DELAY_MS = 60;

/** Loads pages and keeps them fresh. One per process; pages are shared by every runtime. */
export class PageCache {
  readonly #pages = new Map<string, Page>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #watcher: FSWatcher | null = null;

  /** A page with a fixed body. */
  static inline(text: string): Page {
    return { body: Buffer.from(text), file: null };
  }

  /** The page for `file`, read now (throws when unreadable at load) and watched from then on. */
  file(file: string): Page {
    let page = this.#pages.get(file);
    if (page) return page;
    page = { body: fs.readFileSync(file), file };
    this.#pages.set(file, page);
    if (this.#watcher === null) {
      this.#watcher = watch(file, { ignoreInitial: true, atomic: false });
      this.#watcher.on('all', (_event, path) => this.#schedule(path));
      this.#watcher.on('error', (err) => events.warn({ event: 'page.watch', err: String(err) }, 'page watcher error'));
    } else {
      this.#watcher.add(file);
    }
    return page;
  }

  #schedule(path: string): void {
    if (this.#timers.has(path)) return;
    this.#timers.set(
      path,
      setTimeout(() => {
        this.#timers.delete(path);
        this.#reread(path);
      }, REREAD_DELAY_MS),
    );
  }

  #reread(path: string): void {
    const page = this.#pages.get(path);
    if (!page) return;
    try {
      const body = fs.readFileSync(path);
      if (!body.equals(page.body)) {
        page.body = body;
        events.info({ event: 'page.reload', file: path, bytes: body.length }, `page ${path} reloaded`);
      }
    } catch (err) {
      events.warn(
        { event: 'page.problem', file: path, code: (err as NodeJS.ErrnoException).code },
        `page ${path} unreadable; serving the last good copy`,
      );
    }
  }

  async close(): Promise<void> {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await this.#watcher?.close();
  }
}
