// The help text, made from the command specs: the general usage (`flagman help`) lists every
// command's synopsis and summary, a command's help (`flagman help get`) adds what it does, its
// options and examples. Nothing here is written twice: a command's words are in commands.ts.
import { withHelp, type CommandSpec, type OptionSpec } from './spec.js';

const WIDTH = 100;

function optionSynopsis(name: string, o: OptionSpec): string {
  const flag = o.short === undefined ? `--${name}` : `-${o.short}`;
  return `[${flag}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}]${o.multiple ? '...' : ''}`;
}

/** `flagman get NAME [-c FILE] [-d DIR] [--json]`; the default command's name in brackets. */
function synopsis(name: string, spec: CommandSpec, isDefault: boolean): string {
  const words = [
    'flagman',
    isDefault ? `[${name}]` : name,
    spec.args,
    ...Object.entries(spec.options).map(([n, o]) => optionSynopsis(n, o)),
  ];
  return words.filter(Boolean).join(' ');
}

// Past this, a left cell (a long synopsis) stands on its own line, its right cell below it.
const MAX_LEFT = 44;

/** Words wrapped to lines of at most `width` characters (a longer word stands alone). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of text.split(' ')) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last]!.length + 1 + word.length <= width) lines[last] += ` ${word}`;
    else lines.push(word);
  }
  return lines;
}

/** `text` after `first`, wrapped to WIDTH, its further lines after `rest`; each line ends in \n. */
function hanging(text: string, first: string, rest: string): string {
  return wrap(text, WIDTH - rest.length)
    .map((l, i) => `${i === 0 ? first : rest}${l}\n`)
    .join('');
}

/** Two columns, the right one wrapped to fit within WIDTH. */
function columns(rows: readonly (readonly [string, string])[], indent = '  '): string {
  const width = Math.max(0, ...rows.map(([left]) => left.length).filter((n) => n <= MAX_LEFT));
  const pad = `${indent}${' '.repeat(width + 2)}`;
  return rows
    .map(([left, right]) => {
      const lines = wrap(right, Math.max(20, WIDTH - pad.length));
      // A synopsis too long for one line goes on, indented, on the next.
      const head =
        left.length <= width
          ? `${`${indent}${left.padEnd(width)}  ${lines.shift() ?? ''}`.trimEnd()}\n`
          : hanging(left, indent, `${indent}    `);
      return head + lines.map((l) => `${pad}${l}\n`).join('');
    })
    .join('');
}

/** The options' lines: `-c, --config FILE   the config file`. */
function optionLines(options: Readonly<Record<string, OptionSpec>>): string {
  return columns(
    Object.entries(options).map(([name, o]) => {
      const value = o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : '';
      return [`${o.short === undefined ? '    ' : `-${o.short}, `}--${name}${value}`, o.help];
    }),
  );
}

/** The general usage: every command, the options most of them take, the exit codes. */
export function generalHelp(
  commands: Readonly<Record<string, CommandSpec>>,
  defaultCommand: string,
  common: Readonly<Record<string, OptionSpec>>,
): string {
  const rows = Object.entries(commands).map(([name, spec]): [string, string] => [
    synopsis(name, spec, name === defaultCommand),
    spec.summary,
  ]);
  return [
    'usage: flagman [COMMAND] [ARGUMENTS] [OPTIONS]\n',
    `\ncommands:\n${columns(rows)}`,
    `\noptions:\n${optionLines(withHelp(common))}`,
    '\nexit codes: 0 success, 1 failure (one line naming the file, flag or address), 2 usage\n',
    `\n"flagman help COMMAND" or "flagman COMMAND --help": that command's options and examples.\n`,
  ].join('');
}

/** One command's help: synopsis, what it does, options, examples. */
export function commandHelp(name: string, spec: CommandSpec, isDefault: boolean): string {
  return [
    hanging(synopsis(name, spec, isDefault), 'usage: ', '         '),
    `\n${spec.about.trimEnd()}\n`,
    `\noptions:\n${optionLines(withHelp(spec.options))}`,
    spec.examples.length === 0 ? '' : `\nexamples:\n${spec.examples.map((e) => `  ${e}\n`).join('')}`,
  ].join('');
}
