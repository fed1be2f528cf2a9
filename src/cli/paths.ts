// Where the config and the flags directory are, from -c/-d, $FLAGMAN_CONFIG or the defaults.
import path from 'node:path';
import { loadConfig } from '../config/load.js';

/** The config file named by -c, else $FLAGMAN_CONFIG, else ./flagman.yaml. */
export function configPath(values: Record<string, unknown>): string {
  const given = typeof values['config'] === 'string' ? values['config'] : (process.env['FLAGMAN_CONFIG'] ?? 'flagman.yaml');
  return path.resolve(given);
}

/** The flags directory named by -d, else the config's flags.dir. */
export function flagsDir(values: Record<string, unknown>): string {
  if (typeof values['dir'] === 'string') return path.resolve(values['dir']);
  return loadConfig(configPath(values)).flags.dir;
}
