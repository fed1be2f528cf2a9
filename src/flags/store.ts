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
// One loop does all the work in short steps, and yields to the event loop between them (requests
// run, and file-system events arrive as hints). readings.ts keeps the dirty names and the first
// readings; this file decides when to read what, applies and publishes. Each step:
//   1. looks at the directory: there, replaced (everything is read again), safe (if not, drops all);
//   2. verifies the first readings that are ~1 ms old: reads each again, applies what agrees;
//   3. reads dirty names whose quiet time is over, for up to STEP_BUDGET_MS; only when there are
//      none, 4. reads the pass's next names, for up to STEP_BUDGET_MS;
//   5. publishes what was applied (values.ts may hold it back for a burst), also right after 2.
// So a hint waits for at most one step of a pass (~1 ms), never for the whole pass. A pass is
// never restarted: when everything must be read again meanwhile, it runs to its end and another
// pass follows at once (so a stream of `..` events cannot keep a pass from ever finishing). The
// backstop pass starts `rescanMs` after the previous pass *ended* (longer after an expensive pass:
// sweep.ts, backstopPause), never on top of one.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldLoop, setTimeout as delay } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import { FlagmanError } from '../errors.js';
import { events as log } from '../log.js';
import { logChanges, logUpdate } from './audit.js';
import { decide, nextEntry, type Observed } from './decide.js';
import { inspectDir, listFlagNames, MAX_FLAGS, passNames, START_LIMIT_MS, worldWritableProblem, type DirState } from './dir.js';
import { DirHealth, type DirVerdict } from './health.js';
import { Holds } from './holds.js';
import { isFlagName } from './parse.js';
import { Readings } from './readings.js';
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
  /** Flags seen empty (while unset) or missing, waiting out the settle time. */
  readonly #holds: Holds;
  /** Dirty names, first readings waiting for verification, removal evidence. */
  readonly #readings: Readings;
  /** Everything must be read again: a pass starts at the next step, or after the one running. */
  #allDirty = false;
  /** Another pass follows the one running, at once. */
  #again = false;
  /** The full pass in progress, if any. */
  #sweep: Sweep | null = null;
  /** The directory is being listed for the next pass (off the event loop, see sweep.ts). */
  #listing = false;
  /** The directory's entry in its parent changed since the last step (see #step). */
  #entryMoved = false;
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
    this.#holds = new Holds(this.#settleMs, (due) => {
      const now = performance.now();
      for (const name of due) this.#readings.markDirty(name, now);
      this.#schedule(0);
    });
    this.#readings = new Readings(opts.dir, this.#quietMs, this.#holds, (name) => this.#values.get(name));
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
    this.#allDirty = true;
    const loaded = new Promise<void>((resolve) => (this.#loaded = resolve));
    const idle = new Promise<void>((resolve) => this.#idle.push(resolve));
    this.#schedule(0);
    await loaded;
    const left = Math.max(START_LIMIT_MS - (Date.now() - started), 4 * this.#settleMs);
    await Promise.race([idle, delay(left, undefined, { ref: false })]);
    if (this.#closed) return;
    this.#initial = false;
    // Past START_LIMIT_MS with readings still waiting: from now on they are read twice.
    this.#readings.rereadAll();
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
    for (const t of [this.#timer, this.#rescanTimer]) if (t) clearTimeout(t);
    this.#holds.close();
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

  #hint(name: string | null, rename: boolean): void {
    if (this.#closed) return;
    if (name === null || name.startsWith('..')) {
      this.#allDirty = true;
      // An event with no name may be about any flag: no waiting first reading proves anything.
      // A `..` name (a ConfigMap's `..data` swapped) only changes which complete file a symlink
      // resolves to (kubelet writes the new files before the swap), never a file in place: a first
      // reading and an agreeing second one stay good. Dropping them would let a stream of `..`
      // events keep every change from being verified.
      if (name === null) this.#readings.restart();
    } else if (isFlagName(name)) {
      this.#readings.hinted(name, rename);
    } else {
      return;
    }
    this.#schedule(this.#quietMs);
  }

  #onEntry(): void {
    this.#entryMoved = true;
    this.#hint(null, false);
  }

  #schedule(ms: number): void {
    if (this.#closed || this.#running || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#run();
    }, ms);
  }

  #busy(): boolean {
    return this.#readings.size > 0 || this.#allDirty || this.#sweep !== null || this.#values.unpublished;
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
    this.#holds.rearm();
    if (this.#busy()) this.#schedule(this.#quietMs);
    else if (this.#holds.size === 0 && !this.#listing) for (const resolve of this.#idle.splice(0)) resolve();
  }

  // One step (see the top of this file); returns how long to wait before the next, or null when
  // there is nothing left to do.
  #step(): number | null {
    const dir = inspectDir(this.#dir);
    const verdict = this.#health.note(dir, () => listFlagNames(this.#dir).length > 0);
    if (verdict.replaced || verdict.resumed) {
      this.#allDirty = true;
      this.#readings.restart(); // first readings of another directory
    }
    // Replaced: deleted and recreated, or a symlink re-pointed; the old inotify watch is dead.
    // An event on the directory's own entry counts as replaced too: `rm -rf flags; mkdir flags`
    // on ext4 often hands the new directory the old inode number, so identity alone can miss it.
    const entryMoved = this.#entryMoved;
    this.#entryMoved = false;
    if ((verdict.replaced || entryMoved) && dir.kind === 'present' && !this.#initial) void this.#watcher?.rearm().catch(() => undefined);
    if (this.#allDirty) {
      this.#allDirty = false;
      if (this.#sweep || this.#listing) this.#again = true;
      else this.#startSweep(dir);
    }
    if (!verdict.safe) {
      // Nothing is applied; `resumed` makes the first safe step read everything again.
      this.#readings.clear();
      this.#holds.clear();
      if (this.#sweep) this.#endSweep(null); // the backstop keeps looking at the directory
      this.#publishDue(); // what was applied while it was safe
      return null;
    }
    const real = dir.kind === 'present' ? dir.real : this.#dir;
    this.#verify(real, verdict);
    this.#publishDue(); // before reading on: routing need not wait for that
    if (this.#readings.dirtyDue()) this.#readings.readDirty(real, performance.now() + STEP_BUDGET_MS);
    else if (this.#sweep) this.#readSweep(real, dir);
    this.#publishDue();
    this.#checkLoaded();
    return this.#nextWait();
  }

  // Applies the verified first readings (readings.ts).
  #verify(real: string, verdict: DirVerdict): void {
    const changes: FlagChange[] = [];
    let touched = false;
    for (const { name, seen } of this.#readings.verify(real, verdict.there)) touched = this.#apply(name, seen, changes) || touched;
    if (touched) this.#values.applied(changes);
  }

  // Publishes what was applied, unless a burst of events is still being read (values.ts).
  #publishDue(): void {
    const changes = this.#values.takeDue(this.#readings.size > 0);
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
      if (this.#readings.claimed(name)) continue;
      this.#readings.look(name, real, reread);
      if (performance.now() - t0 >= STEP_BUDGET_MS) break;
    }
    sweep.addBusy(performance.now() - t0);
    if (sweep.done) this.#endSweep(dir);
  }

  #nextWait(): number | null {
    if (this.#allDirty || this.#sweep) return 0;
    const wait = Math.min(this.#readings.dueIn(), this.#values.dueIn());
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
      for (const name of files) this.#readings.notePlain(name);
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
    if (this.#readings.waitingUnverified()) return;
    this.#loaded();
    this.#loaded = null;
  }

  // Applies a verified observation; true when the snapshot must change.
  #apply(name: string, seen: Observed, changes: FlagChange[]): boolean {
    const cur = this.#values.get(name);
    const d = decide(cur, seen, this.#holds.held(name));
    if (d.kind === 'hold') {
      this.#holds.begin(name);
      return false;
    }
    this.#holds.end(name);
    if (d.kind === 'none') return false;
    if (cur === undefined && this.#values.size >= MAX_FLAGS) {
      this.#health.noteExcess(1, name);
      return false;
    }
    const { entry, change } = nextEntry(name, cur, d, this.#initial ? null : Date.now());
    this.#values.set(name, entry);
    if (!entry) this.#readings.removed(name);
    if (change) changes.push(change);
    // While loading at start only problems are worth a line; `flags.loaded` sums up the rest.
    if (!this.#initial || entry?.problem) logUpdate(name, cur, entry, change !== null);
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
    const tracked = [...this.#values.names(), ...this.#holds.names(), ...this.#readings.dirtyNames()];
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
      this.#allDirty = true;
      this.#schedule(0);
    }, ms);
  }
}
