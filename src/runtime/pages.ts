// Bodies of `respond` backends. A file body is read once into memory and re-read when the file
// changes, so serving it never touches the filesystem; a failed re-read keeps the last good body.
// In runtime/, which compiles them: the proxy serves only what a compiled backend holds.
import fs from 'node:fs';
import { type FileWatch, watchContent } from '../file-watch.js';
import { events } from '../log.js';

/** A body served from memory; `body` is replaced in place when its file changes. */
export interface Page {
  body: Buffer;
  readonly file: string | null;
}

// Read this long after the first event of a burst, which a write of a page finishes within; a
// write still going on then sends another event, and is read again.
const REREAD_DELAY_MS = 60;

/** Loads pages and keeps them fresh. One per process; pages are shared by every runtime. */
export class PageCache {
  readonly #pages = new Map<string, Page>();
  readonly #watches: FileWatch<Buffer>[] = [];

  /** A page with a fixed body. */
  static inline(text: string): Page {
    return { body: Buffer.from(text), file: null };
  }

  /** The page for `file`, read now (throws when unreadable at load) and watched from then on. */
  file(file: string): Page {
    const known = this.#pages.get(file);
    if (known) return known;
    const page: Page = { body: fs.readFileSync(file), file };
    this.#pages.set(file, page);
    const watch = watchContent(
      file,
      {
        debounceMs: REREAD_DELAY_MS,
        wait: 'first',
        onChange: (body) => {
          page.body = body;
          events.info({ event: 'page.reload', file, bytes: body.length }, `page ${file} reloaded`);
        },
        onProblem: (err) =>
          events.warn(
            { event: 'page.problem', file, code: (err.cause as NodeJS.ErrnoException | undefined)?.code },
            `page ${file} unreadable; serving the last good copy`,
          ),
        onWatchError: (err) => events.warn({ event: 'page.watch', err: String(err) }, 'page watcher error'),
      },
      page.body,
    );
    this.#watches.push(watch);
    return page;
  }

  async close(): Promise<void> {
    for (const w of this.#watches) w.close();
    this.#watches.length = 0;
  }
}
