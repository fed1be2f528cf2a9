// The flag store's step loop: in which order one store does its work, and when it wakes up. It
// owns no file system, watcher or clock: it takes them through StepIo, which store.ts implements
// with the real ones and test/fuzz/flags.js with a simulated directory and a fake clock, so the
// fuzzer runs this very sequencing. The decisions inside each step are the core's (core.ts).
//
// One loop does all the work in short steps, and yields between them (requests run, and
// file-system events arrive as hints). Each step:
//   1. looks at the directory: there, replaced or its entry moved (the core says: re-arm the
//      watch, everything is read again), safe (if not, the core drops all, the pass ends, and
//      nothing more is done until it is safe again);
//   2. starts a pass when everything must be read again, or, while one runs or is being listed,
//      has another follow it;
//   3. verifies the first readings that are ~1 ms old: reads each again, the core applies what
//      agrees; publishes what is due;
//   4. reads dirty names whose quiet time is over, for up to STEP_BUDGET_MS; only when there are
//      none, 5. reads the pass's next names, for up to STEP_BUDGET_MS (ending the pass after its
//      last name);
//   6. publishes what was applied (values.ts may hold it back for a burst), and says how long to
//      wait before the next step (none: the loop stops until a hint or a timer wakes it).
// So a hint waits for at most one step of a pass (~1 ms), never for the whole pass. A pass is
// never restarted: when everything must be read again meanwhile, it runs to its end and another
// pass follows at once (so a stream of `..` events cannot keep a pass from ever finishing). The
// backstop pass starts `rescanMs` after the previous pass *ended* (longer after an expensive pass:
// sweep.ts, backstopPause), never on top of one. A hold's timer has the held flag read again when
// the settle time is over, even while a pass keeps the store busy.
import { FlagCore, type Update } from './core.js';
import type { Observed } from './decide.js';
import { passNames } from './dir.js';
import type { DirVerdict } from './health.js';
import type { FlagChange } from './snapshot.js';
import { backstopPause, STEP_BUDGET_MS, Sweep } from './sweep.js';
import type { FlagValues } from './values.js';

/** What a look at the directory found: health.ts's verdict, and whether it exists. */
export interface StepLook extends DirVerdict {
  readonly present: boolean;
}

/** A timer StepIo armed (whatever its implementation uses). */
export type StepTimer = unknown;

/** The effects the step loop needs: store.ts's real ones, or the fuzzer's simulated ones. */
export interface StepIo {
  /** The monotonic clock, ms (performance.now()). */
  now(): number;
  /** The wall clock, ms (Date.now()): a change's `changedAt`, the last rescan. */
  wallClock(): number;
  /** Looks at the directory (and judges its health); later reads in this step are in what it found. */
  look(): StepLook;
  /** Reads one flag file, in the directory as last looked at. */
  read(name: string): Observed;
  /** Lists the flag names in the directory, off the loop; `atStart`: the start-up pass's listing. */
  list(atStart: boolean, done: (names: readonly string[]) => void): void;
  /** Re-arms the watch (it hints "everything" once armed). */
  rearm(): void;
  /** True while file-system events are watched (not polling). */
  byEvents(): boolean;
  /** Calls `fn` in `ms`; clearTimer() cancels it. */
  setTimer(ms: number, fn: () => void): StepTimer;
  clearTimer(timer: StepTimer): void;
  /** Calls `fn` before the next step: after `ms`, or (0) after one turn of the event loop. */
  pause(ms: number, fn: () => void): void;
  /** Publishes the values with these changes (never while loading at start). */
  publish(changes: FlagChange[]): void;
  /** A verified observation changed a flag's entry (`initial`: while loading at start). */
  applied(update: Extract<Update, { kind: 'applied' }>, initial: boolean): void;
  /** Flag files beyond MAX_FLAGS (0: none), with one of them if known. */
  excess(count: number, example?: string): void;
  /** A step threw: the pass ends, the loop stops until woken again. */
  failed(err: unknown): void;
  /** After begin(): a pass has ended and none of its readings is still waiting (said once). */
  loaded(): void;
  /** Nothing is left to do: no dirty name, reading, hold, pass or listing. */
  idle(): void;
}

/** How the loop works: the store's options. */
export interface StepOptions {
  /** Quiet time between a hint and the read, ms. */
  readonly quietMs: number;
  /** How long an empty or missing file must stay so before it is applied, ms. */
  readonly settleMs: number;
  /** Pause between the end of one full pass and the start of the backstop's next, ms; 0: none. */
  readonly rescanMs: number;
  /** Loading at start (store.ts's start()): nothing is published, a pass may read once. */
  readonly initial: boolean;
}

/** The step loop of one flag store. */
export class FlagSteps {
  readonly #io: StepIo;
  readonly #quietMs: number;
  readonly #rescanMs: number;
  readonly #values: FlagValues;
  /** The decisions (core.ts): dirty names, first readings, holds, what to apply. */
  readonly #core: FlagCore;
  /** Loading at start: see StepOptions. */
  #initial: boolean;
  /** Flags the config reads: tracked first, so the flag limit never leaves one of them out. */
  preferred: readonly string[] = [];
  /** Backstop passes started, and when the last one did (wall clock). */
  rescans = 0;
  lastRescanAt: number | null = null;
  /** The hold timer (core.holdsDueAt) and when it fires. */
  #holdTimer: StepTimer | null = null;
  #holdTimerAt = 0;
  /** Another pass follows the one running, at once. */
  #again = false;
  /** The full pass in progress, if any. */
  #sweep: Sweep | null = null;
  /** The directory is being listed for the next pass. */
  #listing = false;
  #timer: StepTimer | null = null;
  #rescanTimer: StepTimer | null = null;
  #running = false;
  #closed = false;
  #firstPassEnded = false;
  /** begin() was called and loaded() not said yet. */
  #loading = false;

  constructor(opts: StepOptions, values: FlagValues, io: StepIo) {
    this.#io = io;
    this.#quietMs = opts.quietMs;
    this.#rescanMs = opts.rescanMs;
    this.#initial = opts.initial;
    this.#values = values;
    this.#core = new FlagCore({ quietMs: opts.quietMs, settleMs: opts.settleMs }, values);
  }

  /** The decisions, for tests to look at. */
  get core(): FlagCore {
    return this.#core;
  }

  /** Loading at start (see StepOptions). */
  get initial(): boolean {
    return this.#initial;
  }

  /**
   * Starts the loop with a pass over everything (the start-up pass); io.loaded() follows once a
   * pass has ended (this one, or one that the watch's first hint started before it).
   */
  begin(): void {
    this.#loading = true;
    this.#core.readAll();
    this.#schedule(0);
  }

  /**
   * Loading at start is over: from now on readings are read twice and changes published. What was
   * applied meanwhile is taken: the caller publishes the first snapshot whole.
   */
  started(): void {
    this.#initial = false;
    this.#core.rereadAll();
    this.#values.takeDue(false, this.#io.now());
  }

  /** Stops: no more steps or timers. */
  close(): void {
    this.#closed = true;
    for (const t of [this.#timer, this.#rescanTimer, this.#holdTimer]) if (t !== null) this.#io.clearTimer(t);
    this.#timer = this.#rescanTimer = this.#holdTimer = null;
  }

  /** A hint from the watcher: the core decides what it means (core.ts). */
  hint(name: string | null, rename: boolean): void {
    if (this.#closed) return;
    if (this.#core.hint(name, rename, this.#io.now())) this.#schedule(this.#quietMs);
  }

  /** The directory's own entry changed: the next step re-arms and everything is read again. */
  entry(): void {
    if (this.#closed) return;
    this.#core.entry(this.#io.now());
    this.#schedule(this.#quietMs);
  }

  // The hold timer: at the earliest due hold (+1 ms: timers count whole milliseconds), the due
  // holds are read again at once, even while a pass keeps the store busy. `at` null: re-arm for
  // the earliest hold, or stop when there is none; else arm for `at` unless the timer fires sooner.
  #armHolds(at: number | null): void {
    if (this.#closed) return;
    if (at === null) {
      if (this.#holdTimer !== null) this.#io.clearTimer(this.#holdTimer);
      this.#holdTimer = null;
      at = this.#core.holdsDueAt();
      if (at === null) return;
    } else if (this.#holdTimer !== null && this.#holdTimerAt <= at) {
      return;
    }
    if (this.#holdTimer !== null) this.#io.clearTimer(this.#holdTimer);
    this.#holdTimerAt = at;
    this.#holdTimer = this.#io.setTimer(Math.max(0, at - this.#io.now()) + 1, () => {
      this.#holdTimer = null;
      const { any, next } = this.#core.holdsDue(this.#io.now());
      if (next !== null) this.#armHolds(next);
      if (any) this.#schedule(0);
    });
  }

  #schedule(ms: number): void {
    if (this.#closed || this.#running || this.#timer !== null) return;
    this.#timer = this.#io.setTimer(ms, () => {
      this.#timer = null;
      this.#running = true;
      this.#run();
    });
  }

  #busy(): boolean {
    return this.#core.size > 0 || this.#core.allDirty || this.#sweep !== null || this.#values.unpublished;
  }

  // Runs one step, then the next after its wait (always through the event loop: requests are
  // served and events arrive between steps), until there is nothing left to do.
  #run(): void {
    let wait: number | null = null;
    try {
      wait = this.#step();
    } catch (err) {
      this.#io.failed(err);
      // A failed pass is over; the backstop starts the next one.
      if (this.#sweep) this.#endSweep(null);
    }
    if (this.#closed) return;
    if (wait !== null) {
      this.#io.pause(wait, () => {
        if (!this.#closed) this.#run();
      });
      return;
    }
    this.#running = false;
    this.#checkLoaded();
    this.#armHolds(null);
    if (this.#busy()) this.#schedule(this.#quietMs);
    else if (this.#core.holding === 0 && !this.#listing) this.#io.idle();
  }

  // One step (see the top of this file); returns how long to wait before the next, or null when
  // there is nothing left to do.
  #step(): number | null {
    const look = this.#io.look();
    // Replaced, or an event on the directory's own entry: re-arm (core.ts says why).
    const { rearm } = this.#core.looked(look, this.#io.now(), this.#initial);
    if (rearm) this.#io.rearm();
    if (this.#core.takeAllDirty()) {
      if (this.#sweep || this.#listing) this.#again = true;
      else this.#startSweep(look.present);
    }
    if (!look.safe) {
      // Nothing is applied; `resumed` makes the first safe step read everything again.
      this.#core.unsafe();
      if (this.#sweep) this.#endSweep(null); // the backstop keeps looking at the directory
      this.#publishDue(); // what was applied while it was safe
      return null;
    }
    this.#verify(look.there);
    this.#publishDue(); // before reading on: routing need not wait for that
    if (this.#core.dirtyDue(this.#io.now())) this.#readDirty(this.#io.now() + STEP_BUDGET_MS);
    else if (this.#sweep) this.#readSweep(look.present);
    this.#publishDue();
    this.#checkLoaded();
    return this.#nextWait();
  }

  // Verifies the first readings that are old enough: reads each again (unless taken by the
  // start-up pass) and applies what the core decides.
  #verify(there: boolean): void {
    const due = this.#core.dueVerifications(this.#io.now());
    if (due.length === 0) return;
    const seconds = due.map((v) => (v.reread ? this.#io.read(v.name) : null));
    const changes: FlagChange[] = [];
    let touched = false;
    const stamp = this.#initial ? null : this.#io.wallClock();
    due.forEach((v, i) => {
      const update = this.#core.secondReading(v, seconds[i] ?? null, there, this.#io.now(), stamp);
      if (update) touched = this.#applied(update, changes) || touched;
    });
    if (touched) this.#values.applied(changes, this.#io.now());
  }

  // Takes the first readings of the dirty names, until `end` (io.now()).
  #readDirty(end: number): void {
    for (let name = this.#core.takeDirty(); name !== undefined; name = this.#core.takeDirty()) {
      this.#first(name, true);
      if (this.#io.now() >= end) break;
    }
  }

  // The first reading of `name`, handed to the core.
  #first(name: string, reread: boolean): void {
    const seen = this.#io.read(name);
    this.#core.firstReading(name, seen, this.#io.now(), reread);
  }

  // Publishes what was applied, unless a burst of events is still being read (values.ts).
  #publishDue(): void {
    const changes = this.#values.takeDue(this.#core.size > 0, this.#io.now());
    // While loading, store.ts's start() publishes the first snapshot whole.
    if (changes && !this.#initial) this.#io.publish(changes);
  }

  // Reads the pass's next names for up to STEP_BUDGET_MS; `present`: the directory as this step
  // found it (another pass follows at once only where there is one).
  #readSweep(present: boolean): void {
    const sweep = this.#sweep;
    if (!sweep) return;
    const t0 = this.#io.now();
    // At start a single read will do (store.ts, start()), as long as events tell of writes meanwhile.
    const reread = !this.#initial || !this.#io.byEvents();
    for (let name = sweep.next(); name !== undefined; name = sweep.next()) {
      // Dirty or waiting: an event has it read (twice) already.
      if (this.#core.claimed(name)) continue;
      this.#first(name, reread);
      if (this.#io.now() - t0 >= STEP_BUDGET_MS) break;
    }
    sweep.addBusy(this.#io.now() - t0);
    if (sweep.done) this.#endSweep(present);
  }

  #nextWait(): number | null {
    if (this.#core.allDirty || this.#sweep) return 0;
    const wait = Math.min(this.#core.dueIn(this.#io.now()), this.#values.dueIn(this.#io.now()));
    return wait === Infinity ? null : wait;
  }

  // Starts a pass: lists the directory, then reads every tracked and listed name.
  #startSweep(present: boolean): void {
    // Whatever started this pass, it is the backstop's too: its timer restarts when the pass ends.
    if (this.#rescanTimer !== null) this.#io.clearTimer(this.#rescanTimer);
    this.#rescanTimer = null;
    if (!present) {
      this.#beginSweep([]);
      return;
    }
    this.#listing = true;
    this.#io.list(this.#initial, (names) => {
      this.#listing = false;
      if (this.#closed) return;
      this.#beginSweep(names);
      this.#schedule(0);
    });
  }

  // The pass over the names dir.ts's passNames picks (the excess over MAX_FLAGS is reported).
  #beginSweep(listed: readonly string[]): void {
    const t0 = this.#io.now();
    const tracked = [...this.#values.names(), ...this.#core.trackedNames()];
    const { names, excess } = passNames(tracked, listed, this.preferred);
    this.#io.excess(excess);
    this.#sweep = new Sweep(names, this.#io.now() - t0);
  }

  // Ends the pass; `next`: whether the directory is there, to start the next pass at once if
  // everything must be read again (null: never; else the backstop's timer starts it).
  #endSweep(next: boolean | null): void {
    const busyMs = this.#sweep?.busyMs ?? 0;
    this.#sweep = null;
    this.#firstPassEnded = true;
    const again = this.#again && next !== null;
    this.#again = false;
    if (again) this.#startSweep(next);
    else this.#armRescan(backstopPause(this.#rescanMs, busyMs));
  }

  // The start-up may go on once its pass has ended and none of its readings is still waiting.
  #checkLoaded(): void {
    if (!this.#loading || !this.#firstPassEnded) return;
    if (this.#core.waitingUnverified()) return;
    this.#loading = false;
    this.#io.loaded();
  }

  // Carries out what the core did with a verified observation; true when the snapshot must change.
  #applied(update: Update, changes: FlagChange[]): boolean {
    if (update.kind === 'hold') {
      this.#armHolds(update.due);
      return false;
    }
    if (update.kind === 'excess') {
      this.#io.excess(1, update.name);
      return false;
    }
    if (update.change) changes.push(update.change);
    this.#io.applied(update, this.#initial);
    return true;
  }

  #armRescan(ms: number): void {
    if (this.#rescanMs <= 0 || this.#closed) return;
    if (this.#rescanTimer !== null) this.#io.clearTimer(this.#rescanTimer);
    this.#rescanTimer = this.#io.setTimer(ms, () => {
      this.#rescanTimer = null;
      this.rescans++;
      this.lastRescanAt = this.#io.wallClock();
      this.#core.readAll();
      this.#schedule(0);
    });
  }
}
