// Socket activation (sd_listen_fds): systemd passes listening sockets from fd 3 on, names them in
// LISTEN_FDNAMES (FileDescriptorName=) and says in LISTEN_PID which process they are for.
// In proxy/, beside listen() (frontend.ts), its one user.
import cluster from 'node:cluster';
import { FlagmanError } from '../errors.js';

// A worker (cluster/) listens through its primary, which holds the inherited sockets: LISTEN_PID
// names the primary.
function socketOwnerPid(): number {
  return cluster.isWorker ? process.ppid : process.pid;
}

const SD_LISTEN_FDS_START = 3;

/** The fd of the inherited socket named `name`; throws naming what is missing. */
export function inheritedSocket(name: string, env: NodeJS.ProcessEnv = process.env, pid = socketOwnerPid()): number {
  const count = Number(env.LISTEN_FDS ?? '0');
  if (!Number.isInteger(count) || count <= 0) {
    throw new FlagmanError('LISTEN', `no socket was passed (LISTEN_FDS is not set; start flagman from its .socket unit)`, {
      address: `systemd:${name}`,
    });
  }
  if (env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) !== pid) {
    throw new FlagmanError('LISTEN', `the passed sockets are for process ${env.LISTEN_PID}, not this one`, {
      address: `systemd:${name}`,
    });
  }
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  const i = names.indexOf(name);
  if (i < 0 || i >= count) {
    throw new FlagmanError(
      'LISTEN',
      `no passed socket has FileDescriptorName=${name} (passed: ${names.filter(Boolean).join(', ') || 'unnamed'})`,
      { address: `systemd:${name}` },
    );
  }
  return SD_LISTEN_FDS_START + i;
}
