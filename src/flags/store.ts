// The live flag values of one directory, published as immutable snapshots (STYLE 2).
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
// run, and file-system events arrive as hints). Each step:
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
import { FlagmanError } from '../errors.js';
import { events as log } from '../log.js';
import { logChanges, logUpdate } from './audit.js';
import { decide, nextEntry, observe, sameObserved, type Observed } from './decide.js';
import { capNames, inspectDir, listFlagNames, MAX_FLAGS, START_LIMIT_MS, worldWritableProblem, type DirState } from './dir.js';
import { DirHealth, type DirVerdict } from './health.js';
import { Holds } from './holds.js';
import { isFlagName } from './parse.js';
import { readFlag, type FlagRead } from './read.js';
import type { FlagChange, FlagSnapshot } from './snapshot.js';
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
  /** Accept a world-writable flags directory (SPEC §1.5). Default false. */
  readonly allowWorldWritable?: boolean;
  /** Flags the config reads: tracked first, so the 10,000-flag limit never leaves one of them out. */
  readonly preferred?: Iterable<string>;
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

// A first reading is verified ~1 ms after it was taken (by one 1 ms timer, as the old `delay(1)`),
// always in a later step, after a turn of the event loop: an event for a write still in progress
// has arrived by then. Node's timers count whole milliseconds of a clock read once per loop turn,
// so a 1 ms timer can fire when performance.now() says only ~0.5 ms have passed; asking for a full
// 1 ms by that clock would often take a second timer, +1 ms on every change.
const VERIFY_AFTER_MS = 0.5;
// The same slack for the quiet time after a hint, which only lets a burst of hints coalesce.
const QUIET_SLACK_MS = 1;

/** A first reading that would change something, waiting to be verified. */
interface Pending {
  readonly seen: Observed;
  /** performance.now() when it was read. */
  readonly at: number;
  /** false: accepted without a second read (the start-up pass; see start()). */
  readonly reread: boolean;
}

/** Watches a flags directory and publishes a new snapshot whenever a value, note or problem changes. */
export class FlagStore extends EventEmitter<FlagStoreEvents> {
  readonly #dir: string;
  readonly #rescanMs: number;
  readonly #quietMs: number;
  readonly #settleMs: number;
  readonly #allowWorldWritable: boolean;
  readonly #preferred: readonly string[];
  readonly #health: DirHealth;
  readonly #watcher: DirWatcher | null;
  /** The applied values and the published snapshot. */
  readonly #values = new FlagValues();
  /** Flags seen empty (while unset) or missing, waiting out the settle time. */
  readonly #holds: Holds;
  /** Names with a rename/delete event since last seen present: evidence for "file removed". */
  readonly #renamed = new Set<string>();
  readonly #dirty = new Set<string>();
  /** When the dirty names may be read (performance.now()); null while none is dirty. */
  #dirtyAt: number | null = null;
  /** Everything must be read again: a pass starts at the next step, or after the one running. */
  #allDirty = false;
  /** Another pass follows the one running, at once. */
  #again = false;
  /** First readings waiting for their verification, oldest first. */
  readonly #pending = new Map<string, Pending>();
  /** The full pass in progress, if any. */
  #sweep: Sweep | null = null;
  /** The directory is being listed for the next pass (off the event loop, see sweep.ts). */
  #listing = false;
  /** Names last read as a regular file (not through a symlink): read.ts's quick path is for them. */
  readonly #plain = new Set<string>();
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

  constructor(opts: FlagStoreOptions) {
    super();
    this.#dir = opts.dir;
    this.#rescanMs = opts.rescanMs;
    this.#quietMs = opts.quietMs ?? 2;
    this.#settleMs = opts.settleMs ?? 25;
    this.#allowWorldWritable = opts.allowWorldWritable ?? false;
    this.#preferred = [...(opts.preferred ?? [])];
    this.#health = new DirHealth(opts.dir, this.#allowWorldWritable);
    this.#holds = new Holds(this.#settleMs, (due) => {
      const now = performance.now();
      for (const name of due) this.#markDirty(name, now);
      this.#schedule(0);
    });
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
    for (const [name, p] of this.#pending) if (!p.reread) this.#pending.set(name, { ...p, reread: true });
    this.#values.takeDue(false); // the first snapshot says it all
    this.#values.publish();
    log.info({ event: 'flags.loaded', dir: this.#dir, flags: this.#values.size }, `flags loaded from ${this.#dir}`);
    // The backstop rescan was armed when the start-up pass ended.
  }

  /** Stops watching and rescanning. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of [this.#timer, this.#rescanTimer]) if (t) clearTimeout(t);
    this.#holds.close();
    for (const resolve of this.#idle.splice(0)) resolve();
    this.#loaded?.();
    await this.#watcher?.close();
  }

  // The preferred names that have a file: one that does not exist must not take a tracked slot.
  #present(preferred: readonly string[], listed: readonly string[]): string[] {
    if (preferred.length === 0) return [];
    const there = new Set(listed);
    return preferred.filter((n) => there.has(n));
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
      if (name === null) this.#restartPending();
    } else if (isFlagName(name)) {
      this.#markDirty(name, performance.now() + this.#quietMs);
      // Any event restarts a hold: an empty or missing state counts only while nothing happens.
      this.#holds.end(name);
      // A first reading taken before this event proves nothing: read again.
      this.#pending.delete(name);
      if (rename) this.#renamed.add(name);
    } else {
      return;
    }
    this.#schedule(this.#quietMs);
  }

  // Drops the waiting first readings and has those flags read again, twice.
  #restartPending(): void {
    const at = performance.now() + this.#quietMs;
    for (const name of this.#pending.keys()) this.#markDirty(name, at);
    this.#pending.clear();
  }

  // Marks `name` for reading no sooner than `at` (or sooner, when other dirty names are due).
  #markDirty(name: string, at: number): void {
    this.#dirty.add(name);
    this.#dirtyAt = Math.min(this.#dirtyAt ?? at, at);
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
    return this.#dirty.size > 0 || this.#allDirty || this.#sweep !== null || this.#pending.size > 0 || this.#values.unpublished;
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
      this.#restartPending(); // first readings of another directory
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
      this.#dirty.clear();
      this.#dirtyAt = null;
      this.#pending.clear();
      this.#holds.clear();
      if (this.#sweep) this.#endSweep(null); // the backstop keeps looking at the directory
      this.#publishDue(); // what was applied while it was safe
      return null;
    }
    const real = dir.kind === 'present' ? dir.real : this.#dir;
    this.#verify(real, verdict);
    this.#publishDue(); // before reading on: routing need not wait for that
    if (this.#dirtyAt !== null && performance.now() >= this.#dirtyAt - QUIET_SLACK_MS) this.#readDirty(real);
    else if (this.#sweep) this.#readSweep(real, dir);
    this.#publishDue();
    this.#checkLoaded();
    return this.#nextWait();
  }

  // Verifies the first readings that are old enough: read again (unless taken by the start-up
  // pass); applied when both agree. A hint since has already dropped the reading.
  #verify(real: string, verdict: DirVerdict): void {
    const due = performance.now() - VERIFY_AFTER_MS;
    const changes: FlagChange[] = [];
    let touched = false;
    for (const [name, p] of this.#pending) {
      if (p.at > due) break; // oldest first: the rest are younger
      this.#pending.delete(name);
      let seen = p.seen;
      if (p.reread) {
        seen = observe(this.#read(name, real));
        if (!sameObserved(p.seen, seen)) {
          // Still changing: let it go quiet before reading again.
          this.#markDirty(name, performance.now() + this.#quietMs);
          continue;
        }
      }
      // A missing file means "removed" with the directory there, or with a delete event for that
      // very file (`rm -rf flags` unsets flags as their files go; a directory renamed away or
      // unmounted keeps them).
      if (seen.kind === 'missing' && !verdict.there && !this.#renamed.has(name)) continue;
      touched = this.#apply(name, seen, changes) || touched;
    }
    if (touched) this.#values.applied(changes);
  }

  // Publishes what was applied, unless a burst of events is still being read (values.ts).
  #publishDue(): void {
    const changes = this.#values.takeDue(this.#dirty.size > 0 || this.#pending.size > 0);
    if (changes) this.#publish(changes);
  }

  #readDirty(real: string): void {
    const end = performance.now() + STEP_BUDGET_MS;
    for (const name of this.#dirty) {
      this.#dirty.delete(name);
      this.#look(name, real, true);
      if (performance.now() >= end) break;
    }
    if (this.#dirty.size === 0) this.#dirtyAt = null;
  }

  #readSweep(real: string, dir: DirState): void {
    const sweep = this.#sweep;
    if (!sweep) return;
    const t0 = performance.now();
    // At start a single read will do (see start()), as long as events tell of writes meanwhile.
    const reread = !this.#initial || this.#watcher?.mode !== 'events';
    for (let name = sweep.next(); name !== undefined; name = sweep.next()) {
      // Dirty or waiting: an event has it read (twice) already.
      if (this.#dirty.has(name) || this.#pending.has(name)) continue;
      this.#look(name, real, reread);
      if (performance.now() - t0 >= STEP_BUDGET_MS) break;
    }
    sweep.addBusy(performance.now() - t0);
    if (sweep.done) this.#endSweep(dir);
  }

  // Reads `name`: the quick way if it was a regular file when last read (read.ts), else carefully.
  #read(name: string, real: string): FlagRead {
    const { read, linked } = readFlag(this.#dir, real, name, this.#plain.has(name));
    if (read.kind === 'file' && !linked) this.#plain.add(name);
    else this.#plain.delete(name);
    return read;
  }

  // The first reading of `name`: nothing to do, or a reading to verify in a later step.
  #look(name: string, real: string, reread: boolean): void {
    const seen = observe(this.#read(name, real));
    if (seen.kind !== 'missing') this.#renamed.delete(name);
    if (decide(this.#values.get(name), seen, this.#holds.held(name)).kind === 'none') {
      this.#holds.end(name);
      if (seen.kind === 'missing') this.#renamed.delete(name);
      return;
    }
    this.#pending.delete(name); // re-inserted last: the map stays oldest first
    this.#pending.set(name, { seen, at: performance.now(), reread });
  }

  #nextWait(): number | null {
    if (this.#allDirty || this.#sweep) return 0;
    const now = performance.now();
    let wait = this.#dirtyAt === null ? Infinity : Math.max(0, this.#dirtyAt - QUIET_SLACK_MS - now);
    wait = Math.min(wait, this.#values.dueIn());
    for (const p of this.#pending.values()) {
      wait = Math.min(wait, Math.max(0, p.at + VERIFY_AFTER_MS - now));
      break; // the oldest decides
    }
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
    for (const p of this.#pending.values()) if (!p.reread) return;
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
    if (!entry) this.#renamed.delete(name);
    if (change) changes.push(change);
    // While loading at start only problems are worth a line; `flags.loaded` sums up the rest.
    if (!this.#initial || entry?.problem) logUpdate(name, cur, entry, change !== null);
    return true;
  }

  #publish(changes: FlagChange[]): void {
    if (this.#initial) return; // start() publishes the first snapshot whole
    const snapshot = this.#values.publish();
    logChanges(changes);
    try {
      this.emit('change', snapshot, changes);
    } catch (err) {
      // A listener's bug must not stop the flags from being watched.
      log.error({ event: 'flags.listener_error', err }, 'a flag change listener threw');
    }
  }

  // Every tracked name and every listed flag file, up to MAX_FLAGS; the excess is reported, not
  // tracked. Within the limit every name is read and the order does not matter; only beyond it
  // does capNames decide, preferred names first (sorting 10,000 names on every pass would block
  // the event loop for 5–10 ms).
  #everyName(listed: readonly string[]): string[] {
    const tracked = [...this.#values.names(), ...this.#holds.names(), ...this.#dirty];
    const all = new Set(tracked);
    for (const name of listed) all.add(name);
    if (all.size <= MAX_FLAGS) {
      this.#health.noteExcess(0);
      return [...all];
    }
    const { names, excess } = capNames([...this.#present(this.#preferred, listed), ...tracked], listed);
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
