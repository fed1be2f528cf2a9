// The flags directory as a whole: is it there, is it the same one as before, is it safe, and which
// of its entries are flags. Shared by the store and by `readFlagsOnce`, so the CLI lists exactly
// what the proxy would track.
import fs from 'node:fs';
import { isFlagName } from './parse.js';

/** docs/flags.md: more flag files than this are not tracked (and the excess is reported). */
export const MAX_FLAGS = 10_000;

/** A first read never waits longer than this for files that keep changing (they settle later). */
export const START_LIMIT_MS = 2000;

/** The directory as found now. */
export type DirState =
  | {
      readonly kind: 'present';
      /** dev:ino of the directory itself (through a symlink): changes when it is replaced. */
      readonly key: string;
      /** The file system it is on: an unmounted volume leaves its mount point, on another one. */
      readonly dev: number;
      /** realpath: the boundary a flag symlink must stay inside. */
      readonly real: string;
      readonly worldWritable: boolean;
    }
  | {
      readonly kind: 'absent';
      readonly problem: string;
      /** Gone (ENOENT, ENOTDIR, a file in its place); false: there but unusable (unreadable, a symlink loop). */
      readonly missing: boolean;
    };

// A Kubernetes ConfigMap volume is mode 0777 but mounted read-only: nobody can write it, so its mode
// bits do not make it a control plane for everyone. Asked only when the bits say world-writable.
function readOnlyMount(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EROFS';
  }
}

/** Stats the flags directory (following a symlink, as a re-pointed release link must be). */
export function inspectDir(dir: string): DirState {
  try {
    const st = fs.statSync(dir);
    if (!st.isDirectory()) return { kind: 'absent', problem: `flags directory ${dir} is not a directory`, missing: true };
    // stat needs no permission on the directory itself: without read and search permission no flag
    // can be listed or opened, and every flag file would read as "not readable" when it is the
    // directory that is.
    fs.accessSync(dir, fs.constants.R_OK | fs.constants.X_OK);
    const real = fs.realpathSync(dir);
    // Like OpenSSH's StrictModes: whoever can write here steers the traffic.
    return {
      kind: 'present',
      key: `${st.dev}:${st.ino}`,
      dev: st.dev,
      real,
      worldWritable: (st.mode & 0o002) !== 0 && !readOnlyMount(dir),
    };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const missing = code === 'ENOENT' || code === 'ENOTDIR';
    const why = missing ? 'is missing' : code === 'ELOOP' ? 'is a symlink loop (ELOOP)' : `cannot be read (${code})`;
    return { kind: 'absent', problem: `flags directory ${dir} ${why}`, missing };
  }
}

/** The reason a world-writable directory is refused, or null when it is fine or allowed. */
export function worldWritableProblem(dir: string, state: DirState, allowed: boolean): string | null {
  if (allowed || state.kind !== 'present' || !state.worldWritable) return null;
  return `flags directory ${dir} is world-writable: anyone could steer traffic (chmod o-w it, or set flags.allowWorldWritable: true)`;
}

/** Every flag name in the directory (the caller applies MAX_FLAGS, keeping names it tracks). */
export function listFlagNames(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter(isFlagName);
  } catch {
    // The caller has just inspected the directory; if it vanished since, it lists as empty and the
    // next inspection reports it.
    return [];
  }
}

/** What to read: every tracked name, then new listed ones (sorted) up to MAX_FLAGS; and how many did not fit. */
export function capNames(tracked: Iterable<string>, listed: readonly string[]): { names: string[]; excess: number } {
  const names = new Set(tracked);
  let excess = 0;
  // Tracked names first, so a new file cannot push out a flag already in use.
  for (const name of [...listed].sort()) {
    if (names.has(name)) continue;
    if (names.size < MAX_FLAGS) names.add(name);
    else excess++;
  }
  return { names: [...names], excess };
}

/**
 * The names one full pass reads: every tracked name and every listed flag file, up to MAX_FLAGS.
 * Within the limit the order does not matter; only beyond it does capNames decide, `preferred`
 * names that have a file first (one without a file must not take a slot). Sorting 10,000 names on
 * every pass would block the event loop for 5–10 ms, so the common case does not.
 */
export function passNames(
  tracked: readonly string[],
  listed: readonly string[],
  preferred: readonly string[],
): { names: string[]; excess: number } {
  const all = new Set(tracked);
  for (const name of listed) all.add(name);
  if (all.size <= MAX_FLAGS) return { names: [...all], excess: 0 };
  const there = new Set(listed);
  return capNames([...preferred.filter((n) => there.has(n)), ...tracked], listed);
}
