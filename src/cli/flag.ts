// The flag commands: set, unset, get, list. They read and write the flags directory exactly as the
// proxy reads it, so what `get` shows is what routing uses.
import { FlagmanError } from '../errors.js';
import { parseInteger, SAFE_RANGE } from '../flags/parse.js';
import type { FlagState } from '../flags/snapshot.js';
import { readFlagsOnce, setFlag, unsetFlag } from '../flags/write.js';
import { flagsDir } from './paths.js';
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
  const [name, raw, ...extra] = positionals;
  if (name === undefined || extra.length > 0) throw new UsageError('set takes NAME [VALUE]');
  const value = raw === undefined ? 1 : valueArgument(name, raw);
  setFlag(flagsDir(values), name, value, typeof values['note'] === 'string' ? values['note'] : undefined);
  return 0;
}

/** `unset NAME...` */
export async function unset(values: Record<string, unknown>, positionals: string[]): Promise<number> {
  if (positionals.length === 0) throw new UsageError('unset takes NAME...');
  const dir = flagsDir(values);
  for (const name of positionals) unsetFlag(dir, name);
  return 0;
}

function describe(state: FlagState | undefined): string {
  if (state === undefined || state.value === null) return 'unset';
  return state.note !== null ? `${state.value} # ${state.note}` : String(state.value);
}

/** `get NAME`: the value as the proxy reads it, `unset` when none; a problem goes to stderr. */
export async function get(values: Record<string, unknown>, positionals: string[]): Promise<number> {
  const [name, ...extra] = positionals;
  if (name === undefined || extra.length > 0) throw new UsageError('get takes NAME');
  const listing = readFlagsOnce(flagsDir(values), { preferred: [name] });
  const state = listing.flags.get(name);
  process.stdout.write(`${describe(state)}\n`);
  if (listing.problem !== null) process.stderr.write(`flagman: warning: ${listing.problem}\n`);
  if (state?.problem) process.stderr.write(`flagman: flag ${name}: ${state.problem}\n`);
  return 0;
}

/** `list`: every flag, as a table. */
export async function list(values: Record<string, unknown>, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('list takes no arguments');
  const listing = readFlagsOnce(flagsDir(values));
  // A directory problem (missing, world-writable, more flags than are tracked) goes to stderr, so
  // the table on stdout stays machine-readable.
  if (listing.problem !== null) process.stderr.write(`flagman: warning: ${listing.problem}\n`);
  const flags = [...listing.flags].sort(([a], [b]) => a.localeCompare(b));
  const rows = [['NAME', 'VALUE', 'NOTE', 'PROBLEM'], ...flags.map(([name, s]) => [name, s.value === null ? 'unset' : String(s.value), s.note ?? '', s.problem ?? ''])];
  process.stdout.write(formatTable(rows));
  return 0;
}
