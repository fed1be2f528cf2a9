// `flagman run`.
import { run } from '../lifecycle/run.js';
import { configPath } from './paths.js';
import { UsageError } from './usage.js';

export function runCommand(values: Record<string, unknown>, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('run takes no arguments');
  return run(configPath(values));
}
