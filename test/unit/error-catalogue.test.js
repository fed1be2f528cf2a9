// The error catalogue holds together: every code src/ throws is registered in ERROR_CODES
// (src/errors.ts) and documented in docs/errors.md, and every code registered or documented is
// thrown somewhere. Codes are found in the sources as written: `new FlagmanError('CODE'`, a
// subclass's `super('CODE'`, and the config reader's `.fail('CODE'`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { ERROR_CODES } from '../../dist/errors.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const page = fs.readFileSync(path.join(root, 'docs/errors.md'), 'utf8');

/** Every .ts file under src/, as { file, text }. */
function sources(dir = path.join(root, 'src')) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [{ file: path.relative(root, p), text: fs.readFileSync(p, 'utf8') }] : [];
  });
}

// The one place a code is passed through rather than written: the config reader's fail(code, …),
// whose callers write the code (and are scanned as `.fail('CODE'`).
const PASS_THROUGH = [{ file: 'src/config/nodes.ts', arg: 'code' }];

/** code → the files that throw it. */
function thrownCodes() {
  const thrown = new Map();
  const add = (code, file) => thrown.set(code, [...(thrown.get(code) ?? []), file]);
  const unknownArgs = [];
  for (const { file, text } of sources()) {
    for (const m of text.matchAll(/new FlagmanError\(\s*([^,\s)]+)/g)) {
      const literal = /^'([A-Z][A-Z0-9_]*)'$/.exec(m[1]);
      if (literal) add(literal[1], file);
      else if (!PASS_THROUGH.some((p) => p.file === file && p.arg === m[1])) unknownArgs.push(`${file}: new FlagmanError(${m[1]}`);
    }
    if (/extends FlagmanError\b/.test(text)) for (const m of text.matchAll(/super\(\s*'([A-Z][A-Z0-9_]*)'/g)) add(m[1], file);
    for (const m of text.matchAll(/\.fail\(\s*'([A-Z][A-Z0-9_]*)'/g)) add(m[1], file);
  }
  return { thrown, unknownArgs };
}

/** The page's sections: `## CODE` → its text up to the next heading. */
function documented() {
  const sections = new Map();
  const parts = page.split(/^## /m).slice(1);
  for (const part of parts) {
    const [heading, ...body] = part.split('\n');
    if (/^[A-Z][A-Z0-9_]*$/.test(heading.trim())) sections.set(heading.trim(), body.join('\n'));
  }
  return sections;
}

/** The page's summary table: code → meaning. */
function summary() {
  const rows = new Map();
  for (const m of page.matchAll(/^\| \[`([A-Z0-9_]+)`\]\(#([a-z0-9_]+)\) \| (.+?) \|$/gm)) rows.set(m[1], { anchor: m[2], meaning: m[3] });
  return rows;
}

const plain = (s) => s.replaceAll('`', '').replace(/\s+/g, ' ').trim().replace(/\.$/, '');
const registered = Object.keys(ERROR_CODES).sort();

test('the sources are found, and every code is written where it is thrown', (t) => {
  const { thrown, unknownArgs } = thrownCodes();
  t.true(thrown.size >= 10, `only ${thrown.size} codes found: the scan is broken`);
  t.deepEqual(unknownArgs, [], 'a FlagmanError whose code is not a literal cannot be checked against the catalogue');
});

test('every code thrown in src/ is registered in ERROR_CODES, and every registered code is thrown', (t) => {
  const { thrown } = thrownCodes();
  const unregistered = [...thrown.keys()].filter((c) => !(c in ERROR_CODES)).map((c) => `${c} (${thrown.get(c).join(', ')})`);
  t.deepEqual(unregistered, [], 'thrown but not in ERROR_CODES (src/errors.ts)');
  t.deepEqual(
    registered.filter((c) => !thrown.has(c)),
    [],
    'in ERROR_CODES but never thrown',
  );
});

test('every code thrown in src/ is documented in docs/errors.md, and every documented code is thrown', (t) => {
  const { thrown } = thrownCodes();
  const sections = documented();
  const undocumented = [...thrown.keys()].filter((c) => !sections.has(c)).map((c) => `${c} (${thrown.get(c).join(', ')})`);
  t.deepEqual(undocumented, [], 'thrown but no "## CODE" section in docs/errors.md');
  t.deepEqual(
    [...sections.keys()].filter((c) => !thrown.has(c)),
    [],
    'documented but never thrown',
  );
  t.deepEqual([...sections.keys()].sort(), registered, 'docs/errors.md and ERROR_CODES list the same codes');
});

test('each code is documented with its meaning, cause, fix and an example line in the printed form', (t) => {
  for (const [code, body] of documented()) {
    const field = (name) => new RegExp(`^- \\*\\*${name}:\\*\\* ([\\s\\S]+?)(?=^- \\*\\*|(?![\\s\\S]))`, 'm').exec(body)?.[1];
    t.is(plain(field('Means') ?? ''), ERROR_CODES[code], `${code}: its meaning is ERROR_CODES's`);
    t.truthy(field('Cause'), `${code}: a cause`);
    t.truthy(field('Fix'), `${code}: a fix`);
    const example = field('Example');
    t.truthy(example, `${code}: an example`);
    // A usage error prints the help to read instead; every other code, in the form the CLI prints.
    if (code !== 'USAGE')
      t.regex(example ?? '', new RegExp(`^\`flagman: ${code}: .+ \\(.+\\)\``), `${code}: the example is "flagman: CODE: reason (place)"`);
  }
});

test('the summary table lists every code once, with its meaning and a link to its section', (t) => {
  const rows = summary();
  t.deepEqual([...rows.keys()].sort(), registered);
  for (const [code, { anchor, meaning }] of rows) {
    t.is(plain(meaning), ERROR_CODES[code], code);
    t.is(anchor, code.toLowerCase(), code);
  }
});

test('the docs index links the catalogue, and no other page keeps a table of codes', (t) => {
  t.true(fs.readFileSync(path.join(root, 'docs/README.md'), 'utf8').includes('(errors.md)'), 'docs/README.md links errors.md');
  for (const f of fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md') && f !== 'errors.md')) {
    const text = fs.readFileSync(path.join(root, 'docs', f), 'utf8');
    const rows = registered.filter((c) => new RegExp(`^\\| \`${c}\` \\|`, 'm').test(text));
    t.deepEqual(rows, [], `docs/${f} keeps a table row per code: point to errors.md instead`);
  }
});
