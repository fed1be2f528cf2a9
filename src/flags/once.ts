// One synchronous read of a whole flags directory for `flagman get`, `list` and `check`: the same
// state file, file reader, parser and decision table (decide.ts) as the store's start, so the CLI
// shows what the proxy holds — an emptied or invalid file keeps the value the state file
// remembers, an empty file is otherwise 1 only after it has held still for the settle time, a file
// read while it changes is read again. Synchronous because a CLI has nothing else to
// do meanwhile, and its callers stay simple.
import { decide, nextEntry, observe, sameObserved, type Observed } from './decide.js';
import { capNames, inspectDir, listFlagNames, MAX_FLAGS, START_LIMIT_MS, worldWritableProblem } from './dir.js';
import { readFlagFile } from './read.js';
import type { FlagState } from './snapshot.js';
import { findState } from './state.js';

/** The flags as the proxy would read them at start, with the directory's problem if any. */
export interface FlagListing {
  readonly dir: string;
  /** Why the directory is unusable or degraded (missing, world-writable, too many flags); null when fine. */
  readonly problem: string | null;
  readonly flags: ReadonlyMap<string, FlagState>;
  /** The state file read through (null: none found); `stateProblem`: why it was ignored. */
  readonly state: string | null;
  readonly stateProblem: string | null;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** How to read a directory once. */
export interface ReadOnceOptions {
  readonly allowWorldWritable?: boolean;
  readonly settleMs?: number;
  readonly preferred?: Iterable<string>;
  /** Where the proxy's state file may be (state.ts findState): the first that belongs to `dir`. */
  readonly state?: readonly string[];
}

/**
 * Reads every flag in `dir` once. Never throws for the directory: a missing or world-writable one
 * (unless `allowWorldWritable`) is reported in `problem`, as is a count beyond 10,000 flags; then
 * the `preferred` names are tracked first.
 */
export function readFlagsOnce(dir: string, opts: ReadOnceOptions = {}): FlagListing {
  const settleMs = opts.settleMs ?? 25;
  const state = inspectDir(dir);
  if (state.kind === 'absent') return { dir, problem: state.problem, flags: new Map(), state: null, stateProblem: null };
  const found = findState(dir, opts.state ?? []);
  const stateFile = found?.state.status === 'ok' ? found.file : null;
  const problems = [worldWritableProblem(dir, state, opts.allowWorldWritable ?? false)];
  // Preferred names (the flags a config reads, or the one asked for) are never the ones left out.
  const listed = listFlagNames(dir);
  const there = new Set(listed);
  const { names, excess } = capNames(
    [...(opts.preferred ?? [])].filter((n) => there.has(n)),
    listed,
  );
  if (excess > 0) problems.push(`more than ${MAX_FLAGS} flags: ${excess} not tracked`);

  // Seeded like the store's start: a flag the state file remembers but whose file is gone is read
  // as missing, and unset once that has held.
  const entries = new Map<string, FlagState>(found?.state.flags ?? []);
  const remembered = [...entries.keys()].filter((n) => !there.has(n));
  const holds = new Map<string, number>();
  const read = (name: string): Observed => observe(readFlagFile(dir, state.real, name));
  let pending = [...names, ...remembered];
  const deadline = Date.now() + START_LIMIT_MS;
  while (pending.length > 0 && Date.now() < deadline) {
    const first = pending.map(read);
    sleepSync(1);
    const again: string[] = [];
    for (const [i, name] of pending.entries()) {
      const seen = read(name);
      if (!sameObserved(first[i] ?? seen, seen)) {
        holds.delete(name); // it changed: a hold must start over
        again.push(name);
        continue;
      }
      const since = holds.get(name);
      const d = decide(entries.get(name), seen, since !== undefined && Date.now() - since >= settleMs);
      if (d.kind === 'hold') {
        if (since === undefined) holds.set(name, Date.now());
        again.push(name);
        continue;
      }
      holds.delete(name);
      if (d.kind !== 'none') {
        const { entry } = nextEntry(name, entries.get(name), d, null);
        if (entry) entries.set(name, entry);
        else entries.delete(name);
      }
    }
    pending = again;
    if (holds.size > 0) sleepSync(Math.max(1, Math.min(...holds.values()) + settleMs - Date.now()));
  }
  const problem = problems.filter((p) => p !== null);
  const stateProblem = found && found.state.status !== 'ok' ? found.state.problem : null;
  return { dir, problem: problem.length > 0 ? problem.join('; ') : null, flags: entries, state: stateFile, stateProblem };
}
