// The access log's own file (`log.file`, docs/logs.md): opened by its path at start, by a reload that
// names another, and on SIGUSR1, after logrotate moved the old one away.
import fs from 'node:fs';

/**
 * Mode of a log file flagman creates, whatever the umask (0077 under the systemd unit would leave
 * it 0600): whoever reads the logs (the `adm` group, a log shipper) is not flagman's user. A file
 * that exists keeps its owner and mode, as logrotate's `create` set them.
 */
export const LOG_FILE_MODE = 0o644;

const { O_WRONLY, O_APPEND, O_CREAT, O_EXCL, O_NONBLOCK } = fs.constants;
// O_APPEND: every write goes at the end of the file, in one piece, whichever process (worker)
// makes it. O_NONBLOCK changes nothing for a file; a named pipe without a reader fails (ENXIO)
// instead of blocking the process in open().
const APPEND = O_WRONLY | O_APPEND | O_NONBLOCK;

/** Opens `file` to append to, creating it (LOG_FILE_MODE) if it does not exist; throws the system's error. */
export function openLogFile(file: string): number {
  // The mode is set only on a file this call creates: open(O_CREAT) applies the umask, fchmod()
  // does not. Several workers reopen at once: one creates the file (O_EXCL), the others open it.
  for (let tries = 0; ; tries++) {
    try {
      return fs.openSync(file, APPEND);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || tries === 2) throw err;
    }
    let fd: number;
    try {
      fd = fs.openSync(file, APPEND | O_CREAT | O_EXCL, LOG_FILE_MODE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    try {
      fs.fchmodSync(fd, LOG_FILE_MODE);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    return fd;
  }
}
