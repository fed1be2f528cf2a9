// `flagman run`.
import { run } from '../lifecycle/run.js';
import { configPath } from './paths.js';

export function runCommand(values: Record<string, unknown>): Promise<number> {
  return run(configPath(values));
}
