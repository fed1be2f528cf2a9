// A worker's flags: the primary's flag store, as snapshots it sends over IPC. The worker reads no
// flag file itself — one store, one set of verified values for every worker (cluster/).
import { EventEmitter } from 'node:events';
import type { FlagSnapshot, FlagState } from '../flags/snapshot.js';
import type { WatcherStatus } from '../flags/store.js';
import type { FlagFeed } from '../lifecycle/reload.js';

/** The flag feed of a worker process. */
export class RemoteFlags extends EventEmitter<{ change: [FlagSnapshot] }> implements FlagFeed {
  #snapshot: FlagSnapshot;

  constructor(version: number, flags: readonly [string, FlagState][]) {
    super();
    this.#snapshot = Object.freeze({ version, flags: new Map(flags) });
  }

  get snapshot(): FlagSnapshot {
    return this.#snapshot;
  }

  /** The primary watches; a worker has nothing to report. */
  get watcherStatus(): WatcherStatus {
    return { mode: 'events', rescans: 0, lastRescanAt: null, problem: null };
  }

  /** Applies the primary's changes and publishes the new snapshot. */
  apply(version: number, set: readonly [string, FlagState][], removed: readonly string[]): void {
    const flags = new Map(this.#snapshot.flags);
    for (const [name, state] of set) flags.set(name, state);
    for (const name of removed) flags.delete(name);
    this.#snapshot = Object.freeze({ version, flags });
    this.emit('change', this.#snapshot);
  }

  prefer(): void {
    // The primary's store decides what is tracked.
  }

  async close(): Promise<void> {
    this.removeAllListeners();
  }
}

/** What changed from `prev` to `next`: entries to set and names removed. */
export function flagDiff(prev: FlagSnapshot, next: FlagSnapshot): { set: [string, FlagState][]; removed: string[] } {
  const set: [string, FlagState][] = [];
  const removed: string[] = [];
  for (const [name, state] of next.flags) {
    const old = prev.flags.get(name);
    if (old === state) continue;
    if (old && old.value === state.value && old.note === state.note && old.changedAt === state.changedAt && old.problem === state.problem)
      continue;
    set.push([name, state]);
  }
  for (const name of prev.flags.keys()) if (!next.flags.has(name)) removed.push(name);
  return { set, removed };
}
