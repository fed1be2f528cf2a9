// File descriptors: how many this process may hold, how many client connections that leaves room
// for, and which errors mean flagman itself ran out of them. Node has no getrlimit(): on Linux the
// soft limit is read from /proc/self/limits, elsewhere it is unknown (null) and nothing is capped.
// Everything here that reads a file runs once, at start; the hot path only compares counters.
import fs from 'node:fs';

// EMFILE: this process is at its limit (`ulimit -n`, LimitNOFILE). ENFILE: the whole system's file
// table is full. Either way it is flagman's own shortage, never a server's fault: no passive or
// active check fails for it, and no other server is tried (it would fail the same way).
const SHORTAGE = new Set(['EMFILE', 'ENFILE']);

/** Whether an error code says flagman (or the system) is out of descriptors. */
export function isDescriptorShortage(code: string | undefined): boolean {
  return code !== undefined && SHORTAGE.has(code);
}

/** The soft "Max open files" of a /proc/PID/limits text; null when absent or unlimited. */
export function parseOpenFilesLimit(text: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (!m || m[1] === 'unlimited') return null;
  return Number(m[1]);
}

/** This process's soft limit on open descriptors, or null where it cannot be read (not Linux). */
export function descriptorLimit(): number | null {
  try {
    return parseOpenFilesLimit(fs.readFileSync('/proc/self/limits', 'latin1'));
  } catch {
    return null;
  }
}

/** Descriptors this process has open now, or null where that cannot be read. */
export function openDescriptors(): number | null {
  try {
    // The listing's own descriptor is among the entries it lists.
    return fs.readdirSync('/proc/self/fd').length - 1;
  } catch {
    return null;
  }
}

/** How the descriptor limit is shared out (docs/limits.md). */
export interface DescriptorBudget {
  /** The soft limit; null: unknown, nothing is capped. */
  readonly limit: number | null;
  /** Open once flagman listens: Node's own, the listeners, the log pipes, the flag watch. */
  readonly base: number | null;
  /** Kept free for what is not a client connection's pair (see budgetFor). */
  readonly reserve: number | null;
  /** Client connections held at once, every frontend together; null: no cap. */
  readonly maxConnections: number | null;
}

// The reserve: what must still open when every client connection and its server connection are
// held — health checks (one descriptor per probe in flight), flag and state-file reads, the admin
// endpoint's connections, a reload's new listener, name lookups, an accepted connection being
// refused — and what the pairs do not cover: pooled idle connections beyond the busy ones (a flag
// moving traffic to another backend), HTTP/2 clients with several streams. 1/32 of the limit, at
// least 16: 2048 at systemd's LimitNOFILE=65536, 32 at the usual 1024.
const RESERVE_MIN = 16;
const RESERVE_SHARE = 32;

/**
 * The budget for `limit` with `base` descriptors open: each client connection may need a second
 * one to its server, so the cap is half of what the base and the reserve leave, and at least 1.
 */
export function budgetFor(limit: number | null, base: number | null): DescriptorBudget {
  if (limit === null || base === null) return { limit, base, reserve: null, maxConnections: null };
  const reserve = Math.max(RESERVE_MIN, Math.ceil(limit / RESERVE_SHARE));
  return { limit, base, reserve, maxConnections: Math.max(1, Math.floor((limit - base - reserve) / 2)) };
}

/** Measures this process's budget now (once its listeners are open). */
export function measureBudget(): DescriptorBudget {
  const limit = descriptorLimit();
  return budgetFor(limit, limit === null ? null : openDescriptors());
}
