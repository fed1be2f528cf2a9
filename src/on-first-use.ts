// The parts of flagman a running process loads only when they are first needed: the /metrics
// registry (admin/metrics.ts), TLS frontends (lifecycle/listeners.ts) and exec health checks
// (health/probes.ts). Their code is read from disk then, not at start. The `flagman` command runs
// a bundle whose chunk files are named by a hash of their content (scripts/bundle.js), so an
// upgrade of the package in place (`npm install -g`, a package manager) removes the chunks of the
// version that is running; a process started before it and not restarted since finds a part it
// had not loaded yet gone. Node says only "Cannot find module"; this says what happened and what
// to do, under a code of its own (docs/errors.md, INSTALL).
import { FlagmanError } from './errors.js';

/** `load()`'s module; a module file gone from disk is an INSTALL error naming `part` and the file. */
export async function loadOnFirstUse<T>(part: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    // Node's message names the file it looked for: "Cannot find module '/…/chunk-X.js' imported from …".
    const named = /'([^']+)'/.exec(String((err as Error).message))?.[1];
    const file = named?.startsWith('/') ? named : undefined;
    const missing = file || named === undefined ? '' : ` (${named} is missing)`;
    throw new FlagmanError(
      'INSTALL',
      `${part} cannot be loaded: flagman's files changed on disk since this process started ` +
        `(an upgrade in place?)${missing}; restart flagman to run the installed version`,
      file ? { file } : {},
      { cause: err },
    );
  }
}
