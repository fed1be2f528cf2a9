// The state file: every flag's last good value and note, kept on disk so that a restart reads the
// flags directory the way the running proxy did (docs/design/flag-state.md). Two of the flag rules
// depend on history — an emptied file keeps its value, an invalid file keeps the last good one —
// and without it a restart would read an emptied `0` as a `touch` (1) and a typo'd `1` as unset.
//
// Written whole and atomically (temp file, fsync, rename, fsync of the folder), never more often
// than once per STATE_WRITE_INTERVAL_MS however many flags change (10,000 flags created at once
// make one or two writes), and off the event loop: a slow disk delays the file, never a request
// (src/flags/state-writer.ts).
// A missing, corrupt or foreign state file is reported and ignored: it can only ever make flagman
// forget history, never stop it.
import fs from 'node:fs';
import { isFlagName } from './parse.js';
import type { FlagState } from './snapshot.js';

/** What the file says it is, so that another program's JSON is never read as flag values. */
export const STATE_FORMAT = 'flagman flag state';
export const STATE_VERSION = 1;
/** Least time between two writes, ms. */
export const STATE_WRITE_INTERVAL_MS = 100;
/**
 * Largest state file read: 10,000 flags with 4 KiB notes would be ~41 MB; anything larger was not
 * written by flagman.
 */
const MAX_STATE_BYTES = 64 * 1024 * 1024;
/** Mode of the state file whatever the umask: `flagman get` run by an operator reads it. */
export const STATE_MODE = 0o644;

/** What a state file holds for one flags directory. */
export interface LoadedState {
  /** The persisted flags (value, note, changedAt; problem always null). */
  readonly flags: ReadonlyMap<string, FlagState>;
  /** Why the file was ignored (missing, corrupt, foreign) or some entries skipped; null when fine. */
  readonly problem: string | null;
  /**
   * `missing`: no such file (a first start, or deleted): worth a note, not a warning. `foreign`:
   * another program's file, or another flags directory's. `ignored`: unreadable or corrupt.
   */
  readonly status: 'ok' | 'missing' | 'foreign' | 'ignored';
}

const EMPTY: ReadonlyMap<string, FlagState> = new Map();

/**
 * Reads the state file `file` written for the flags directory `dir`. Never throws: whatever is
 * wrong with the file is the `problem`, and the flags it could not read are absent.
 */
export function loadState(file: string, dir: string): LoadedState {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return { flags: EMPTY, problem: `state file ${file} is not a regular file; ignored`, status: 'ignored' };
    if (st.size > MAX_STATE_BYTES)
      return { flags: EMPTY, problem: `state file ${file} is larger than ${MAX_STATE_BYTES} bytes; ignored`, status: 'ignored' };
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { flags: EMPTY, problem: `state file ${file} does not exist (yet)`, status: 'missing' };
    return { flags: EMPTY, problem: `state file ${file} cannot be read (${code ?? String(err)}); ignored`, status: 'ignored' };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { flags: EMPTY, problem: `state file ${file} is not valid JSON (cut short or corrupt); ignored`, status: 'ignored' };
  }
  if (!isRecord(doc) || doc.format !== STATE_FORMAT || doc.version !== STATE_VERSION || !isRecord(doc.flags)) {
    return {
      flags: EMPTY,
      problem: `state file ${file} is not a flagman flag state file (version ${STATE_VERSION}); ignored`,
      status: 'foreign',
    };
  }
  if (doc.dir !== dir) {
    return {
      flags: EMPTY,
      problem: `state file ${file} was written for another flags directory (${String(doc.dir)}); ignored`,
      status: 'foreign',
    };
  }
  const flags = new Map<string, FlagState>();
  let skipped = 0;
  for (const [name, entry] of Object.entries(doc.flags)) {
    const state = readEntry(name, entry);
    if (state) flags.set(name, state);
    else skipped++;
  }
  const problem = skipped > 0 ? `state file ${file}: ${skipped} entr${skipped === 1 ? 'y' : 'ies'} not understood, ignored` : null;
  return { flags, problem, status: 'ok' };
}

/**
 * The first of `candidates` that is a state file of `dir`, read; a missing or foreign candidate is
 * passed over, an unreadable or corrupt one ends the search (its problem is the answer). null when
 * no candidate exists: the flags start from their files alone.
 */
export function findState(dir: string, candidates: readonly string[]): { file: string; state: LoadedState } | null {
  let first: { file: string; state: LoadedState } | null = null;
  for (const file of candidates) {
    const state = loadState(file, dir);
    if (state.status === 'ok' || state.status === 'ignored') return { file, state };
    if (state.status === 'foreign') first ??= { file, state };
  }
  return first;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readEntry(name: string, entry: unknown): FlagState | null {
  if (!isFlagName(name) || !isRecord(entry)) return null;
  const { value, note, changedAt } = entry;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) return null;
  if (note !== null && typeof note !== 'string') return null;
  if (changedAt !== null && (typeof changedAt !== 'number' || !Number.isFinite(changedAt))) return null;
  return { value, note, changedAt, problem: null };
}

/** The state file's text for `flags`: the flags that have a value, one a line, sorted by name. */
export function renderState(dir: string, flags: ReadonlyMap<string, FlagState>): string {
  const lines: string[] = [];
  for (const name of [...flags.keys()].sort()) {
    const s = flags.get(name);
    if (s === undefined || s.value === null) continue;
    lines.push(`${JSON.stringify(name)}:${JSON.stringify({ value: s.value, note: s.note, changedAt: s.changedAt })}`);
  }
  const head = `{"format":${JSON.stringify(STATE_FORMAT)},"version":${STATE_VERSION},"dir":${JSON.stringify(dir)},"flags":{`;
  return lines.length === 0 ? `${head}}}\n` : `${head}\n${lines.join(',\n')}\n}}\n`;
}
