// Command-line options of the bench scripts: parsed strictly with node's parseArgs; --help prints
// the script's help and exits 0; a bad number exits 2 naming the option.
import fs from 'node:fs';
import { parseArgs } from 'node:util';

/** The options' values; prints `help` and exits on --help. */
export function parseOptions(options, help) {
  const { values } = parseArgs({ options: { ...options, help: { type: 'boolean', default: false } }, strict: true });
  if (values.help) {
    console.log(help);
    process.exit(0);
  }
  return values;
}

/** `v` as an integer ≥ `min`, or exit 2 naming --`name`. */
export function int(name, v, min = 0) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name}: expected an integer ≥ ${min}, got ${v}`);
    process.exit(2);
  }
  return n;
}

/** A comma-separated option's items, trimmed, empty ones dropped; `fallback` when the option is not given. */
export function commaList(v, fallback) {
  if (!v) return fallback;
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The names of a bench's table (proxies, cases) run when none are named: those not marked `optional`. */
export function defaultNames(table) {
  return Object.keys(table).filter((k) => !table[k].optional);
}

/** Exits 2 unless each of `files` (null: not given, skipped) exists: the flagman commands a bench runs. */
export function requireBuilt(...files) {
  for (const f of files)
    if (f !== null && f !== undefined && !fs.existsSync(f)) {
      console.error(`${f} not found: build first (npm run build)`);
      process.exit(2);
    }
}
