// What cluster starts as a worker when flagman is a single executable (README, "A single file").
import cluster from 'node:cluster';
import { isSea } from 'node:sea';

/**
 * Has cluster start the executable itself, with the command's own arguments, when flagman runs as
 * a single executable; under `node` cluster's defaults are right and are left alone.
 *
 * cluster.fork() starts `execPath ...execArgv exec ...args`, and by default `exec` is
 * process.argv[1] and `execArgv` process.execArgv. A single executable has no script: its
 * process.argv[1] is the name it was called by and its execArgv the V8 options built into it, so
 * the worker would get those as its first arguments where `run -c FILE` is expected. The executable
 * applies its built-in options to every process it starts, so none are passed; the arguments go as
 * they came, the first as `exec` because fork() puts `exec` first.
 */
export function forkSelf(): void {
  if (!isSea()) return;
  const [first = 'run', ...rest] = process.argv.slice(2);
  cluster.setupPrimary({ exec: first, args: rest, execArgv: [] });
}
