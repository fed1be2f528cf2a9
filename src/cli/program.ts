// argv → one command (docs/cli.md) → its exit code. Exit codes: 0 success, 1 failure with a
// one-line reason, 2 usage: one line naming what was not understood, and the help that says how.
// It prints through `io` only and never exits, so that the whole command line (main.ts runs it on
// the process) can also be run in-process, as a test does.
import { errorLine, flagmanErrorsOf } from '../errors.js';
import { VERSION } from '../version.js';
import { COMMANDS, DEFAULT_COMMAND, helpFor, isCommand, TOP_LEVEL, usage } from './commands.js';
import { processIo, type CliIo } from './io.js';
import { parseCommandLine } from './parse.js';
import { UsageError } from './usage.js';

async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  const first = argv[0];
  if (first === undefined || first.startsWith('-')) {
    // No command named: flagman's own --help and --version, else the default command's options.
    const top = parseCommandLine([...argv], TOP_LEVEL, null);
    if (top.help) io.stdout.write(usage());
    else if (top.values.version === true) io.stdout.write(`flagman ${VERSION}\n`);
    else return COMMANDS[DEFAULT_COMMAND].run(top.values, top.positionals, io);
    return 0;
  }
  if (!isCommand(first)) throw new UsageError(`unknown command "${first}"`, null);
  try {
    const parsed = parseCommandLine(argv.slice(1), COMMANDS[first], first);
    if (!parsed.help) return await COMMANDS[first].run(parsed.values, parsed.positionals, io);
    io.stdout.write(helpFor(first));
    return 0;
  } catch (err) {
    // A command's own check (a header without a colon, say) points to that command's help.
    if (err instanceof UsageError && err.command === undefined) err.command = first;
    throw err;
  }
}

/** What went wrong, on stderr; resolves to the exit code it calls for. */
function report(err: unknown, io: CliIo): number {
  if (err instanceof UsageError) {
    io.stderr.write(`flagman: ${err.message} (flagman help${err.command ? ` ${err.command}` : ''})\n`);
    return 2;
  }
  // One line per error (`check` reports every error it found), each `flagman: CODE: reason (place)`.
  const errors = flagmanErrorsOf(err);
  if (errors !== null) {
    for (const e of errors) io.stderr.write(`flagman: ${errorLine(e)}\n`);
    return 1;
  }
  io.stderr.write(`flagman: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}

/** Runs the command line `argv` (without node and the script), printing to `io`; resolves to its exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    return report(err, io);
  }
}
