// Code run under a umask, in a process of its own: a umask set in the test's process would hold for
// the file's other tests too (ava runs them concurrently), across every await until it is put back.
// A process started under `umask 077` is also what the code meets when root's shell, or a unit
// with UMask=, runs it.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The URL of a module under dist/ ('flags/write.js'), for a script of underUmask to import. */
export function distModule(file) {
  return JSON.stringify(pathToFileURL(path.join(root, 'dist', file)).href);
}

/**
 * Runs `script` (an ES module's text) with this test's node, started under `mask`; returns what it
 * printed. Throws with its stderr when it fails.
 */
export function underUmask(mask, script) {
  const r = spawnSync(
    'sh',
    ['-c', `umask ${mask.toString(8).padStart(3, '0')} && exec "$0" --input-type=module -e "$1"`, process.execPath, script],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`a script under umask ${mask.toString(8)} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}
