// docs/troubleshooting.md stays true to the code: every event it tells the reader to look for is
// one flagman logs. (Its error codes are docs/errors.md's, checked by error-catalogue.test.js.)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const page = fs.readFileSync(path.join(root, 'docs/troubleshooting.md'), 'utf8');

/** Every `event: '…'` the sources log. */
function loggedEvents(dir = path.join(root, 'src')) {
  const out = new Set();
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) for (const x of loggedEvents(p)) out.add(x);
    else if (e.name.endsWith('.ts')) for (const m of fs.readFileSync(p, 'utf8').matchAll(/event: '([a-z0-9_.]+)'/g)) out.add(m[1]);
  }
  return out;
}

test('every event the page quotes is one flagman logs', (t) => {
  const logged = loggedEvents();
  t.true(logged.has('flag.problem'), 'events are found in the sources');
  const quoted = new Set([...page.matchAll(/"event":"([a-z0-9_.]+)"/g)].map((m) => m[1]));
  t.true(quoted.size >= 10, `only ${quoted.size} events quoted`);
  t.deepEqual(
    [...quoted].filter((e) => !logged.has(e)),
    [],
  );
});
