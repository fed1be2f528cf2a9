// Command-line options of the bench scripts: parsed strictly with node's parseArgs; --help prints
// the script's help and exits 0; a bad number exits 2 naming the option.
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
