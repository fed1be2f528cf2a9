// What a command is: its arguments, options, help text and implementation. The command table
// (commands.ts) holds one of these per command; the parser (parse.ts) and the help (help.ts) both
// read it, so a command's help is written once, beside the options it describes.
import type { CliIo } from './io.js';

/** A command-line option: what node:util parseArgs needs, and its line of help. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** What a string option's value is called in help and messages (`FILE`). */
  readonly arg?: string;
  readonly help: string;
}

/** Option values as parsed: a string, strings (`multiple`), or true. */
export type Values = Record<string, string | string[] | boolean | undefined>;

export interface CommandSpec {
  /** The arguments as the synopsis shows them: `NAME`, `[VALUE]`, `NAME...`; '' for none. */
  readonly args: string;
  /** One line, for the list of commands. */
  readonly summary: string;
  /** What the command does, a few lines wrapped to 100 columns, for its own help. */
  readonly about: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly examples: readonly string[];
  /**
   * Runs with the arguments already checked against `args` and `options`, printing to `io`;
   * resolves to the exit code.
   */
  run(values: Values, positionals: string[], io: CliIo): Promise<number>;
}

/** Every command takes -h/--help: the parser looks for it first, and each help lists it. */
export const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', help: 'print this help' };

/** A command's options, with --help. */
export function withHelp(options: Readonly<Record<string, OptionSpec>>): Readonly<Record<string, OptionSpec>> {
  return { ...options, help: HELP_OPTION };
}
