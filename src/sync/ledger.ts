// The sync's own file in the flags directory, `.flagman-sync-etcd.json`: which flag files it wrote
// (so a resync removes only those, never a flag written by hand) and how it is doing (the revision
// applied, the last answer from etcd, the problem), which `flagman status` shows. A dotfile: the
// proxy never reads it as a flag. It lives beside the flags because it describes them, and because
// the sync may write nothing else.
import fs from 'node:fs';
import path from 'node:path';
import { writeAtomically } from '../flags/write.js';

export const LEDGER_FILE = '.flagman-sync-etcd.json';

/** A key that was not mirrored, and why. */
export interface Skipped {
  readonly key: string;
  readonly reason: string;
}

/** What the file holds. Times are ms since the epoch; null: not yet. */
export interface Ledger {
  readonly source: 'etcd';
  readonly endpoint: string;
  readonly prefix: string;
  /** The sync process writing this file. */
  readonly pid: number;
  readonly startedAt: number;
  /** The revision of etcd the flag files reflect; 0 before the first listing. */
  readonly revision: number;
  /** When a change (or a listing) was last written to the flags. */
  readonly appliedAt: number | null;
  /** When etcd last answered (a listing, a watch, the periodic check). */
  readonly contactAt: number | null;
  /** Why the sync is not in step with etcd now (it retries); null when it is. */
  readonly problem: string | null;
  readonly skipped: readonly Skipped[];
  /** The flag files this sync wrote and etcd still has: the only ones a resync may remove. */
  readonly written: readonly string[];
}

/** The flag names a ledger says were written by the sync; none when there is no ledger or it is unreadable. */
export function readWritten(dir: string): Set<string> {
  const ledger = readLedger(dir);
  return new Set(ledger?.written ?? []);
}

/** The ledger as found, or null when there is none (or it does not parse: the sync rewrites it). */
export function readLedger(dir: string): Ledger | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, LEDGER_FILE), 'utf8');
  } catch {
    return null;
  }
  try {
    const doc = JSON.parse(text) as Partial<Ledger>;
    if (doc === null || typeof doc !== 'object' || !Array.isArray(doc.written)) return null;
    return { ...doc, written: doc.written.filter((n): n is string => typeof n === 'string') } as Ledger;
  } catch {
    return null;
  }
}

/** Writes the ledger atomically (a crash leaves the old one or the new one). */
export function writeLedger(dir: string, ledger: Ledger): void {
  writeAtomically(dir, LEDGER_FILE, `${JSON.stringify(ledger, null, 2)}\n`);
}
