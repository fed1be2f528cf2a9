// The command table (docs/design/conventions.md, "Registry tables"): each command's options and its implementation.
import type { ParseArgsConfig } from 'node:util';
import { check } from './check.js';
import { explainCommand } from './explain.js';
import { get, list, set, unset } from './flag.js';
import { runCommand } from './run.js';
import { status } from './status.js';

type Values = Record<string, string | string[] | boolean | undefined>;

export interface Command {
  readonly options: NonNullable<ParseArgsConfig['options']>;
  run(values: Values, positionals: string[]): Promise<number>;
}

const config = { config: { type: 'string', short: 'c' } } as const;
const flagDir = { ...config, dir: { type: 'string', short: 'd' } } as const;

export const COMMANDS = {
  run: { options: config, run: runCommand },
  check: { options: config, run: check },
  set: { options: { ...flagDir, note: { type: 'string' } }, run: set },
  unset: { options: flagDir, run: unset },
  get: { options: { ...flagDir, json: { type: 'boolean' } }, run: get },
  list: { options: { ...flagDir, json: { type: 'boolean' } }, run: list },
  explain: {
    options: {
      ...config,
      method: { type: 'string' },
      path: { type: 'string' },
      host: { type: 'string' },
      ip: { type: 'string' },
      header: { type: 'string', multiple: true },
      frontend: { type: 'string' },
      json: { type: 'boolean' },
    },
    run: explainCommand,
  },
  status: { options: { ...config, admin: { type: 'string' }, json: { type: 'boolean' } }, run: status },
} as const satisfies Record<string, Command>;

export type CommandName = keyof typeof COMMANDS;
