// The CLI's side of the flags directory: `flagman set` and `unset` write the way the README asks
// writers to (temp file, fsync, rename, fsync the directory).
import fs from 'node:fs';
import path from 'node:path';
import { FlagmanError } from '../errors.js';
import { isFlagName, parseFlagContent, SAFE_RANGE } from './parse.js';
import { MAX_FLAG_BYTES } from './read.js';

// `get`/`list`/`check` read through once.ts; re-exported so the CLI has one module for flags.
export { readFlagsOnce, type FlagListing } from './once.js';

function checkName(name: string): void {
  if (isFlagName(name)) return;
  throw new FlagmanError(
    'FLAG_NAME',
    `"${name}" is not a flag name: it must match ^[A-Za-z][A-Za-z0-9_.-]{0,127}$ and not end in ~ .swp .swx .tmp .bak .dpkg-new .dpkg-old`,
    { flag: name },
  );
}

// The file content for a value and note, checked by parsing it back: what `set` writes is exactly
// what the watcher will read.
function render(name: string, value: number, note: string | undefined): string {
  if (!Number.isSafeInteger(value)) {
    throw new FlagmanError('FLAG_VALUE', `${value} is not an integer in the safe range ${SAFE_RANGE}`, { flag: name });
  }
  // Control characters would end the comment early or garble a status table.
  if (note !== undefined && /[\u0000-\u0008\u000a-\u001f\u007f]/.test(note)) {
    throw new FlagmanError('FLAG_VALUE', 'the note must be one line of text', { flag: name });
  }
  const text = note?.trim() ? `${value} # ${note.trim()}\n` : `${value}\n`;
  const parsed = parseFlagContent(Buffer.from(text));
  if (parsed.kind !== 'value' || parsed.value !== value || parsed.note !== (note?.trim() || null)) {
    throw new FlagmanError('FLAG_VALUE', 'the value and note do not read back as written', { flag: name });
  }
  if (Buffer.byteLength(text) > MAX_FLAG_BYTES) {
    throw new FlagmanError('FLAG_VALUE', 'the note makes the file larger than 4 KiB', { flag: name });
  }
  return text;
}

// Every flag file is world-readable. The proxy usually runs as another user than the writer (root
// writes, flagman reads), so a writer's umask of 077 would leave it a flag it cannot read. The
// directory's own mode (root:flagman 0750) is what keeps other users out; a file mode of 0640
// would not help and, with the file in root's group, would shut out flagman too.
const FLAG_FILE_MODE = 0o644;

function writeError(file: string, err: unknown): FlagmanError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new FlagmanError('FLAG_DIR', 'the flags directory is missing', { file: path.dirname(file) }, { cause: err });
  }
  return new FlagmanError('FLAG_WRITE', `cannot write (${code ?? String(err)})`, { file }, { cause: err });
}

// Makes a rename or unlink durable. Some file systems cannot fsync a directory (EINVAL); the change
// is still made, only not yet forced to disk.
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Best effort, see above.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Atomically sets flag `name` in `dir` to `value` (with an optional one-line note). */
export function setFlag(dir: string, name: string, value: number, note?: string): void {
  checkName(name);
  writeFlagFile(dir, name, render(name, value, note));
}

/**
 * Atomically writes `content` to flag file `name` in `dir`, as it is: a mirror of another store
 * writes values verbatim, and the proxy's own parser decides whether they are valid (a bad one is
 * reported and its last good value kept).
 */
export function writeFlagFile(dir: string, name: string, content: string | Uint8Array): void {
  checkName(name);
  writeAtomically(dir, name, content);
}

/**
 * What makes a temp file's name unique beside a flags directory's other writers: this process's
 * PID and 48 random bits. The bits tell apart writers in other PID namespaces (containers sharing
 * a volume, each its PID 1); the name is opened with O_EXCL, so they need not be unguessable, and
 * Math.random spares the commands loading node:crypto (some 10 ms of a `flagman set`).
 */
export function tempSuffix(): string {
  return `${process.pid}.${Math.floor(Math.random() * 2 ** 48)
    .toString(16)
    .padStart(12, '0')}`;
}

/**
 * Writes `content` to `dir/fileName` the way every writer of the flags directory must: a temp
 * file, fsync, rename, fsync the directory; mode 0644. A reader sees the old file or the new one,
 * never part of one; a crash leaves one or the other.
 */
export function writeAtomically(dir: string, fileName: string, content: string | Uint8Array): void {
  const file = path.join(dir, fileName);
  // A dotfile: the watcher ignores it, so only the rename is ever seen.
  const temp = path.join(dir, `.${fileName.replace(/^\./, '')}.${tempSuffix()}`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, 'wx', FLAG_FILE_MODE);
    // open() applies the umask; fchmod() does not.
    fs.fchmodSync(fd, FLAG_FILE_MODE);
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, file);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw writeError(file, err);
  }
  syncDir(dir);
}

/** Removes flag `name` from `dir` (unsets it); a flag that is already unset is fine. */
export function unsetFlag(dir: string, name: string): void {
  checkName(name);
  const file = path.join(dir, name);
  try {
    fs.unlinkSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'EISDIR' || code === 'EPERM') {
      if (fs.lstatSync(file, { throwIfNoEntry: false })?.isDirectory()) {
        throw new FlagmanError('FLAG_WRITE', 'is a directory, not a flag', { file }, { cause: err });
      }
    }
    throw writeError(file, err);
  }
  syncDir(dir);
}
