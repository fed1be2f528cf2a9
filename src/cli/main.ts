#!/usr/bin/env node
// argv → one command (docs/cli.md). Exit codes: 0 success, 1 failure with a one-line reason, 2
// usage: one line naming what was not understood, and the help that says how.
import { FlagmanError, FlagmanErrors } from '../errors.js';
import { VERSION } from '../version.js';
import { COMMANDS, DEFAULT_COMMAND, helpFor, isCommand, TOP_LEVEL, usage } from './commands.js';
import { parseCommandLine } from './parse.js';
import { UsageError } from './usage.js';

async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === undefined || first.startsWith('-')) {
    // No command named: flagman's own --help and --version, else the default command's options.
    const top = parseCommandLine(argv, TOP_LEVEL, null);
    if (top.help) process.stdout.write(usage());
    else if (top.values['version'] === true) process.stdout.write(`flagman ${VERSION}\n`);
    else return COMMANDS[DEFAULT_COMMAND].run(top.values, top.positionals);
    return 0;
  }
  if (!isCommand(first)) throw new UsageError(`unknown command "${first}"`, null);
  try {
    const parsed = parseCommandLine(argv.slice(1), COMMANDS[first], first);
    if (!parsed.help) return await COMMANDS[first].run(parsed.values, parsed.positionals);
    process.stdout.write(helpFor(first));
    return 0;
  } catch (err) {
    // A command's own check (a header without a colon, say) points to that command's help.
    if (err instanceof UsageError && err.command === undefined) err.command = first;
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`flagman: ${err.message} (flagman help${err.command ? ` ${err.command}` : ''})\n`);
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
