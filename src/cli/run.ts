// `flagman run`. It prints nothing through the command line's io: the proxy's events go to its own
// log sink (log-sink.ts), which writes to the process's descriptors for as long as the proxy runs.
import { run } from '../lifecycle/run.js';
import { configPath } from './paths.js';

export function runCommand(values: Record<string, unknown>): Promise<number> {
  return run(configPath(values));
}
