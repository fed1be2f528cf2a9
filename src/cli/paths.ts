// Where the config, the flags directory and its state file are, from -c/-d, $FLAGMAN_CONFIG or the
// defaults.
import path from 'node:path';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { defaultStateFile } from '../config/sections.js';

/** The state file of the shipped systemd unit (`StateDirectory=flagman`). */
export const SYSTEMD_STATE_FILE = '/var/lib/flagman/flags.json';

/** The config file named by -c, else $FLAGMAN_CONFIG, else ./flagman.yaml. */
export function configPath(values: Record<string, unknown>): string {
  const given = typeof values.config === 'string' ? values.config : (process.env.FLAGMAN_CONFIG ?? 'flagman.yaml');
  return path.resolve(given);
}

/** A flags directory, and where the proxy that reads it may keep its state file. */
export interface FlagSource {
  readonly dir: string;
  /** Candidates for flags/state.ts findState, most likely first. */
  readonly state: readonly string[];
}

/** The flags directory named by -d, else the config's flags.dir; and its state file's candidates. */
export function flagSource(values: Record<string, unknown>): FlagSource {
  if (typeof values.dir === 'string') return { dir: path.resolve(values.dir), state: stateCandidates(null) };
  const config = loadConfig(configPath(values));
  return { dir: config.flags.dir, state: stateCandidates(config) };
}

/**
 * Where a proxy may have written the state file. A `flags.state` in the config is the one answer.
 * Otherwise the default depends on the proxy's environment, which a shell does not share: under
 * systemd it is the unit's StateDirectory ($STATE_DIRECTORY, set for the service only), else next
 * to the config file; so every default place is tried, and findState takes the first one that was
 * written for this flags directory.
 */
export function stateCandidates(config: Config | null): string[] {
  if (config?.flags.stateConfigured) return config.flags.state === null ? [] : [config.flags.state];
  const all = [config?.flags.state, config && defaultStateFile(config.file, {}), defaultStateFile(null, process.env), SYSTEMD_STATE_FILE];
  return [...new Set(all.filter((f): f is string => typeof f === 'string'))];
}
