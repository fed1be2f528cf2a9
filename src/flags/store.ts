// The live flag values of one directory, published as immutable snapshots (docs/design/conventions.md).
//
// Events are hints (see watcher.ts). A hint marks a flag dirty (a `..`-name, as in a ConfigMap
// volume, marks every flag dirty); after a short quiet time each dirty file is read, and a read
// that would change something is read again ~1 ms later and applied only if both agree and no new
// hint for that flag arrived meanwhile (such a hint drops the waiting first reading). Empty and
// missing states must hold `settleMs` first (decide.ts has the table), so the empty moment of
// `echo 0 > f` is never applied. A full pass over every flag (sweep.ts) compares every file's
// content with what is published and repairs missed events (inotify overflow is silent in Node);
// a difference it finds is verified like a hint's. Values are compared, never events counted.
//
// Those decisions are made by core.ts, a pure module (the time and the readings are passed in);
// it has the orderings in detail, and test/unit/flags-core.test.js and test/fuzz/flags.js test
// them on a fake clock. This file is the driver: it owns the file system (reads, listings, the
// directory's health), the watcher, the timers and the passes, hands the core what happened and
// does what it asks. One loop does all the work in short steps, and yields to the event loop
// between them (requests run, and file-system events arrive as hints). Each step:
//   1. looks at the directory: there, replaced (the core says: re-arm the watch, everything is
//      read again), safe (if not, the core drops all);
//   2. verifies the first readings that are ~1 ms old: reads each again, the core applies what agrees;
//   3. reads dirty names whose quiet time is over, for up to STEP_BUDGET_MS; only when there are
//      none, 4. reads the pass's next names, for up to STEP_BUDGET_MS;
//   5. publishes what was applied (values.ts may hold it back for a burst), also right after 2.
// So a hint waits for at most one step of a pass (~1 ms), never for the whole pass. A pass is
// never restarted: when everything must be read again meanwhile, it runs to its end and another
// pass follows at once (so a stream of `..` events cannot keep a pass from ever finishing). The
// backstop pass starts `rescanMs` after the previous pass *ended* (longer after an expensive pass:
// sweep.ts, backstopPause), never on top of one. A hold's timer has the held flag read again when
// the settle time is over, even while a pass keeps the store busy.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldLoop, setTimeout as delay } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import { FlagmanError } from '../errors.js';
import { events as log } from '../log.js';
import { logChanges, logUpdate } from './audit.js';
import { FlagCore, type DueVerification, type Update } from './core.js';
import { observe, type Observed } from './decide.js';
import { inspectDir, listFlagNames, MAX_FLAGS, passNames, START_LIMIT_MS, worldWritableProblem, type DirState } from './dir.js';
import { DirHealth, type DirVerdict } from './health.js';
import { readFlag } from './read.js';
import type { FlagChange, FlagSnapshot } from './snapshot.js';
import { loadState, StateWriter } from './state.js';
import { backstopPause, listFlagsAsync, STEP_BUDGET_MS, Sweep } from './sweep.js';
import { FlagValues } from './values.js';
import { DirWatcher } from './watcher.js';

/** How to watch one flags directory. */
export interface FlagStoreOptions {
  readonly dir: string;
  /** Pause between the end of one full rescan and the start of the next, ms; 0 disables it. */
  readonly rescanMs: number;
  /** How long an empty or missing file must stay so before it is applied, ms (default 25). */
  readonly settleMs?: number;
  /** Quiet time between a hint and the read, ms (default 2): lets a burst of hints coalesce. */
  readonly quietMs?: number;
  /** false: no file-system events, the rescan alone (tests, one-shot reads). Default true. */
  readonly events?: boolean;
  /** Accept a world-writable flags directory (README, "The flag rules"). Default false. */
  readonly allowWorldWritable?: boolean;
  /** Flags the config reads: tracked first, so the 10,000-flag limit never leaves one of them out. */
  readonly preferred?: Iterable<string>;
  /**
   * The state file (state.ts): read at start, so that an emptied or invalid file keeps the value it
   * had before the restart, and written after every change. Default none.
   */
  readonly state?: string | null;
}

/** The store a config's `flags` section describes; `preferred`: the flags its expressions read. */
export function storeFor(flags: Config['flags'], preferred: Iterable<string>): FlagStore {
  return new FlagStore({ dir: flags.dir, rescanMs: flags.rescan, allowWorldWritable: flags.allowWorldWritable, preferred, state: flags.state });
}

/** How the directory is being watched, for status (`watcher` in docs/admin.md). */
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

/** Watches a flags directory and publishes a new snapshot whenever a value, note or problem changes. */
export class FlagStore extends EventEmitter<FlagStoreEvents> {
  readonly #dir: string;
  readonly #rescanMs: number;
  readonly #quietMs: number;
  readonly #settleMs: number;
  readonly #allowWorldWritable: boolean;
  #preferred: readonly string[];
  readonly #health: DirHealth;
  readonly #watcher: DirWatcher | null;
  /** The applied values and the published snapshot. */
  readonly #values = new FlagValues();
  /** The decisions (core.ts): dirty names, first readings, holds, what to apply. */
  readonly #core: FlagCore;
  /** Names last read as a regular file (not through a symlink): read.ts's quick path is for them. */
  readonly #plain = new Set<string>();
  /** The hold timer (core.holdsDueAt) and when it fires (performance.now()). */
  #holdTimer: NodeJS.Timeout | null = null;
  #holdTimerAt = 0;
  /** Another pass follows the one running, at once. */
  #again = false;
  /** The full pass in progress, if any. */
  #sweep: Sweep | null = null;
  /** The directory is being listed for the next pass (off the event loop, see sweep.ts). */
  #listing = false;
  #rescans = 0;
  #lastRescanAt: number | null = null;
  #timer: NodeJS.Timeout | null = null;
  #rescanTimer: NodeJS.Timeout | null = null;
  #running = false;
  #initial = true;
  #closed = false;
  #idle: Array<() => void> = [];
  /** Resolves start() once the start-up pass has ended and its readings are applied. */
  #loaded: (() => void) | null = null;
  #firstPassEnded = false;
  /** Writes the state file after each published snapshot; null: no state file. */
  readonly #state: StateWriter | null;

  constructor(opts: FlagStoreOptions) {
    super();
    this.#dir = opts.dir;
    this.#rescanMs = opts.rescanMs;
    this.#quietMs = opts.quietMs ?? 2;
    this.#settleMs = opts.settleMs ?? 25;
    this.#allowWorldWritable = opts.allowWorldWritable ?? false;
    this.#preferred = [...(opts.preferred ?? [])];
    this.#state = opts.state ? new StateWriter(opts.state, opts.dir) : null;
    this.#health = new DirHealth(opts.dir, this.#allowWorldWritable);
    this.#core = new FlagCore({ quietMs: this.#quietMs, settleMs: this.#settleMs }, this.#values);
    this.#watcher =
      opts.events === false
        ? null
        : new DirWatcher(opts.dir, { hint: (name, rename) => this.#hint(name, rename), entry: () => this.#onEntry() });
  }

  /** The current snapshot (EMPTY_SNAPSHOT before start). */
  get snapshot(): FlagSnapshot {
    return this.#values.snapshot;
  }

  /** Watch mode, rescan count and time, and why watching is degraded (null when fine). */
  get watcherStatus(): WatcherStatus {
    const all = [this.#health.problem, this.#watcher?.problem ?? null, this.#state?.problem ?? null].filter((p) => p !== null);
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
   *
   * The start-up pass reads each file once. The second read protects a published value from a
   * write in progress; at start nothing is published yet, and the watch is armed before the pass,
   * so a write during start arrives as a hint, which drops the first reading and has the file read
   * twice like any later change. A first reading is accepted only after ≥ 1 ms and a turn of the
   * event loop with no hint for it. Without events (polling, or `events: false`) the start-up pass
   * reads twice. An empty file still holds `settleMs` before it counts as a touch (its re-read
   * after the hold is verified like any other).
   *
   * Nothing is served before every flag file has been read once (a pass over at most 10,000 names
   * always ends; serving earlier would apply "unset", which no writer wrote, to the flags not read
   * yet). Files that keep changing, or that must settle, are waited for up to START_LIMIT_MS in
   * all, and at least long enough for an empty file to settle as a touch; they are applied when
   * they settle.
   */
  async start(): Promise<void> {
    const dir = inspectDir(this.#dir);
    if (worldWritableProblem(this.#dir, dir, this.#allowWorldWritable)) {
      const reason = 'the flags directory is world-writable: anyone could steer traffic (chmod o-w it, or set flags.allowWorldWritable: true)';
      throw new FlagmanError('FLAG_DIR', reason, { file: this.#dir });
    }
    this.#health.note(dir, () => true);
    // A missing directory at start unsets every flag, whatever the state file remembers.
    if (dir.kind === 'present') this.#restore();
    await this.#watcher?.rearm();
    const started = Date.now();
    this.#core.readAll();
    const loaded = new Promise<void>((resolve) => (this.#loaded = resolve));
    const idle = new Promise<void>((resolve) => this.#idle.push(resolve));
    this.#schedule(0);
    await loaded;
    const left = Math.max(START_LIMIT_MS - (Date.now() - started), 4 * this.#settleMs);
    await Promise.race([idle, delay(left, undefined, { ref: false })]);
    if (this.#closed) return;
    this.#initial = false;
    // Past START_LIMIT_MS with readings still waiting: from now on they are read twice.
    this.#core.rereadAll();
    this.#values.takeDue(false); // the first snapshot says it all
    this.#values.publish();
    this.#state?.save(this.#values.snapshot.flags);
    log.info({ event: 'flags.loaded', dir: this.#dir, flags: this.#values.size }, `flags loaded from ${this.#dir}`);
    // The backstop rescan was armed when the start-up pass ended.
  }

  /** Flags a reloaded config reads: tracked first from the next pass on. */
  prefer(names: Iterable<string>): void {
    this.#preferred = [...names];
  }

  /**
   * Stops watching and rescanning, and writes the state file one last time (unless `saveState` is
   * false: a store replaced by one for another directory must not overwrite the new one's state).
   */
  async close({ saveState = true } = {}): Promise<void> {
    this.#closed = true;
    for (const t of [this.#timer, this.#rescanTimer, this.#holdTimer]) if (t) clearTimeout(t);
    for (const resolve of this.#idle.splice(0)) resolve();
    this.#loaded?.();
    await this.#watcher?.close();
    if (saveState) await this.#state?.flush();
  }

  // Seeds the values with the state file's, before the start-up pass reads the files: a file
  // that is empty or invalid then keeps the persisted value (decide.ts), a missing one is unset
  // once its absence has held, and a file with a value simply has it.
  #restore(): void {
    if (!this.#state) return;
    const file = this.#state.file;
    const { flags, problem, status } = loadState(file, this.#dir);
    if (status === 'ok') log.info({ event: 'flags.state', file, flags: flags.size, problem }, `state file ${file} read: ${flags.size} flag value(s) remembered`);
    else if (status === 'missing') log.info({ event: 'flags.state', file, problem }, `${problem}: flags start from their files alone`);
    else log.warn({ event: 'flags.state', file, problem }, `${problem}: flags start from their files alone`);
    let n = 0;
    for (const [name, entry] of flags) if (n++ < MAX_FLAGS) this.#values.set(name, entry);
  }

  // A hint from the watcher: the core decides what it means (core.ts).
  #hint(name: string | null, rename: boolean): void {
    if (this.#closed) return;
    if (this.#core.hint(name, rename, performance.now())) this.#schedule(this.#quietMs);
  }

  #onEntry(): void {
    if (this.#closed) return;
    this.#core.entry(performance.now());
    this.#schedule(this.#quietMs);
  }

  // The hold timer: at the earliest due hold (+1 ms: timers count whole milliseconds), the due
  // holds are read again at once, even while a pass keeps the store busy. `at` null: re-arm for
  // the earliest hold, or stop when there is none; else arm for `at` unless the timer fires sooner.
  #armHolds(at: number | null): void {
    if (this.#closed) return;
    if (at === null) {
      if (this.#holdTimer) clearTimeout(this.#holdTimer);
      this.#holdTimer = null;
      at = this.#core.holdsDueAt();
      if (at === null) return;
    } else if (this.#holdTimer !== null && this.#holdTimerAt <= at) {
      return;
    }
    if (this.#holdTimer) clearTimeout(this.#holdTimer);
    this.#holdTimerAt = at;
    this.#holdTimer = setTimeout(() => {
      this.#holdTimer = null;
      const { any, next } = this.#core.holdsDue(performance.now());
      if (next !== null) this.#armHolds(next);
      if (any) this.#schedule(0);
    }, Math.max(0, at - performance.now()) + 1);
  }

  #schedule(ms: number): void {
    if (this.#closed || this.#running || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#run();
    }, ms);
  }

  #busy(): boolean {
    return this.#core.size > 0 || this.#core.allDirty || this.#sweep !== null || this.#values.unpublished;
  }

  async #run(): Promise<void> {
    if (this.#running || this.#closed) return;
    this.#running = true;
    try {
      for (let wait = this.#step(); wait !== null && !this.#closed; wait = this.#step()) {
        // Always through the event loop: requests are served and events arrive between steps.
        if (wait > 0) await delay(wait);
        else await yieldLoop();
        if (this.#closed) return;
      }
    } catch (err) {
      log.error({ event: 'flags.error', err }, 'flag processing failed');
      // A failed pass is over; the backstop starts the next one.
      if (this.#sweep) this.#endSweep(null);
    } finally {
      this.#running = false;
    }
    if (this.#closed) return;
    this.#checkLoaded();
    this.#armHolds(null);
    if (this.#busy()) this.#schedule(this.#quietMs);
    else if (this.#core.holding === 0 && !this.#listing) for (const resolve of this.#idle.splice(0)) resolve();
  }

  // One step (see the top of this file); returns how long to wait before the next, or null when
  // there is nothing left to do.
  #step(): number | null {
    const dir = inspectDir(this.#dir);
    const verdict = this.#health.note(dir, () => listFlagNames(this.#dir).length > 0);
    // Replaced, or an event on the directory's own entry: re-arm (core.ts says why).
    const { rearm } = this.#core.looked({ ...verdict, present: dir.kind === 'present' }, performance.now(), this.#initial);
    if (rearm) void this.#watcher?.rearm().catch(() => undefined);
    if (this.#core.takeAllDirty()) {
      if (this.#sweep || this.#listing) this.#again = true;
      else this.#startSweep(dir);
    }
    if (!verdict.safe) {
      // Nothing is applied; `resumed` makes the first safe step read everything again.
      this.#core.unsafe();
      if (this.#sweep) this.#endSweep(null); // the backstop keeps looking at the directory
      this.#publishDue(); // what was applied while it was safe
      return null;
    }
    const real = dir.kind === 'present' ? dir.real : this.#dir;
    this.#verify(real, verdict);
    this.#publishDue(); // before reading on: routing need not wait for that
    if (this.#core.dirtyDue(performance.now())) this.#readDirty(real, performance.now() + STEP_BUDGET_MS);
    else if (this.#sweep) this.#readSweep(real, dir);
    this.#publishDue();
    this.#checkLoaded();
    return this.#nextWait();
  }

  // Verifies the first readings that are old enough: reads each again (unless taken by the
  // start-up pass) and applies what the core decides.
  #verify(real: string, verdict: DirVerdict): void {
    const due = this.#core.dueVerifications(performance.now());
    if (due.length === 0) return;
    const seconds = due.map((v) => (v.reread ? this.#read(v.name, real) : null));
    const changes: FlagChange[] = [];
    let touched = false;
    const stamp = this.#initial ? null : Date.now();
    due.forEach((v: DueVerification, i) => {
      const update = this.#core.secondReading(v, seconds[i] ?? null, verdict.there, performance.now(), stamp);
      if (update) touched = this.#applied(update, changes) || touched;
    });
    if (touched) this.#values.applied(changes);
  }

  // Takes the first readings of the dirty names, until `end` (performance.now()).
  #readDirty(real: string, end: number): void {
    for (let name = this.#core.takeDirty(); name !== undefined; name = this.#core.takeDirty()) {
      this.#look(name, real, true);
      if (performance.now() >= end) break;
    }
  }

  // The first reading of `name`, handed to the core.
  #look(name: string, real: string, reread: boolean): void {
    const seen = this.#read(name, real);
    this.#core.firstReading(name, seen, performance.now(), reread);
  }

  // Reads `name`: the quick way if it was a regular file when last read (read.ts), else carefully.
  #read(name: string, real: string): Observed {
    const { read, linked } = readFlag(this.#dir, real, name, this.#plain.has(name));
    if (read.kind === 'file' && !linked) this.#plain.add(name);
    else this.#plain.delete(name);
    return observe(read);
  }

  // Publishes what was applied, unless a burst of events is still being read (values.ts).
  #publishDue(): void {
    const changes = this.#values.takeDue(this.#core.size > 0);
    if (changes) this.#publish(changes);
  }

  #readSweep(real: string, dir: DirState): void {
    const sweep = this.#sweep;
    if (!sweep) return;
    const t0 = performance.now();
    // At start a single read will do (see start()), as long as events tell of writes meanwhile.
    const reread = !this.#initial || this.#watcher?.mode !== 'events';
    for (let name = sweep.next(); name !== undefined; name = sweep.next()) {
      // Dirty or waiting: an event has it read (twice) already.
      if (this.#core.claimed(name)) continue;
      this.#look(name, real, reread);
      if (performance.now() - t0 >= STEP_BUDGET_MS) break;
    }
    sweep.addBusy(performance.now() - t0);
    if (sweep.done) this.#endSweep(dir);
  }

  #nextWait(): number | null {
    if (this.#core.allDirty || this.#sweep) return 0;
    const wait = Math.min(this.#core.dueIn(performance.now()), this.#values.dueIn());
    return wait === Infinity ? null : wait;
  }

  // Starts a pass: lists the directory, then reads every tracked and listed name.
  #startSweep(dir: DirState): void {
    // Whatever started this pass, it is the backstop's too: its timer restarts when the pass ends.
    if (this.#rescanTimer) clearTimeout(this.#rescanTimer);
    this.#rescanTimer = null;
    if (dir.kind !== 'present') {
      this.#beginSweep([]);
      return;
    }
    this.#listing = true;
    void listFlagsAsync(this.#dir, this.#initial).then(({ names, files }) => {
      this.#listing = false;
      if (this.#closed) return;
      // At start no name has been read yet: the listing tells which are plain files (read.ts).
      for (const name of files) this.#plain.add(name);
      this.#beginSweep(names);
      this.#schedule(0);
    });
  }

  #beginSweep(listed: readonly string[]): void {
    const t0 = performance.now();
    this.#sweep = new Sweep(this.#everyName(listed), performance.now() - t0);
  }

  // Ends the pass; `next`: start the next one at once if everything must be read again (else
  // the backstop's timer starts it).
  #endSweep(next: DirState | null): void {
    const busyMs = this.#sweep?.busyMs ?? 0;
    this.#sweep = null;
    this.#firstPassEnded = true;
    const again = this.#again && next !== null;
    this.#again = false;
    if (again && next) this.#startSweep(next);
    else this.#armRescan(backstopPause(this.#rescanMs, busyMs));
  }

  // start() may go on once the start-up pass has ended and none of its readings is still waiting.
  #checkLoaded(): void {
    if (!this.#loaded || !this.#firstPassEnded) return;
    if (this.#core.waitingUnverified()) return;
    this.#loaded();
    this.#loaded = null;
  }

  // Carries out what the core did with a verified observation; true when the snapshot must change.
  #applied(update: Update, changes: FlagChange[]): boolean {
    if (update.kind === 'hold') {
      this.#armHolds(update.due);
      return false;
    }
    if (update.kind === 'excess') {
      this.#health.noteExcess(1, update.name);
      return false;
    }
    const { name, before, entry, change } = update;
    if (change) changes.push(change);
    // While loading at start only problems are worth a line; `flags.loaded` sums up the rest.
    if (!this.#initial || entry?.problem) logUpdate(name, before, entry, change !== null);
    return true;
  }

  #publish(changes: FlagChange[]): void {
    if (this.#initial) return; // start() publishes the first snapshot whole
    const snapshot = this.#values.publish();
    this.#state?.save(snapshot.flags);
    logChanges(changes);
    try {
      this.emit('change', snapshot, changes);
    } catch (err) {
      // A listener's bug must not stop the flags from being watched.
      log.error({ event: 'flags.listener_error', err }, 'a flag change listener threw');
    }
  }

  // The names the pass reads (dir.ts, passNames); the excess over MAX_FLAGS is reported.
  #everyName(listed: readonly string[]): string[] {
    const tracked = [...this.#values.names(), ...this.#core.trackedNames()];
    const { names, excess } = passNames(tracked, listed, this.#preferred);
    this.#health.noteExcess(excess);
    return names;
  }

  #armRescan(ms: number): void {
    if (this.#rescanMs <= 0 || this.#closed) return;
    if (this.#rescanTimer) clearTimeout(this.#rescanTimer);
    this.#rescanTimer = setTimeout(() => {
      this.#rescanTimer = null;
      this.#rescans++;
      this.#lastRescanAt = Date.now();
      this.#core.readAll();
      this.#schedule(0);
    }, ms);
  }
}
