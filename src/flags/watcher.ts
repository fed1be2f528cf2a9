// Turns file-system notifications into *hints* — "look at MAINT again", "look at everything
// again" — and never into values: chokidar was measured dropping the trailing `change` of a burst
// (its 50 ms per-path throttle has no trailing edge; docs/design/watching.md), so the store re-reads and verifies whatever a
// hint names, and a periodic rescan repairs anything missed.
//
// Two watches:
// - the flags directory itself. With inotify this is one bare `fs.watch` on the directory: every
//   notification arrives at once with the child's name, one inotify watch covers every flag, and
//   nothing else happens per event. chokidar (configured to ignore every child and listen to its
//   `raw` event) was measured doing more than that here: on each notification it re-lists the
//   directory and lstats entries, which at 10,000 flags pushed write-to-routed p99 to 30–67 ms
//   against 20–23 ms for the bare watch (bench/flag-latency, scale phase; docs/flags.md).
//   Its own deletion or move arrives there too (under its own name).
// - the directory's entry: deleted and recreated, renamed, or a symlink re-pointed (`mv -T tmp
//   flags`) leaves an inotify watch on the old inode, silently dead. A stat of the path every
//   ENTRY_POLL_MS (following symlinks, so a re-pointed link or its target recreated shows as
//   another dev:ino) tells the store to check the directory and re-arm us. Not a watch on the
//   parent: that is usually the config's folder, where a log written per request (`flagman run >>
//   access.log` in /etc/flagman) would hand the process an event per line — bench/config-watch.js
//   measured chokidar watches there taking a whole core (96–99%) under 4,800 appends/s.
// chokidar remains the watcher for polling mode (CHOKIDAR_USEPOLLING=1, or inotify unavailable or
// out of watches), where a directory watch only sees entries come and go, so flag files are then
// watched one by one. A fallback whose cause can pass (out of descriptors, out of watches) is tried
// back to events by a timer (RETRY_MS).
import fs from 'node:fs';
import path from 'node:path';
import { FSWatcher } from 'chokidar';
import { events as log } from '../log.js';
import { isFlagName } from './parse.js';

/** What the watcher tells the store. */
export interface WatchHandlers {
  /** Something happened to `name` in the directory; null: unknown, re-read every flag. */
  hint(name: string | null, rename: boolean): void;
  /** The directory's own entry in its parent changed: check whether it is still the same one. */
  entry(): void;
}

// Errors that mean "inotify cannot be used here": fall back to polling rather than go blind.
const NO_INOTIFY = new Set(['ENOSPC', 'EMFILE', 'ENFILE', 'ENOSYS']);
// How soon events are tried again after a fallback, by its cause. EMFILE and ENFILE (out of
// descriptors: the watch itself, or chokidar listing the parent) pass with the burst that caused
// them: every second. ENOSPC (the user's inotify watches, fs.inotify.max_user_watches, all taken)
// passes only when another process lets watches go, which is rare but happens (an editor or a build
// closed): every 30 s. Each try is one fs.watch per watched path, closed at once, that fails
// fast while the cause lasts; polling is only replaced once those open. ENOSYS (no inotify in this
// kernel) and CHOKIDAR_USEPOLLING=1 are for good: never.
const RETRY_MS: Readonly<Record<string, number>> = { EMFILE: 1000, ENFILE: 1000, ENOSPC: 30_000 };
// Events that fail again this soon after coming back (chokidar still short of descriptors while
// fs.watch alone is not) double the wait, up to RETRY_MAX_MS: a long shortage is not two log lines
// a second.
const RELAPSE_MS = 10_000;
const RETRY_MAX_MS = 30_000;
// chokidar emits `ready` even for a path that does not exist; this only bounds a stuck scan.
const READY_TIMEOUT_MS = 2000;
// How soon a replaced directory is noticed when no event on the old one told. Each wake-up of an
// idle process costs (~200 µs of CPU on a VM): polled every 100 ms, an idle flagman used ~0.2% of a
// core more than without the poll, every 250 ms ~0.1% (60 s idle windows beside the previous build).
const ENTRY_POLL_MS = 250;

// What the directory's path leads to: its dev:ino and birth time through every symlink, or why
// there is none. The birth time tells a directory deleted and recreated apart when ext4 hands the
// new one the old inode number (it often does; it is 0 where the file system keeps none). Not the
// other times: they change with every flag file created or removed.
function entryKey(dir: string): string {
  try {
    const st = fs.statSync(dir);
    return `${st.dev}:${st.ino}:${st.birthtimeMs}`;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'error';
  }
}

// CHOKIDAR_USEPOLLING asks for polling mode; chokidar reads it (its own way) in its constructor.
function pollingAsked(): boolean {
  const probe = new FSWatcher({ usePolling: false });
  void probe.close();
  return probe.options.usePolling;
}

/** Either kind of watch we hold. */
interface Closable {
  close(): unknown;
}

/** Watches one flags directory, and its entry by a stat of its path every ENTRY_POLL_MS. */
export class DirWatcher {
  readonly #dir: string;
  readonly #base: string;
  readonly #on: WatchHandlers;
  /** entryKey() as last seen by the entry poll. */
  #entry: string | null = null;
  #entryPoll: NodeJS.Timeout | null = null;
  #watchers: Closable[] = [];
  #polling = false;
  /** The error that made us poll (null: events, or polling asked for); its retry timer. */
  #fallback: string | null = null;
  #retry: NodeJS.Timeout | null = null;
  #retryMs = 0;
  /** When events last came back (performance.now()), to tell a relapse. */
  #backAt = -Infinity;
  #problem: string | null = null;
  #closed = false;
  #arming: Promise<void> | null = null;
  #again = false;

  constructor(dir: string, handlers: WatchHandlers) {
    this.#dir = path.resolve(dir);
    this.#base = path.basename(this.#dir);
    this.#on = handlers;
    this.#polling = pollingAsked();
  }

  /** 'events' while inotify works, 'polling' when chokidar polls. */
  get mode(): 'events' | 'polling' {
    return this.#polling ? 'polling' : 'events';
  }

  /** Why watching is degraded, or null. */
  get problem(): string | null {
    return this.#problem;
  }

  /** (Re)creates the directory watch; resolves once it is ready. Calls made meanwhile coalesce. */
  rearm(): Promise<void> {
    if (this.#arming) {
      this.#again = true;
      return this.#arming;
    }
    this.#arming = (async () => {
      do {
        this.#again = false;
        await this.#arm();
      } while (this.#again && !this.#closed);
    })().finally(() => {
      this.#arming = null;
    });
    return this.#arming;
  }

  /** Stops watching. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#entryPoll) clearInterval(this.#entryPoll);
    this.#entryPoll = null;
    if (this.#retry) clearTimeout(this.#retry);
    await this.#arming?.catch(() => undefined);
    await this.#closeAll();
  }

  async #closeAll(): Promise<void> {
    const old = this.#watchers;
    this.#watchers = [];
    await Promise.all(old.map((w) => w.close()));
  }

  async #arm(): Promise<void> {
    // Close first: chokidar shares one fs.watch per absolute path between instances, so a new
    // watcher opened beside the old one would join the old, dead watch.
    await this.#closeAll();
    if (this.#closed) return;
    // A fallback to polling stays; any other watcher error is forgotten unless it happens again.
    if (!this.#polling) this.#problem = null;
    // Taken before the watch opens: a replacement in between shows at the next poll.
    this.#entry = entryKey(this.#dir);
    this.#entryPoll ??= setInterval(() => this.#pollEntry(), ENTRY_POLL_MS).unref();
    const dirWatch = this.#polling ? null : this.#watchDir();
    const opened = dirWatch
      ? []
      : [
          this.#open(
            this.#dir,
            (p) => this.#wanted(p),
            (ev, name, at) => this.#onDirRaw(ev, name, at),
          ),
        ];
    this.#watchers = [...(dirWatch ? [dirWatch] : []), ...opened.map((o) => o.watcher)];
    await Promise.all(opened.map((o) => o.ready));
    // Whatever changed while no watch was armed is found by reading everything once more.
    if (!this.#closed) this.#on.hint(null, false);
  }

  // What chokidar should watch under the flags directory: the directory itself, and in polling
  // mode each flag file too.
  #wanted(p: string): boolean {
    if (p === this.#dir) return true;
    return this.#polling && path.dirname(p) === this.#dir && isFlagName(path.basename(p));
  }

  // The inotify fast path: one bare fs.watch on the directory. Returns null when polling must take
  // over instead, or a no-op watch when the directory is missing: the parent watch re-arms us once
  // it is back.
  #watchDir(): Closable | null {
    let watch: fs.FSWatcher;
    try {
      watch = fs.watch(this.#dir, { persistent: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      if (NO_INOTIFY.has(code)) {
        this.#fallBackToPolling(code); // re-arms every watch, polling
        return null;
      }
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.#report(`cannot watch ${this.#dir} (${code}); the rescan still runs`);
      return { close: () => undefined };
    }
    watch.on('change', (ev, name) => {
      // No name: the kernel did not say which entry (then: look at everything).
      this.#onDirRaw(ev, typeof name === 'string' ? name : '', this.#dir);
    });
    watch.on('error', (err) => this.#onError(err));
    return watch;
  }

  #open(
    target: string,
    wanted: (p: string) => boolean,
    onRaw: (ev: string, name: string, watched: string | undefined) => void,
  ): { watcher: FSWatcher; ready: Promise<void> } {
    const watcher = new FSWatcher({
      persistent: true,
      ignoreInitial: true, // the store scans on its own, verified
      depth: 0, // flags are direct children; subdirectories are not flags (README, "The flag rules")
      atomic: false, // `atomic` delays unlink by ~100 ms and hides dotfiles; the store settles itself
      awaitWriteFinish: false, // ~25 ms added per event; the store's double read verifies instead
      followSymlinks: true, // a symlinked flags directory is watched at its current target
      usePolling: this.#polling, // CHOKIDAR_USEPOLLING still overrides, inside chokidar
      interval: 100, // polling mode only: a change is seen within 45–100 ms (docs/design/watching.md)
      ignored: (p: string) => !wanted(path.resolve(p)),
    });
    // chokidar applies CHOKIDAR_USEPOLLING in its constructor; the instance knows the real mode.
    if (watcher.options.usePolling) this.#polling = true;
    watcher.on('raw', (ev, evPath, details) => {
      const watched = (details as { watchedPath?: string } | undefined)?.watchedPath;
      // fs.watch may give no file name at all (then: look at everything).
      onRaw(ev, typeof evPath === 'string' ? evPath : '', watched === undefined ? undefined : path.resolve(watched));
    });
    watcher.on('error', (err) => this.#onError(err));
    const ready = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, READY_TIMEOUT_MS);
      watcher.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    watcher.add(target);
    return { watcher, ready };
  }

  #onDirRaw(ev: string, evPath: string, watched: string | undefined): void {
    if (watched === this.#dir && evPath) {
      // A directory watch names the child. Its own deletion or move is reported under its own
      // name, which may also be a flag name: pass both on.
      this.#on.hint(evPath, ev === 'rename');
      if (evPath === this.#base) {
        // Deleted or moved, maybe back already: the next poll tells the store again, whatever it finds.
        if (ev === 'rename') this.#entry = null;
        this.#on.entry();
      }
    } else if (watched !== undefined && path.dirname(watched) === this.#dir) {
      this.#on.hint(path.basename(watched), ev === 'rename'); // a per-file watch (polling mode)
    } else if (path.isAbsolute(evPath) && path.dirname(evPath) === this.#dir) {
      this.#on.hint(path.basename(evPath), false); // fs.watchFile names the full path
    } else {
      this.#on.hint(null, false);
    }
  }

  #pollEntry(): void {
    if (this.#closed) return;
    const key = entryKey(this.#dir);
    if (key === this.#entry) return;
    this.#entry = key;
    this.#on.entry();
  }

  #onError(err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    if (NO_INOTIFY.has(code)) {
      this.#fallBackToPolling(code);
      return;
    }
    this.#report(`watcher error (${code}); the rescan still runs`);
  }

  #fallBackToPolling(code: string): void {
    if (this.#polling) return; // another watch of the same arming said so already
    this.#polling = true;
    this.#fallback = code;
    const first = RETRY_MS[code] ?? 0;
    this.#retryMs = performance.now() - this.#backAt < RELAPSE_MS ? Math.min(RETRY_MAX_MS, Math.max(first, this.#retryMs * 2)) : first;
    this.#report(`file-system events unavailable (${code}): polling every 100 ms`);
    // Inside #arm this only asks for one more round, which then opens everything in polling mode.
    void this.rearm().catch(() => undefined);
    this.#retryLater();
  }

  #retryLater(): void {
    if (this.#fallback === null || RETRY_MS[this.#fallback] === undefined || this.#closed) return;
    this.#retry = setTimeout(() => this.#tryEvents(), this.#retryMs);
    this.#retry.unref(); // the listeners keep the process alive, never this
  }

  // Back to events once a watch opens again on the directory (all that events mode watches):
  // chokidar's polling of each flag file stops.
  #tryEvents(): void {
    this.#retry = null;
    if (this.#closed || this.#fallback === null) return;
    let failed: string | null = null;
    try {
      fs.watch(this.#dir, { persistent: false }).close();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      // Any other error (the directory missing now) is one events mode copes with.
      if (NO_INOTIFY.has(code)) failed = code;
    }
    if (failed !== null) {
      this.#fallback = failed;
      this.#retryMs = Math.max(this.#retryMs, RETRY_MS[failed] ?? 0);
      return this.#retryLater();
    }
    const cause = this.#fallback;
    this.#fallback = null;
    this.#polling = false;
    this.#backAt = performance.now();
    this.#problem = null;
    log.info(
      { event: 'flags.watcher', dir: this.#dir, problem: null, mode: 'events' },
      `file-system events work again (polling since ${cause}): watching by events`,
    );
    void this.rearm().catch(() => undefined);
  }

  #report(problem: string): void {
    if (problem === this.#problem) return;
    this.#problem = problem;
    log.warn({ event: 'flags.watcher', dir: this.#dir, problem }, problem);
  }
}
