// The live flag values of one directory, published as immutable snapshots (STYLE 2).
//
// Events are hints (see watcher.ts). A hint marks a flag dirty (a `..`-name, as in a ConfigMap
// volume, marks every flag dirty); after a short quiet time each dirty file is read, and a read
// that would change something is read again ~1 ms later and applied only if both agree and no new
// hint arrived meanwhile. Empty and missing states must hold `settleMs` first (decide.ts has the
// table), so the empty moment of `echo 0 > f` is never applied. A full rescan every `rescanMs`
// compares every file's content with what is published and repairs missed events (inotify overflow
// is silent in Node). Values are compared, never events counted.
import { EventEmitter } from 'node:events';
import { setImmediate as yieldLoop, setTimeout as delay } from 'node:timers/promises';
import { FlagmanError } from '../errors.js';
import { events as log } from '../log.js';
import { logChanges, logUpdate } from './audit.js';
import { decide, nextEntry, observe, sameObserved, type Observed } from './decide.js';
import { capNames, inspectDir, listFlagNames, MAX_FLAGS, START_LIMIT_MS, worldWritableProblem, type DirState } from './dir.js';
import { DirHealth } from './health.js';
import { isFlagName } from './parse.js';
import { readFlagFile } from './read.js';
import { EMPTY_SNAPSHOT, makeSnapshot, type FlagChange, type FlagSnapshot, type FlagState } from './snapshot.js';
import { DirWatcher } from './watcher.js';

/** How to watch one flags directory. */
export interface FlagStoreOptions {
  readonly dir: string;
  /** Period of the full rescan, ms; 0 disables it. */
  readonly rescanMs: number;
  /** How long an empty or missing file must stay so before it is applied, ms (default 25). */
  readonly settleMs?: number;
  /** Quiet time between a hint and the read, ms (default 2): lets a burst of hints coalesce. */
  readonly quietMs?: number;
  /** false: no file-system events, the rescan alone (tests, one-shot reads). Default true. */
  readonly events?: boolean;
  /** Accept a world-writable flags directory (SPEC §1.5). Default false. */
  readonly allowWorldWritable?: boolean;
}

/** How the directory is being watched, for status (SPEC §5 `watcher`). */
export interface WatcherStatus {
  readonly mode: 'events' | 'polling';
  readonly rescans: number;
  readonly lastRescanAt: number | null;
  readonly problem: string | null;
}

/** `change`: a new snapshot, with the value changes it brought (empty for a note or problem only). */
export interface FlagStoreEvents {
  change: [snapshot: FlagSnapshot, changes: FlagChange[]];
}

// Reads between two turns of the event loop, so a rescan of 10,000 flags does not stall requests.
const READS_PER_TURN = 128;

/** Watches a flags directory and publishes a new snapshot whenever a value, note or problem changes. */
export class FlagStore extends EventEmitter<FlagStoreEvents> {
  readonly #dir: string;
  readonly #rescanMs: number;
  readonly #settleMs: number;
  readonly #quietMs: number;
  readonly #allowWorldWritable: boolean;
  readonly #health: DirHealth;
  readonly #watcher: DirWatcher | null;
  readonly #entries = new Map<string, FlagState>();
  /** Name → since when it has been seen empty (while unset) or missing. */
  readonly #holds = new Map<string, number>();
  /** Names with a rename/delete event since last seen present: evidence for "file removed". */
  readonly #renamed = new Set<string>();
  readonly #dirty = new Set<string>();
  #allDirty = false;
  /** The directory's entry in its parent changed since the last pass (see #batch). */
  #entryMoved = false;
  #snapshot: FlagSnapshot = EMPTY_SNAPSHOT;
  #rescans = 0;
  #lastRescanAt: number | null = null;
  #timer: NodeJS.Timeout | null = null;
  #holdTimer: NodeJS.Timeout | null = null;
  #rescanTimer: NodeJS.Timeout | null = null;
  #running = false;
  #initial = true;
  #closed = false;
  #idle: Array<() => void> = [];

  constructor(opts: FlagStoreOptions) {
    super();
    this.#dir = opts.dir;
    this.#rescanMs = opts.rescanMs;
    this.#settleMs = opts.settleMs ?? 25;
    this.#quietMs = opts.quietMs ?? 2;
    this.#allowWorldWritable = opts.allowWorldWritable ?? false;
    this.#health = new DirHealth(opts.dir, this.#allowWorldWritable);
    this.#watcher =
      opts.events === false
        ? null
        : new DirWatcher(opts.dir, { hint: (name, rename) => this.#hint(name, rename), entry: () => this.#onEntry() });
  }

  /** The current snapshot (EMPTY_SNAPSHOT before start). */
  get snapshot(): FlagSnapshot {
    return this.#snapshot;
  }

  /** Watch mode, rescan count and time, and why watching is degraded (null when fine). */
  get watcherStatus(): WatcherStatus {
    const all = [this.#health.problem, this.#watcher?.problem ?? null].filter((p) => p !== null);
    return {
      mode: this.#watcher?.mode ?? 'polling',
      rescans: this.#rescans,
      lastRescanAt: this.#lastRescanAt,
      problem: all.length > 0 ? all.join('; ') : null,
    };
  }

  /**
   * Scans the directory, publishes the first snapshot and starts watching. A missing directory is a
   * warning (all flags unset); a world-writable one not allowed is a FlagmanError FLAG_DIR.
   */
  async start(): Promise<void> {
    const dir = inspectDir(this.#dir);
    if (worldWritableProblem(this.#dir, dir, this.#allowWorldWritable)) {
      const reason = 'the flags directory is world-writable: anyone could steer traffic (chmod o-w it, or set flags.allowWorldWritable: true)';
      throw new FlagmanError('FLAG_DIR', reason, { file: this.#dir });
    }
    this.#health.note(dir, () => true);
    await this.#watcher?.rearm();
    this.#allDirty = true;
    const idle = new Promise<void>((resolve) => this.#idle.push(resolve));
    this.#schedule(0);
    await Promise.race([idle, delay(START_LIMIT_MS, undefined, { ref: false })]);
    if (this.#closed) return;
    this.#initial = false;
    this.#snapshot = makeSnapshot(this.#snapshot.version + 1, new Map(this.#entries));
    log.info({ event: 'flags.loaded', dir: this.#dir, flags: this.#entries.size }, `flags loaded from ${this.#dir}`);
    this.#armRescan();
  }

  /** Stops watching and rescanning. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of [this.#timer, this.#holdTimer, this.#rescanTimer]) if (t) clearTimeout(t);
    for (const resolve of this.#idle.splice(0)) resolve();
    await this.#watcher?.close();
  }

  #hint(name: string | null, rename: boolean): void {
    if (this.#closed) return;
    if (name === null || name.startsWith('..')) {
      this.#allDirty = true;
    } else if (isFlagName(name)) {
      this.#dirty.add(name);
      // Any event restarts a hold: an empty or missing state counts only while nothing happens.
      this.#holds.delete(name);
      if (rename) this.#renamed.add(name);
    } else {
      return;
    }
    this.#schedule(this.#quietMs);
  }

  #schedule(ms: number): void {
    if (this.#closed || this.#running || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#run();
    }, ms);
  }

  async #run(): Promise<void> {
    if (this.#running || this.#closed) return;
    this.#running = true;
    try {
      while (!this.#closed && (this.#dirty.size > 0 || this.#allDirty)) {
        await this.#batch();
        // Still dirty: writes are still going on; let them go quiet before reading again.
        if (this.#dirty.size > 0 || this.#allDirty) await delay(this.#quietMs);
      }
    } catch (err) {
      log.error({ event: 'flags.error', err }, 'flag processing failed');
    } finally {
      this.#running = false;
    }
    if (this.#closed) return;
    this.#armHoldTimer();
    if (this.#dirty.size > 0 || this.#allDirty) this.#schedule(this.#quietMs);
    else if (this.#holds.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  #onEntry(): void {
    this.#entryMoved = true;
    this.#hint(null, false);
  }

  // One pass: read every dirty flag once; read again after ~1 ms those whose reading would change
  // something; apply what both reads agree on and no hint touched meanwhile.
  async #batch(): Promise<void> {
    const dir = inspectDir(this.#dir);
    const verdict = this.#health.note(dir, () => listFlagNames(this.#dir).length > 0);
    if (verdict.replaced || verdict.resumed) this.#allDirty = true;
    // Replaced: deleted and recreated, or a symlink re-pointed; the old inotify watch is dead.
    // An event on the directory's own entry counts as replaced too: `rm -rf flags; mkdir flags`
    // on ext4 often hands the new directory the old inode number, so identity alone can miss it.
    const entryMoved = this.#entryMoved;
    this.#entryMoved = false;
    if ((verdict.replaced || entryMoved) && dir.kind === 'present' && !this.#initial) void this.#watcher?.rearm().catch(() => undefined);
    const names = this.#allDirty ? this.#everyName(dir) : [...this.#dirty];
    this.#dirty.clear();
    this.#allDirty = false;
    // Unsafe: nothing is applied; `resumed` makes the first safe pass read everything again.
    if (!verdict.safe) return;
    const real = dir.kind === 'present' ? dir.real : this.#dir;

    const first = new Map<string, Observed>();
    for (const [i, name] of names.entries()) {
      if (i % READS_PER_TURN === READS_PER_TURN - 1) await yieldLoop();
      const seen = observe(readFlagFile(this.#dir, real, name));
      if (seen.kind !== 'missing') this.#renamed.delete(name);
      if (decide(this.#entries.get(name), seen, this.#held(name)).kind === 'none') {
        this.#holds.delete(name);
        if (seen.kind === 'missing') this.#renamed.delete(name);
      } else {
        first.set(name, seen);
      }
    }
    if (first.size === 0) return;
    await delay(1);
    if (this.#closed) return;

    const changes: FlagChange[] = [];
    let touched = false;
    for (const [name, seen] of first) {
      if (this.#dirty.has(name) || this.#allDirty) continue; // a newer hint: the next pass decides
      const again = observe(readFlagFile(this.#dir, real, name));
      if (!sameObserved(seen, again)) {
        this.#dirty.add(name);
        continue;
      }
      // A missing file means "removed" with the directory there, or with a delete event for that
      // very file (`rm -rf flags` unsets flags as their files go; a directory renamed away or
      // unmounted keeps them).
      if (again.kind === 'missing' && !verdict.there && !this.#renamed.has(name)) continue;
      touched = this.#apply(name, again, changes) || touched;
    }
    if (touched) this.#publish(changes);
  }

  #held(name: string): boolean {
    const since = this.#holds.get(name);
    return since !== undefined && Date.now() - since >= this.#settleMs;
  }

  // Applies a verified observation; true when the snapshot must change.
  #apply(name: string, seen: Observed, changes: FlagChange[]): boolean {
    const cur = this.#entries.get(name);
    const d = decide(cur, seen, this.#held(name));
    if (d.kind === 'hold') {
      if (!this.#holds.has(name)) this.#holds.set(name, Date.now());
      return false;
    }
    this.#holds.delete(name);
    if (d.kind === 'none') return false;
    if (cur === undefined && this.#entries.size >= MAX_FLAGS) {
      this.#health.noteExcess(1, name);
      return false;
    }
    const { entry, change } = nextEntry(name, cur, d, this.#initial ? null : Date.now());
    if (entry) {
      this.#entries.set(name, entry);
    } else {
      this.#entries.delete(name);
      this.#renamed.delete(name);
    }
    if (change) changes.push(change);
    // While loading at start only problems are worth a line; `flags.loaded` sums up the rest.
    if (!this.#initial || entry?.problem) logUpdate(name, cur, entry, change !== null);
    return true;
  }

  #publish(changes: FlagChange[]): void {
    if (this.#initial) return; // start() publishes the first snapshot whole
    this.#snapshot = makeSnapshot(this.#snapshot.version + 1, new Map(this.#entries));
    logChanges(changes);
    try {
      this.emit('change', this.#snapshot, changes);
    } catch (err) {
      // A listener's bug must not stop the flags from being watched.
      log.error({ event: 'flags.listener_error', err }, 'a flag change listener threw');
    }
  }

  // Every tracked name and every flag file, up to MAX_FLAGS; the excess is reported, not tracked.
  #everyName(dir: DirState): string[] {
    const listed = dir.kind === 'present' ? listFlagNames(this.#dir) : [];
    const { names, excess } = capNames([...this.#entries.keys(), ...this.#holds.keys(), ...this.#dirty], listed);
    this.#health.noteExcess(excess);
    return names;
  }

  #armHoldTimer(): void {
    if (this.#holdTimer) clearTimeout(this.#holdTimer);
    this.#holdTimer = null;
    if (this.#holds.size === 0) return;
    const due = Math.min(...this.#holds.values()) + this.#settleMs;
    this.#holdTimer = setTimeout(() => {
      this.#holdTimer = null;
      const due = [...this.#holds.keys()].filter((name) => this.#held(name));
      for (const name of due) this.#dirty.add(name);
      if (due.length > 0) this.#schedule(0);
      else this.#armHoldTimer();
    }, Math.max(0, due - Date.now()) + 1);
  }

  #armRescan(): void {
    if (this.#rescanMs <= 0 || this.#closed) return;
    this.#rescanTimer = setTimeout(() => {
      this.#rescans++;
      this.#lastRescanAt = Date.now();
      this.#allDirty = true;
      this.#schedule(0);
      this.#armRescan();
    }, this.#rescanMs);
  }
}
