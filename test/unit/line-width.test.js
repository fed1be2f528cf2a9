// No line of src/ is wider than the formatter's 140 columns (biome.jsonc, lineWidth). Biome breaks
// code, but not a comment or a string: those are broken by hand (a comment reflowed, a string in
// concatenated pieces), and this test keeps them so. A column is a character (a code point), as
// an editor counts it: `—` and `→` are one each.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAX_COLUMNS = 140;

/** Every .ts file under src/, as paths relative to the root with `/` separators. */
function sources(dir = 'src') {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return sources(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

test(`no src/ line over ${MAX_COLUMNS} columns`, (t) => {
  const wide = [];
  for (const file of sources()) {
    const lines = fs.readFileSync(path.join(root, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      const columns = [...line].length;
      if (columns > MAX_COLUMNS) wide.push(`${file}:${i + 1}: ${columns} columns`);
    });
  }
  t.deepEqual(wide, [], `lines wider than ${MAX_COLUMNS} columns:\n${wide.join('\n')}`);
});
