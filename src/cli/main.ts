#!/usr/bin/env node
// argv → one command (docs/cli.md). Exit codes: 0 success, 1 failure with a one-line reason, 2 usage.
import { parseArgs } from 'node:util';
import { FlagmanError, FlagmanErrors } from '../errors.js';
import { COMMANDS, type CommandName } from './commands.js';
import { UsageError, usage } from './usage.js';

async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  const name: CommandName = first !== undefined && !first.startsWith('-') ? (first as CommandName) : 'run';
  const rest = first !== undefined && !first.startsWith('-') ? argv.slice(1) : argv;
  if (name === ('help' as CommandName) || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(usage());
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) throw new UsageError(`unknown command "${name}"`);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return command.run(parsed.values as Record<string, string | string[] | boolean | undefined>, parsed.positionals);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`flagman: ${err.message}\n\n${usage()}`);
      process.exitCode = 2;
    } else if (err instanceof FlagmanErrors || err instanceof FlagmanError) {
      process.stderr.write(`flagman: ${err.message.split('\n').join('\nflagman: ')}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`flagman: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
