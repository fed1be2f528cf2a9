// Reads one flag file safely (docs/flags.md). Synchronous on purpose (docs/design/watching.md): an async
// read was measured taking 39 ms under load and letting a short-lived value slip past, while a sync read of a
// file under 4 KiB is cheap and deterministic. Every path here either returns or fails fast: a FIFO
// or device is refused before it is opened (and every open is O_NONBLOCK, for the race where one
// replaces the file), a symlink is only followed inside the flags directory, and at most 4 KiB + 1
// byte is read.
//
// Cost matters: the rescan reads every flag, up to 10,000 of them, every second. The careful path
// (any name) starts with lstat: a symlink (a Kubernetes ConfigMap volume) is resolved and must stay
// inside the directory, anything but a regular file is refused unopened; then open, fstat, read,
// close. The quick path is for a name the caller last read as a regular file (the store remembers
// which): it skips the lstat and opens at once, with O_NOFOLLOW — if the name became a symlink
// since, the open fails with ELOOP and the careful path takes over; if it silently became a FIFO
// or device (replaced with no event seen for it), that one read opens it without blocking, fstat
// refuses it, and nothing is read. That is four system calls (open, fstat, read, close), plus a
// second read only when the first did not prove the end of the file.
import fs from 'node:fs';
import path from 'node:path';

/** Largest flag file accepted; one more byte is read to tell "exactly 4 KiB" from "more". */
export const MAX_FLAG_BYTES = 4096;

/** The outcome of reading one flag file. `missing` includes "not a file at all" (a subdirectory). */
export type FlagRead =
  | { readonly kind: 'missing' }
  | { readonly kind: 'file'; readonly content: Buffer; readonly uid: number; readonly mtime: number }
  | { readonly kind: 'problem'; readonly problem: string };

/**
 * A reading, and whether `name` was a symlink (or could not be shown not to be one). A plain
 * regular file may be read again with the quick open (see readFlag).
 */
export interface FlagReading {
  readonly read: FlagRead;
  readonly linked: boolean;
}

const MISSING: FlagRead = Object.freeze({ kind: 'missing' });
const { O_RDONLY, O_NONBLOCK = 0, O_NOFOLLOW = 0, O_NOCTTY = 0 } = fs.constants;
// O_NONBLOCK: opening a FIFO must not wait for a writer (four stuck reads fill libuv's pool and
// stall every fs call and DNS lookup). O_NOFOLLOW: the last component is never followed: on the
// quick path a symlink fails with ELOOP and goes the careful way; on the careful path the target
// was already resolved, and a symlink swapped in since is refused instead of followed. O_NOCTTY: a
// terminal device put in the directory must not become our controlling terminal.
const OPEN_FLAGS = O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY;
// Without O_NOFOLLOW (not Linux or macOS) the quick open would follow a symlink: always be careful.
const QUICK = O_NOFOLLOW !== 0;
// The quick open's errors that need no closer look; any other (ELOOP or EMLINK: a symlink now under
// O_NOFOLLOW; ENXIO: a socket; EACCES…) sends the name the careful way, which names the problem.
const DEFINITE = new Set(['ENOENT', 'ENOTDIR']);

// One buffer for every read, allocated once (a fresh 4097-byte buffer per read is too big for
// Node's pool and cost an allocation each time). Safe to share: readFlagFile is synchronous from
// open to close, so no two reads can interleave on this thread (a worker thread gets its own copy
// of the module), and what it returns is a copy of the bytes, never a view of this buffer.
const BUF = Buffer.allocUnsafeSlow(MAX_FLAG_BYTES + 1);

function problem(text: string): FlagRead {
  return { kind: 'problem', problem: text };
}

// Why a non-regular file is refused, or null for a regular file. Directories are not flags at all
// (README, "The flag rules": subdirectories are ignored without noise), so they read as missing.
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
// `plain` is set once `at` is known not to be a symlink.
function locate(at: string, dirReal: string, plain: { value: boolean }): { at: string; linked: boolean } | FlagRead {
  const lst = fs.lstatSync(at, { throwIfNoEntry: false });
  plain.value = lst === undefined || !lst.isSymbolicLink();
  if (lst === undefined) return MISSING;
  if (plain.value) return refuseKind(lst) ?? { at, linked: false };
  let target: string;
  try {
    // realpath(3): one call instead of an lstat per path component, with the same answers.
    target = fs.realpathSync.native(at);
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

// Reads an open descriptor: fstat decides (the file may have been swapped since it was looked at),
// then at most MAX_FLAG_BYTES + 1 bytes into BUF.
function readOpen(fd: number, dirReal: string, linked: boolean): FlagRead {
  const st = fs.fstatSync(fd);
  const refused = refuseKind(st);
  if (refused) return refused;
  if (linked && openedOutside(fd, dirReal)) return problem('symlink points outside the flags directory');
  let length = 0;
  while (length < BUF.length) {
    const want = BUF.length - length;
    const n = fs.readSync(fd, BUF, length, want, null);
    length += n;
    // A short read that ends exactly where fstat put the end is the end of the file at that
    // moment: the read that would return 0 is skipped. Anything else reads on until 0 or full.
    if (n === 0 || (n < want && length === st.size)) break;
  }
  if (length > MAX_FLAG_BYTES) return problem('larger than 4 KiB');
  return { kind: 'file', content: Buffer.from(BUF.subarray(0, length)), uid: st.uid, mtime: st.mtimeMs };
}

// The careful path: whatever the quick open did not take (a symlink, a socket, an error to name).
function readCarefully(at: string, dirReal: string): FlagReading {
  let fd: number | undefined;
  const plain = { value: false };
  let read: FlagRead;
  try {
    const where = locate(at, dirReal, plain);
    if ('kind' in where) {
      read = where;
    } else {
      fd = fs.openSync(where.at, OPEN_FLAGS);
      read = readOpen(fd, dirReal, where.linked);
    }
  } catch (err) {
    read = errorRead(err);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  return { read, linked: !plain.value };
}

/**
 * Reads flag `name` in `dir` (`dirReal` is realpath(dir), the boundary for symlinks): content up to
 * 4 KiB with the owner uid and mtime, `missing`, or a problem that never quotes the content.
 */
export function readFlagFile(dir: string, dirReal: string, name: string): FlagRead {
  return readFlag(dir, dirReal, name).read;
}

/**
 * readFlagFile, telling also whether `name` is a symlink (see FlagReading). `wasPlain`: `name` was
 * a regular file when last read, so the quick path may be tried.
 */
export function readFlag(dir: string, dirReal: string, name: string, wasPlain = false): FlagReading {
  const at = path.join(dir, name);
  if (!QUICK || !wasPlain) return readCarefully(at, dirReal);
  let fd: number;
  try {
    fd = fs.openSync(at, OPEN_FLAGS);
  } catch (err) {
    // Not there (no entry can be a symlink then), or not a plain file: look closer.
    if (DEFINITE.has((err as NodeJS.ErrnoException).code ?? '')) return { read: MISSING, linked: false };
    return readCarefully(at, dirReal);
  }
  let read: FlagRead;
  try {
    read = readOpen(fd, dirReal, false);
  } catch (err) {
    read = errorRead(err);
  } finally {
    fs.closeSync(fd);
  }
  // O_NOFOLLOW opened it: not a symlink.
  return { read, linked: false };
}
