// `flagman sync etcd` for the etcd tests: spawned as users run it (the flagman command), its event
// log followed, stopped by PID at teardown.
import { execa } from './execa.js';
import { flagmanCommand, followEvents, stopAtTeardown } from './e2e.js';

/**
 * Starts `flagman sync etcd -d FLAGSDIR --endpoints ENDPOINT --prefix PREFIX` and resolves once its
 * first listing is written (`wait: false`: at once). `args`: more options; `endpoint: null` gives
 * no --endpoints (ETCDCTL_ENDPOINTS in `env`, then).
 */
export async function startSync(t, { flagsDir, endpoint, prefix, args = [], env = {}, wait = true }) {
  const proc = execa(
    flagmanCommand[0],
    [
      ...flagmanCommand.slice(1),
      'sync',
      'etcd',
      '-d',
      flagsDir,
      ...(endpoint === null ? [] : ['--endpoints', endpoint]),
      '--prefix',
      prefix,
      ...args,
    ],
    { reject: false, cleanup: true, buffer: false, stdin: 'ignore', stdout: 'ignore', env },
  );
  const { events, waitEvent } = followEvents(proc.stderr);
  const exited = stopAtTeardown(t, proc);
  if (wait) {
    await Promise.race([
      waitEvent((e) => e.event === 'sync.resync', { timeout: 30_000 }),
      exited.then((r) => {
        throw new Error(`flagman sync exited early (${r.exitCode}): ${events.map((e) => JSON.stringify(e)).join('\n')}`);
      }),
    ]);
  }
  return { proc, pid: proc.pid, events, waitEvent, exited };
}
