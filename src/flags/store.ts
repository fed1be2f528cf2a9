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
// Where each part lives: the decisions are core.ts's, a pure module (the time and the readings are
// passed in), which has the orderings in detail; the order of the work — the step loop, the
// passes, the hold and backstop timers, when to publish — is steps.ts's, which takes its effects
// through an interface (StepIo). This file is the driver: the real implementations of those
// effects (reads and listings of the file system, the directory's health, the watcher, real
// timers, logging, publishing the snapshot and the state file) and the start-up sequence. The
// fuzzer (test/fuzz/flags.js) runs the same steps.ts over a simulated directory and a fake clock.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import { FlagmanError } from '../errors.js';
import { events as log } from '../log.js';
import { logChanges, logUpdate } from './audit.js';
import { observe, type Observed } from './decide.js';
import { inspectDir, listFlagNames, MAX_FLAGS, START_LIMIT_MS, worldWritableProblem } from './dir.js';
import { DirHealth } from './health.js';
import { readFlag } from './read.js';
import type { FlagChange, FlagSnapshot } from './snapshot.js';
import { loadState } from './state.js';
import { StateWriter } from './state-writer.js';
import { FlagSteps, type StepIo } from './steps.js';
import { listFlagsAsync } from './sweep.js';
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
  /** How long start() waits in all for files still settling, ms (default START_LIMIT_MS). */
  readonly startLimitMs?: number;
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
  return new FlagStore({
    dir: flags.dir,
    rescanMs: flags.rescan,
    allowWorldWritable: flags.allowWorldWritable,
    preferred,
    state: flags.state,
  });
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
  readonly #settleMs: number;
  readonly #startLimitMs: number;
  readonly #allowWorldWritable: boolean;
  readonly #health: DirHealth;
  readonly #watcher: DirWatcher | null;
  /** The applied values and the published snapshot. */
  readonly #values = new FlagValues();
  /** The step loop (steps.ts), on this file system, watcher and clock. */
  readonly #steps: FlagSteps;
  /** Names last read as a regular file (not through a symlink): read.ts's quick path is for them. */
  readonly #plain = new Set<string>();
  /** The directory as the step loop last looked at it: reads resolve in `#real`. */
  #real: string;
  #closed = false;
  #idle: Array<() => void> = [];
  /** Resolves start() once the start-up pass has ended and its readings are applied. */
  #loaded: (() => void) | null = null;
  /** Writes the state file after each published snapshot; null: no state file. */
  readonly #state: StateWriter | null;

  constructor(opts: FlagStoreOptions) {
    super();
    this.#dir = opts.dir;
    this.#real = opts.dir;
    this.#settleMs = opts.settleMs ?? 25;
    this.#startLimitMs = opts.startLimitMs ?? START_LIMIT_MS;
    this.#allowWorldWritable = opts.allowWorldWritable ?? false;
    this.#state = opts.state ? new StateWriter(opts.state, opts.dir) : null;
    this.#health = new DirHealth(opts.dir, this.#allowWorldWritable);
    const steps = { quietMs: opts.quietMs ?? 2, settleMs: this.#settleMs, rescanMs: opts.rescanMs, initial: true };
    this.#steps = new FlagSteps(steps, this.#values, this.#io());
    this.#steps.preferred = [...(opts.preferred ?? [])];
    this.#watcher =
      opts.events === false
        ? null
        : new DirWatcher(opts.dir, { hint: (name, rename) => this.#steps.hint(name, rename), entry: () => this.#steps.entry() });
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
      rescans: this.#steps.rescans,
      lastRescanAt: this.#steps.lastRescanAt,
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
      const reason =
        'the flags directory is world-writable: anyone could steer traffic (chmod o-w it, or set flags.allowWorldWritable: true)';
      throw new FlagmanError('FLAG_DIR', reason, { file: this.#dir });
    }
    this.#health.note(dir, () => true);
    // A missing directory at start unsets every flag, whatever the state file remembers.
    if (dir.kind === 'present') this.#restore();
    await this.#watcher?.rearm();
    const started = Date.now();
    const loaded = new Promise<void>((resolve) => (this.#loaded = resolve));
    const idle = new Promise<void>((resolve) => this.#idle.push(resolve));
    this.#steps.begin();
    await loaded;
    const left = Math.max(this.#startLimitMs - (Date.now() - started), 4 * this.#settleMs);
    await Promise.race([idle, delay(left, undefined, { ref: false })]);
    if (this.#closed) return;
    // Past START_LIMIT_MS with readings still waiting: from now on they are read twice; what was
    // applied meanwhile goes into the first snapshot, which says it all.
    this.#steps.started();
    this.#values.publish();
    this.#state?.save(this.#values.snapshot.flags);
    log.info({ event: 'flags.loaded', dir: this.#dir, flags: this.#values.size }, `flags loaded from ${this.#dir}`);
    // The backstop rescan was armed when the start-up pass ended.
  }

  /** Flags a reloaded config reads: tracked first from the next pass on. */
  prefer(names: Iterable<string>): void {
    this.#steps.preferred = [...names];
  }

  /**
   * Stops watching and rescanning, and writes the state file one last time (unless `saveState` is
   * false: a store replaced by one for another directory must not overwrite the new one's state).
   */
  async close({ saveState = true } = {}): Promise<void> {
    this.#closed = true;
    this.#steps.close();
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
    if (status === 'ok')
      log.info(
        { event: 'flags.state', file, flags: flags.size, problem },
        `state file ${file} read: ${flags.size} flag value(s) remembered`,
      );
    else if (status === 'missing') log.info({ event: 'flags.state', file, problem }, `${problem}: flags start from their files alone`);
    else log.warn({ event: 'flags.state', file, problem }, `${problem}: flags start from their files alone`);
    let n = 0;
    for (const [name, entry] of flags) if (n++ < MAX_FLAGS) this.#values.set(name, entry);
  }

  // The step loop's effects (steps.ts) on the real directory, watcher and clock.
  #io(): StepIo {
    return {
      now: () => performance.now(),
      wallClock: () => Date.now(),
      look: () => {
        const dir = inspectDir(this.#dir);
        this.#real = dir.kind === 'present' ? dir.real : this.#dir;
        const verdict = this.#health.note(dir, () => listFlagNames(this.#dir).length > 0);
        return { ...verdict, present: dir.kind === 'present' };
      },
      read: (name) => this.#read(name),
      list: (atStart, done) => {
        void listFlagsAsync(this.#dir, atStart).then(({ names, files }) => {
          // At start no name has been read yet: the listing tells which are plain files (read.ts).
          if (!this.#closed) for (const name of files) this.#plain.add(name);
          done(names);
        });
      },
      rearm: () => void this.#watcher?.rearm().catch(() => undefined),
      byEvents: () => this.#watcher?.mode === 'events',
      setTimer: (ms, fn) => setTimeout(fn, ms),
      clearTimer: (timer) => clearTimeout(timer as NodeJS.Timeout),
      pause: (ms, fn) => void (ms > 0 ? setTimeout(fn, ms) : setImmediate(fn)),
      publish: (changes) => this.#publish(changes),
      // While loading at start only problems are worth a line; `flags.loaded` sums up the rest.
      applied: ({ name, before, entry, change }, initial) => {
        if (!initial || entry?.problem) logUpdate(name, before, entry, change !== null);
      },
      excess: (count, example) => this.#health.noteExcess(count, example),
      failed: (err) => log.error({ event: 'flags.error', err }, 'flag processing failed'),
      loaded: () => {
        this.#loaded?.();
        this.#loaded = null;
      },
      idle: () => {
        for (const resolve of this.#idle.splice(0)) resolve();
      },
    };
  }

  // Reads `name`: the quick way if it was a regular file when last read (read.ts), else carefully.
  #read(name: string): Observed {
    const { read, linked } = readFlag(this.#dir, this.#real, name, this.#plain.has(name));
    if (read.kind === 'file' && !linked) this.#plain.add(name);
    else this.#plain.delete(name);
    return observe(read);
  }

  #publish(changes: FlagChange[]): void {
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
}
