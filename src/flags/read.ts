// Reads one flag file safely (SPEC §1.5). Synchronous on purpose: WATCHING.md measured an async
// read taking 39 ms under load and letting a short-lived value slip past, while a sync read of a
// file under 4 KiB is cheap and deterministic. Every path here either returns or fails fast: a FIFO
// is refused before it is opened (and O_NONBLOCK covers the race where one replaces the file), a
// device is never opened, a symlink is only followed inside the flags directory.
import fs from 'node:fs';
import path from 'node:path';

/** Largest flag file accepted; one more byte is read to tell "exactly 4 KiB" from "more". */
export const MAX_FLAG_BYTES = 4096;

/** The outcome of reading one flag file. `missing` includes "not a file at all" (a subdirectory). */
export type FlagRead =
  | { readonly kind: 'missing' }
  | { readonly kind: 'file'; readonly content: Buffer; readonly uid: number; readonly mtime: number }
  | { readonly kind: 'problem'; readonly problem: string };

const MISSING: FlagRead = Object.freeze({ kind: 'missing' });
const { O_RDONLY, O_NONBLOCK = 0, O_NOFOLLOW = 0 } = fs.constants;
// O_NONBLOCK: opening a FIFO that appeared after the lstat must not wait for a writer (four stuck
// reads fill libuv's pool and stall every fs call and DNS lookup). O_NOFOLLOW: the path we open
// was already resolved; a symlink swapped in since then is refused instead of followed.
const OPEN_FLAGS = O_RDONLY | O_NONBLOCK | O_NOFOLLOW;

function problem(text: string): FlagRead {
  return { kind: 'problem', problem: text };
}

// Why a non-regular file is refused, or null for a regular file. Directories are not flags at all
// (SPEC §1.1: subdirectories are ignored without noise), so they read as missing.
function refuseKind(st: fs.Stats): FlagRead | null {
  if (st.isFile()) return null;
  if (st.isDirectory()) return MISSING;
  if (st.isFIFO()) return problem('not a regular file (FIFO)');
  if (st.isSocket()) return problem('not a regular file (socket)');
  if (st.isCharacterDevice() || st.isBlockDevice()) return problem('not a regular file (device)');
  return problem('not a regular file');
}

function errorRead(err: unknown): FlagRead {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  // ENOTDIR: the directory itself was replaced by a file; EISDIR: raced into a directory.
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return MISSING;
  if (code === 'ELOOP') return problem('changed into a symlink while being read');
  if (code === 'EACCES' || code === 'EPERM') return problem(`not readable (${code})`);
  return problem(`cannot be read (${code})`);
}

function inside(dirReal: string, target: string): boolean {
  return target.startsWith(dirReal.endsWith(path.sep) ? dirReal : dirReal + path.sep);
}

// Where to open `name`: itself, or its resolved target when it is a symlink that stays inside the
// flags directory (a Kubernetes ConfigMap volume: MAINT -> ..data/MAINT -> ..2026_…/MAINT).
function locate(dir: string, dirReal: string, name: string): { at: string; linked: boolean } | FlagRead {
  const at = path.join(dir, name);
  const lst = fs.lstatSync(at);
  if (!lst.isSymbolicLink()) return refuseKind(lst) ?? { at, linked: false };
  let target: string;
  try {
    target = fs.realpathSync(at);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') return problem('symlink loop');
    // A dangling link holds no value: during a ConfigMap update kubelet removes a deleted key's
    // link right after swapping `..data`, so "missing" (which must settle) is the honest reading.
    return errorRead(err);
  }
  if (target === dirReal) return MISSING; // a link to the directory itself: a directory, not a flag
  if (!inside(dirReal, target)) return problem('symlink points outside the flags directory');
  return refuseKind(fs.lstatSync(target)) ?? { at: target, linked: true };
}

// Linux names the file behind a descriptor; checking it closes the gap between realpath and open
// (a path component re-pointed outside in between). Elsewhere the check is skipped.
function openedOutside(fd: number, dirReal: string): boolean {
  let opened: string;
  try {
    opened = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return false;
  }
  return !inside(dirReal, opened);
}

/**
 * Reads flag `name` in `dir` (`dirReal` is realpath(dir), the boundary for symlinks): content up to
 * 4 KiB with the owner uid and mtime, `missing`, or a problem that never quotes the content.
 */
export function readFlagFile(dir: string, dirReal: string, name: string): FlagRead {
  let fd: number | undefined;
  try {
    const where = locate(dir, dirReal, name);
    if ('kind' in where) return where;
    fd = fs.openSync(where.at, OPEN_FLAGS);
    // fstat decides, not the earlier lstat: the file may have been swapped between the two.
    const st = fs.fstatSync(fd);
    const refused = refuseKind(st);
    if (refused) return refused;
    if (where.linked && openedOutside(fd, dirReal)) {
      return problem('symlink points outside the flags directory');
    }
    const buf = Buffer.allocUnsafe(MAX_FLAG_BYTES + 1);
    let length = 0;
    while (length < buf.length) {
      const n = fs.readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > MAX_FLAG_BYTES) return problem('larger than 4 KiB');
    return { kind: 'file', content: Buffer.from(buf.subarray(0, length)), uid: st.uid, mtime: st.mtimeMs };
  } catch (err) {
    return errorRead(err);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
