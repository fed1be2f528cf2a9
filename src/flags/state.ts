// The state file: every flag's last good value and note, kept on disk so that a restart reads the
// flags directory the way the running proxy did (docs/design/flag-state.md). Two of the flag rules
// depend on history — an emptied file keeps its value, an invalid file keeps the last good one —
// and without it a restart would read an emptied `0` as a `touch` (1) and a typo'd `1` as unset.
//
// Written whole and atomically (temp file, fsync, rename, fsync of the folder), never more often
// than once per STATE_WRITE_INTERVAL_MS however many flags change (10,000 flags created at once
// make one or two writes), and off the event loop: a slow disk delays the file, never a request.
// A missing, corrupt or foreign state file is reported and ignored: it can only ever make flagman
// forget history, never stop it.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { events as log } from '../log.js';
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
const STATE_MODE = 0o644;

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

/**
 * Writes a flags directory's state file, coalesced: `save()` hands over the latest flags, and at
 * most one write per STATE_WRITE_INTERVAL_MS follows (the last flags handed over win). `flush()`
 * writes what is pending at once (at shutdown).
 */
export class StateWriter {
  readonly file: string;
  readonly #dir: string;
  #pending: ReadonlyMap<string, FlagState> | null = null;
  #writing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastAt = -Infinity;
  #problem: string | null = null;
  #writes = 0;

  constructor(file: string, dir: string) {
    this.file = file;
    this.#dir = dir;
  }

  /** Why the last write failed; null once one succeeded. */
  get problem(): string | null {
    return this.#problem;
  }

  /** Completed writes, for tests and benchmarks. */
  get writes(): number {
    return this.#writes;
  }

  /** Schedules a write of `flags`. */
  save(flags: ReadonlyMap<string, FlagState>): void {
    this.#pending = flags;
    this.#kick();
  }

  /** Writes what is pending now, and resolves once nothing is pending or being written. */
  async flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    while (this.#writing || this.#pending) {
      if (this.#writing) await this.#writing;
      else this.#writeNow();
    }
  }

  #kick(): void {
    if (this.#timer || this.#writing || !this.#pending) return;
    const wait = Math.max(0, this.#lastAt + STATE_WRITE_INTERVAL_MS - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#writeNow();
    }, wait);
    // A pending write never keeps the process alive: shutdown flushes it.
    this.#timer.unref();
  }

  #writeNow(): void {
    const flags = this.#pending;
    if (!flags) return;
    this.#pending = null;
    this.#lastAt = performance.now();
    this.#writing = this.#write(renderState(this.#dir, flags)).finally(() => {
      this.#writing = null;
      this.#kick();
    });
  }

  async #write(text: string): Promise<void> {
    const folder = path.dirname(this.file);
    const tmp = path.join(folder, `.${path.basename(this.file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const fh = await open(tmp, 'wx', STATE_MODE);
      try {
        await fh.chmod(STATE_MODE); // the umask (0077 under the systemd unit) would leave it 0600
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
      await syncFolder(folder);
      this.#writes++;
      this.#report(null);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      this.#report(`state file ${this.file} cannot be written (${code}): a restart may read emptied or invalid flag files differently`);
    }
  }

  // Each problem is logged once, when it appears and when it goes.
  #report(problem: string | null): void {
    if (problem === this.#problem) return;
    if (problem !== null) log.warn({ event: 'flags.state', file: this.file, problem }, problem);
    else log.info({ event: 'flags.state', file: this.file, problem: null }, `state file ${this.file} written again`);
    this.#problem = problem;
  }
}

// Makes the rename durable; some file systems cannot fsync a folder (EINVAL), and the rename stands.
async function syncFolder(folder: string): Promise<void> {
  try {
    const fh = await open(folder, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Best effort, see above.
  }
}
