// Every counter-example `npm run fuzz` has found (test/fuzz/found/<target>-<seed>.json), replayed
// against its target's check: once fixed, each stays a regression test.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fuzz/found');
const files = fs.existsSync(dir)
  ? fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
  : [];

for (const file of files) {
  test(`the counter-example in test/fuzz/found/${file} agrees now`, async (t) => {
    const found = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const { target } = await import(`../fuzz/${found.target}.js`);
    t.notThrows(() => target.check(found.case));
  });
}

test('the found counter-examples are readable', (t) => {
  for (const file of files) t.truthy(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')).target, file);
  t.pass();
});
