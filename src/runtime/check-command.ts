// Finding an exec check's command the way the exec call will, so `flagman check` and start refuse a
// command that could never run (a typo would otherwise mark every server down at the first check).
// In runtime/, whose compile step is its one user (health/ runs the command; it does not look for it).
import fs from 'node:fs';
import path from 'node:path';

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Why `file` cannot be run (a path that is not an executable file, a name not on $PATH), or null. */
export function commandProblem(file: string, searchPath = process.env.PATH ?? ''): string | null {
  if (file.includes('/')) return executable(file) ? null : `${file} is not an executable file`;
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir !== '' && executable(path.join(dir, file))) return null;
  }
  return `"${file}" is not found on $PATH`;
}
