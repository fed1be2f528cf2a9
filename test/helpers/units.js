// systemd unit files as tests use them: their settings read the way systemd reads them (enough for
// these units), and the `flagman` their Exec lines name, pointed at this checkout.
import fs from 'node:fs';
import path from 'node:path';
import { launcherPath, root, tempDir } from './e2e.js';

/** Where the units expect flagman: `npm install -g --prefix /usr/local` puts it there (README). */
export const INSTALLED = '/usr/local/bin/flagman';

/** Every value of `key=` in a unit file, in order (comments and sections skipped). */
export function unitValues(file, key) {
  return fs
    .readFileSync(path.resolve(root, file), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1));
}

/** A temp dir holding `flagman`, a symlink to this checkout's launcher as npm installs it; returns its path. */
export function flagmanExecutable(t) {
  const dir = tempDir(t, 'flagman-bin-');
  const file = path.join(dir, 'flagman');
  fs.symlinkSync(launcherPath, file);
  return file;
}

/** `command` with the installed paths replaced: flagman by `bin`, and each `from` of `paths` by its `to`. */
export function localize(command, bin, paths = {}) {
  let out = command.replaceAll(INSTALLED, bin);
  for (const [from, to] of Object.entries(paths)) out = out.replaceAll(from, to);
  return out;
}
