// The flag commands: set, unset, get, list. They read and write the flags directory exactly as the
// proxy reads it — through the same state file — so what `get` shows is what routing uses. Their
// arguments come checked against the command table (commands.ts).
import { FlagmanError } from '../errors.js';
import { parseInteger, SAFE_RANGE } from '../flags/parse.js';
import type { FlagState } from '../flags/snapshot.js';
import { readFlagsOnce, setFlag, unsetFlag, type FlagListing } from '../flags/write.js';
import type { CliIo } from './io.js';
import { flagSource } from './paths.js';
import { formatTable } from './table.js';
import { UsageError } from './usage.js';

// VALUE as the operator typed it is what a refusal quotes: past the safe range the number it would
// read as is rounded, a value nobody typed.
function valueArgument(name: string, raw: string): number {
  const parsed = parseInteger(raw);
  if (parsed.kind === 'not-integer') throw new UsageError(`set ${name}: "${raw}" is not an integer`);
  if (parsed.kind === 'out-of-range') {
    throw new FlagmanError('FLAG_VALUE', `"${raw}" is outside the safe-integer range ${SAFE_RANGE}`, { flag: name });
  }
  return parsed.value;
}

/** `set NAME [VALUE] [--note TEXT]` */
export async function set(values: Record<string, unknown>, positionals: string[]): Promise<number> {
  const [name = '', raw] = positionals;
  const value = raw === undefined ? 1 : valueArgument(name, raw);
  setFlag(flagSource(values).dir, name, value, typeof values.note === 'string' ? values.note : undefined);
  return 0;
}

/** `unset NAME...` */
export async function unset(values: Record<string, unknown>, positionals: string[]): Promise<number> {
  const { dir } = flagSource(values);
  for (const name of positionals) unsetFlag(dir, name);
  return 0;
}

/** A flag as `--json` shows it: the fields of /status, and its name. */
function asJson(name: string, state: FlagState | undefined): object {
  return {
    name,
    value: state?.value ?? null,
    note: state?.note ?? null,
    changedAt: state?.changedAt ?? null,
    problem: state?.problem ?? null,
  };
}

// Reads the directory through the state file. Its problems and the directory's go to stderr, so
// that stdout stays machine-readable.
function readAll(values: Record<string, unknown>, io: CliIo, preferred?: string[]): FlagListing {
  const { dir, state } = flagSource(values);
  const listing = readFlagsOnce(dir, { preferred, state });
  if (listing.problem !== null) io.stderr.write(`flagman: warning: ${listing.problem}\n`);
  if (listing.stateProblem !== null) io.stderr.write(`flagman: warning: ${listing.stateProblem}\n`);
  return listing;
}

/**
 * `get NAME [--json]`: the value alone as the proxy holds it, `unset` when none; a problem goes to
 * stderr. `--json`: the value with its note, change time and problem.
 */
export async function get(values: Record<string, unknown>, positionals: string[], io: CliIo): Promise<number> {
  const [name = ''] = positionals;
  const state = readAll(values, io, [name]).flags.get(name);
  if (values.json === true) io.stdout.write(`${JSON.stringify(asJson(name, state))}\n`);
  else io.stdout.write(`${state?.value ?? 'unset'}\n`);
  if (state?.problem) io.stderr.write(`flagman: flag ${name}: ${state.problem}\n`);
  return 0;
}

/** `list [--json]`: every flag, as a table (or a JSON array). */
export async function list(values: Record<string, unknown>, _positionals: string[], io: CliIo): Promise<number> {
  const flags = [...readAll(values, io).flags].sort(([a], [b]) => a.localeCompare(b));
  if (values.json === true) {
    io.stdout.write(
      `${JSON.stringify(
        flags.map(([name, s]) => asJson(name, s)),
        null,
        2,
      )}\n`,
    );
    return 0;
  }
  const rows = [
    ['NAME', 'VALUE', 'NOTE', 'PROBLEM'],
    ...flags.map(([name, s]) => [name, s.value === null ? 'unset' : String(s.value), s.note ?? '', s.problem ?? '']),
  ];
  io.stdout.write(formatTable(rows));
  return 0;
}
