// Reload in place (docs/signals.md): load, validate and compile with the same code as `flagman check`, and
// swap only on success. What was observed — counters, server health, balancer positions, pooled
// connections — lives in ObservedState under stable names, so a reload carries it over by simply
// building the new runtime against the same ObservedState. A failed reload changes nothing but
// `lastReload` (status, event log, metrics).
import { loadConfigInSteps } from '../config/load.js';
import { FlagmanError, flagmanErrorsOf } from '../errors.js';
import { lowerHelperThreads } from '../helper-threads.js';
import type { Config } from '../config/schema.js';
import { storeFor, type FlagStore, type WatcherStatus } from '../flags/store.js';
import { HealthChecker } from '../health/checker.js';
import { hasExecChecks, loadExecRunner } from '../health/probes.js';
import type { FlagSnapshot } from '../flags/snapshot.js';
import { events } from '../log.js';
import { buildRuntime, compileProgram, sameFolding, type Program } from '../runtime/compile.js';
import type { RuntimeHolder } from '../runtime/holder.js';
import type { Runtime } from '../runtime/runtime.js';
import type { ObservedState } from '../runtime/servers.js';
import { logStateChanges } from '../runtime/transitions.js';
import type { PageCache } from '../runtime/pages.js';
import { prepareAccessLog, type AccessLogPlan } from './access-log.js';
import type { ListenerScope, ListenerSet } from './listeners.js';

/** The outcome of the last load (the start counts as the first). */
export interface ReloadResult {
  readonly at: number;
  readonly ok: boolean;
  readonly error: string | null;
  /** The error codes of what failed (docs/errors.md), first found first; none for an error not flagman's own. */
  readonly codes: readonly string[];
}

/**
 * Lets the requests waiting meanwhile be served: a reload's steps (reading the YAML, checking it,
 * compiling the rules, building the runtime) run with a millisecond between them, so no request
 * waits for the sum of them (bench/RESULTS.md, "A reload in steps"). A millisecond, not one turn of
 * the event loop: a proxied request takes several turns (its head read and sent on, the server's
 * response read and sent back), and with one turn between steps a response read in it waited for
 * the next step.
 */
function servingTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1));
}

/** What a reload can be asked by (`primary`: a worker process told by its primary). */
export type ReloadTrigger = 'SIGHUP' | 'file' | 'primary';

/** What Live needs of a flag source: the flag store itself, or a worker's copy of the primary's. */
export interface FlagFeed {
  readonly snapshot: FlagSnapshot;
  readonly watcherStatus: WatcherStatus;
  on(event: 'change', listener: (snapshot: FlagSnapshot) => void): unknown;
  off(event: 'change', listener: (snapshot: FlagSnapshot) => void): unknown;
  prefer(names: Iterable<string>): void;
  /** `saveState: false`: a feed replaced by another must not write its state after the new one. */
  close(opts?: { saveState?: boolean }): Promise<void>;
}

/**
 * What this process does (cluster/): everything (one process), the primary of several workers
 * (flag store, checks, admin endpoint, no frontend), or a worker (frontends only).
 */
export interface LiveRole {
  /** Which listeners this process opens. */
  readonly listeners: ListenerScope;
  /** Runs the health checks, owns the flag store, logs state changes. */
  readonly decides: boolean;
  /** After this process reloaded: the workers' turn; resolves with what failed in them, or null. */
  readonly afterReload?: (generation: number) => Promise<{ readonly error: string; readonly codes: readonly string[] } | null>;
  /** Why `config` cannot be applied by a reload in this process (null: it can). */
  readonly refuse?: (config: Config) => string | null;
  /** Every new flag snapshot (a primary passes them on to its workers). */
  readonly onFlags?: (snapshot: FlagSnapshot) => void;
}

export const SINGLE: LiveRole = { listeners: 'all', decides: true };

/** The running configuration and everything built from it, replaced whole by a reload. */
export class Live {
  config: Config;
  program: Program;
  store: FlagFeed;
  readonly role: LiveRole;
  /** Counts successful loads, the start included (`config.generation`, docs/signals.md). */
  generation = 1;
  lastReload: ReloadResult;
  /** Failed reloads since start (a metric). */
  reloadFailures = 0;
  readonly holder: RuntimeHolder;
  readonly observed: ObservedState;
  readonly pages: PageCache;
  readonly listeners: ListenerSet;
  /** Active health checks of the current config; started by startChecks(). */
  #checker: HealthChecker;
  #checking = false;
  #healthQueued = false;
  #reported = new Set<string>();
  #reloading: Promise<ReloadResult> | null = null;
  #again: ReloadTrigger | null = null;
  readonly #onChange = (snapshot: FlagSnapshot): void => this.#applyFlags(snapshot);

  constructor(init: {
    config: Config;
    program: Program;
    store: FlagFeed;
    role?: LiveRole;
    startedAt: number;
    holder: RuntimeHolder;
    observed: ObservedState;
    pages: PageCache;
    listeners: ListenerSet;
  }) {
    this.config = init.config;
    this.program = init.program;
    this.store = init.store;
    this.role = init.role ?? SINGLE;
    this.lastReload = { at: init.startedAt, ok: true, error: null, codes: [] };
    this.holder = init.holder;
    this.observed = init.observed;
    this.pages = init.pages;
    this.listeners = init.listeners;
    this.store.on('change', this.#onChange);
    this.#checker = new HealthChecker(this.config, this.observed);
    // Health changes come from checks and from failing requests; those of one turn of the event
    // loop are applied together, before any other request is routed.
    this.observed.on('health', () => {
      if (this.#healthQueued) return;
      this.#healthQueued = true;
      queueMicrotask(() => {
        this.#healthQueued = false;
        this.#rebuild(this.store.snapshot, 'change of server health');
      });
    });
  }

  /** Starts the health checks (once traffic can flow: before, their results would steer nothing). */
  startChecks(): void {
    if (!this.role.decides) return;
    this.#checking = true;
    this.#checker.start();
  }

  /** The runtime for the current program under `snapshot`; logs each new expression problem once. */
  build(snapshot: FlagSnapshot, program = this.program, generation = this.generation): Runtime {
    const runtime = buildRuntime(program, snapshot, { observed: this.observed, pages: this.pages, generation });
    // Workers compute the same problems as their primary: one process says it.
    if (this.role.decides)
      for (const p of runtime.problems) if (!this.#reported.has(p)) events.warn({ event: 'expr.problem', problem: p }, p);
    this.#reported = new Set(runtime.problems);
    return runtime;
  }

  /** Reloads the config file; calls while one runs coalesce into one more. Never rejects. */
  reload(trigger: ReloadTrigger): Promise<ReloadResult> {
    if (this.#reloading) {
      this.#again = trigger;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      let next: ReloadTrigger | null = trigger;
      while (next !== null) {
        this.#again = null;
        await this.#reloadOnce(next);
        lowerHelperThreads(); // a thread started since (src/helper-threads.ts)
        next = this.#again;
      }
      return this.lastReload;
    })().finally(() => {
      this.#reloading = null;
    });
    return this.#reloading;
  }

  /** Stops the health checks: no probe starts after this; resolves once none is running. */
  stopChecks(): Promise<void> {
    this.#checking = false;
    return this.#checker.stop();
  }

  /** Waits for a reload in progress, then stops the checks and the flag store. */
  async close(): Promise<void> {
    await this.#reloading;
    await this.stopChecks();
    this.store.off('change', this.#onChange);
    await this.store.close();
  }

  #applyFlags(snapshot: FlagSnapshot): void {
    this.role.onFlags?.(snapshot);
    // What depends on the change is recomputed, and nothing else: a flag the running rules, weights
    // and limits do not read (a note, a flag for a script, a typo) costs no rebuild. A rebuild is a
    // third of a flag change's CPU on the realistic config (bench/RESULTS.md, "A flag change").
    // A reload in progress compares its runtime's snapshot version and builds again if need be.
    if (sameFolding(this.holder.current, snapshot)) return;
    this.#rebuild(snapshot, 'flag change');
  }

  // Recompiling is the only work a flag change or a change of health causes: requests never
  // evaluate flags or filter servers themselves.
  #rebuild(snapshot: FlagSnapshot, why: string): void {
    try {
      this.#swap(this.build(snapshot));
    } catch (err) {
      // Failure keeps the old world (docs/design/conventions.md): the previous runtime goes on serving.
      events.error({ event: 'runtime.error', err: String(err) }, `could not apply a ${why}; keeping the previous routing`);
    }
  }

  // Every change of a server's state is logged exactly when routing starts to follow it.
  #swap(next: Runtime): void {
    const prev = this.holder.current;
    this.holder.swap(next);
    if (this.role.decides) logStateChanges(prev, next);
  }

  async #reloadOnce(trigger: ReloadTrigger): Promise<void> {
    const file = this.config.file;
    let newStore: FlagStore | null = null;
    let access: AccessLogPlan | null = null;
    try {
      const config = await loadConfigInSteps(file, servingTurn);
      await servingTurn();
      const program = compileProgram(config);
      const refused = this.role.refuse?.(config) ?? null;
      if (refused !== null) throw new FlagmanError('CONFIG_SCHEMA', refused, { file });
      // A primary serves no request (its workers write the access log): it only checks the file.
      access = prepareAccessLog(this.config.log, config.log, this.role.listeners !== 'admin');
      const f = config.flags;
      const old = this.config.flags;
      const flagsMoved =
        f.dir !== old.dir || f.rescan !== old.rescan || f.allowWorldWritable !== old.allowWorldWritable || f.state !== old.state;
      // A worker's flags come from its primary, which replaces its own store and goes on feeding it.
      if (flagsMoved && this.role.decides) {
        newStore = storeFor(f, program.flags);
        await newStore.start();
      }
      const store = newStore ?? this.store;
      const generation = this.generation + 1;
      await servingTurn();
      const runtime = this.build(store.snapshot, program, generation);
      await servingTurn();
      if (this.role.decides && hasExecChecks(config)) await loadExecRunner();
      const plan = await this.listeners.prepare(config, this.role.listeners);
      // From here to the end of the block nothing waits: requests see the old world or the new one.
      this.config = config;
      this.program = program;
      this.generation = generation;
      access.commit();
      access = null;
      if (newStore) {
        this.store.off('change', this.#onChange);
        // The new store wrote its state at start; the old one's last write must not follow it.
        void this.store.close({ saveState: false });
        this.store = newStore;
        this.store.on('change', this.#onChange);
        this.role.onFlags?.(this.store.snapshot);
        newStore = null;
      } else {
        this.store.prefer(program.flags);
      }
      // A flag change published while the new world was being built is in the store's snapshot.
      this.#swap(runtime.flagsVersion === this.store.snapshot.version ? runtime : this.build(this.store.snapshot));
      plan.commit();
      // Checks follow the new config (intervals, paths, servers); health itself is kept by name.
      const oldChecker = this.#checker;
      this.#checker = new HealthChecker(config, this.observed);
      if (this.#checking && this.role.decides) {
        void oldChecker.stop();
        this.#checker.start();
      }
      const workers = (await this.role.afterReload?.(generation)) ?? null;
      this.lastReload = { at: Date.now(), ok: workers === null, error: workers?.error ?? null, codes: workers?.codes ?? [] };
      if (workers !== null) {
        this.reloadFailures++;
        events.error(
          { event: 'reload.failed', trigger, file, generation, error: workers.error, codes: workers.codes },
          `config reloaded (generation ${generation}), but not by every worker: ${workers.error}`,
        );
        return;
      }
      if (this.role.decides || trigger !== 'primary') {
        events.info(
          { event: 'reload', trigger, generation, file, added: plan.added, removed: plan.removed },
          `config reloaded (generation ${generation})`,
        );
      }
    } catch (err) {
      access?.abandon();
      await newStore?.close();
      const error = err instanceof Error ? err.message : String(err);
      // The code of each error, to look up in docs/errors.md; none for an error not flagman's own.
      const codes = flagmanErrorsOf(err)?.map((e) => e.code) ?? [];
      this.reloadFailures++;
      this.lastReload = { at: Date.now(), ok: false, error, codes };
      if (trigger === 'primary') return; // the primary reports it, once
      events.error(
        { event: 'reload.failed', trigger, file, error, codes },
        `config reload failed, still serving generation ${this.generation}: ${error}`,
      );
    }
  }
}
