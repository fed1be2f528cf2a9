// docs/troubleshooting.md stays true to the code: its table of error codes is src/errors.ts's
// catalogue, code for code and meaning for meaning, and every event it tells the reader to look
// for is one flagman logs.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { ERROR_CODES } from '../../dist/errors.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const page = fs.readFileSync(path.join(root, 'docs/troubleshooting.md'), 'utf8');

/** The rows of the page's error-code table: code → meaning. */
function codeTable() {
  const rows = new Map();
  for (const m of page.matchAll(/^\| `([A-Z_]+)` \| (.+?) \| .* \|$/gm)) rows.set(m[1], m[2].replaceAll('`', ''));
  return rows;
}

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

test('every error code of src/errors.ts is in the table, with its meaning', (t) => {
  const rows = codeTable();
  t.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_CODES).sort());
  for (const [code, meaning] of Object.entries(ERROR_CODES)) t.is(rows.get(code), meaning, code);
});

test('every event the page quotes is one flagman logs', (t) => {
  const logged = loggedEvents();
  t.true(logged.has('flag.problem'), 'events are found in the sources');
  const quoted = new Set([...page.matchAll(/"event":"([a-z0-9_.]+)"/g)].map((m) => m[1]));
  t.true(quoted.size >= 10, `only ${quoted.size} events quoted`);
  t.deepEqual([...quoted].filter((e) => !logged.has(e)), []);
});
