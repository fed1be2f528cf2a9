// A command line checked against a command's spec: its options with node:util parseArgs, its
// arguments against the synopsis. Every mistake is one UsageError naming what was typed, in
// flagman's words rather than parseArgs' (which suggest `--` for a mistyped option).
import { parseArgs } from 'node:util';
import { withHelp, type OptionSpec, type Values } from './spec.js';
import { UsageError } from './usage.js';

export interface Parsed {
  readonly values: Values;
  readonly positionals: string[];
  /** -h/--help was given: the caller prints the help, whatever else is on the line. */
  readonly help: boolean;
}

type ParseOptions = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

function parseArgsOptions(options: Readonly<Record<string, OptionSpec>>): ParseOptions {
  const out: NonNullable<ParseOptions> = {};
  for (const [name, o] of Object.entries(options)) {
    out[name] = { type: o.type, ...(o.short === undefined ? {} : { short: o.short }), ...(o.multiple ? { multiple: true } : {}) };
  }
  return out;
}

/** How many arguments a synopsis such as `NAME [VALUE]` or `NAME...` takes, and their names. */
function arity(args: string): { required: string[]; max: number } {
  const required: string[] = [];
  let max = 0;
  for (const word of args.split(/\s+/).filter(Boolean)) {
    const optional = word.startsWith('[');
    if (!optional) required.push(word.replace(/\.\.\.$/, ''));
    max = word.endsWith('...') || word.endsWith('...]') ? Infinity : max + 1;
  }
  return { required, max };
}

// Whether a value that starts with "-" is one of the command's options (or `--`), so the value
// before it was forgotten; else it may be a value such as "-5" written the ambiguous way.
function isOption(text: string, options: Readonly<Record<string, OptionSpec>>): boolean {
  if (text.startsWith('--')) return text === '--' || Object.hasOwn(options, text.slice(2).split('=')[0] ?? '');
  return Object.values(options).some((o) => o.short === text[1]);
}

/**
 * Parses `args` for a command taking `spec.args` and `spec.options`, and -h/--help. `command`
 * names it in messages (`unknown option --x for "get"`); null when none was named.
 */
export function parseCommandLine(
  args: string[],
  spec: { readonly args: string; readonly options: Readonly<Record<string, OptionSpec>> },
  command: string | null,
): Parsed {
  const forCommand = command === null ? '' : ` for "${command}"`;
  // `what` was wrong, for this command; `detail` says how to put it right.
  const fail = (what: string, detail = ''): never => {
    throw new UsageError(`${what}${forCommand}${detail && `: ${detail}`}`, command);
  };
  const options = withHelp(spec.options);
  // Not strict: every token comes back, so the checks below can say what was wrong in its own terms.
  const { values, positionals, tokens } = parseArgs({
    args,
    options: parseArgsOptions(options),
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return { values: values as Values, positionals, help: true };
  const { required, max } = arity(spec.args);
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (option === undefined) {
      const typed = args[token.index] ?? token.rawName;
      // A negative number reads as options (-1, -5); after `--` it is an argument.
      if (/^-\d+$/.test(typed) && max > 0) fail(`unknown option ${typed}`, 'a negative number goes after --');
      fail(`unknown option ${token.rawName}`);
    } else if (option.type === 'boolean' && token.inlineValue === true) {
      fail(`${token.rawName}=${token.value ?? ''}`, `${token.rawName} takes no value`);
    } else if (option.type === 'string') {
      const arg = option.arg ?? 'VALUE';
      if (token.value === undefined) fail(`missing ${arg} after ${token.rawName}`);
      // What follows looks like an option: the value was most likely forgotten.
      if (token.inlineValue === false && token.value !== undefined && token.value.startsWith('-')) {
        if (isOption(token.value, options)) fail(`missing ${arg} after ${token.rawName}`);
        fail(`missing ${arg} after ${token.rawName}`, `a ${arg} that starts with "-" is written --${token.name}=${token.value}`);
      }
    }
  }
  if (positionals.length < required.length) fail(`missing ${required[positionals.length]}`);
  if (positionals.length > max) fail(`unexpected argument "${positionals[max]}"`);
  return { values: values as Values, positionals, help: false };
}
