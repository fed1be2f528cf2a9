// config/yaml-tree: the quick reader (js-yaml's events) gives the tree the full reader (the `yaml`
// package's document) gives, offsets, styles and values included, or declines and leaves the text
// to the full one. Checked on every YAML file of the repository, on the documentation's configs,
// on random config-shaped documents, and on those documents cut and spliced into broken ones.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import fc from 'fast-check';
import { readFull, readYamlTree } from '../../dist/config/yaml-tree.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The quick reader's tree equals the full one's, or the quick reader declined. Returns which. */
function same(t, text) {
  const quick = readYamlTree(text);
  if (quick.reader === 'full') return 'declined';
  const full = readFull(text);
  t.deepEqual(full.problems, [], `the quick reader accepted what the full one refuses:\n${text}`);
  t.deepEqual(quick.root, full.root, text);
  return 'same';
}

test('every YAML file of the repository and every yaml block of the docs reads the same', (t) => {
  const files = execFileSync('git', ['ls-files', '*.yaml', '*.yml', '*.md'], { cwd: root, encoding: 'utf8' }).trim().split('\n');
  const texts = [];
  for (const f of files) {
    const text = readFileSync(join(root, f), 'utf8');
    if (!f.endsWith('.md')) texts.push(text);
    else for (const m of text.matchAll(/```yaml\n([\s\S]*?)```/g)) texts.push(m[1]);
  }
  t.true(texts.length > 20, `${texts.length} texts`);
  const counts = { same: 0, declined: 0 };
  for (const text of texts) counts[same(t, text)]++;
  // Nearly all are read by the quick reader: a config needs no tag, directive or second document.
  t.true(counts.same > texts.length * 0.8, JSON.stringify(counts));
});

test('what the quick reader leaves to the full one', (t) => {
  const declined = [
    'a: !!str 1\n', // a tag
    '%YAML 1.2\n---\na: 1\n', // a directive
    'a: 1\n---\nb: 2\n', // a second document
    'a: 1\na: 2\n', // a duplicate key
    'a: 1\n1.0: x\n1: y\n', // keys equal as values
    '[a]: 1\n', // a key that is a list
    'a: *nope\n', // an alias to no anchor
    '{a, b: 1}\n', // an empty value in braces
    'a: &x\nb: *x\n', // an anchor on an empty value
    'a: [1\n', // a syntax error
    'a:\n\tb: 1\n', // a tab as indentation
  ];
  for (const text of declined) {
    t.is(readYamlTree(text).reader, 'full', text);
    t.deepEqual(readYamlTree(text), readFull(text), text);
  }
  t.is(readYamlTree('a: 1\nb: [x, {c: "d"}]\n').reader, 'quick');
});

test('plain scalars resolve as YAML 1.2 core says, whatever they look like', (t) => {
  const words = [
    '~',
    'null',
    'Null',
    'NULL',
    'true',
    'True',
    'FALSE',
    'yes',
    'on',
    'off',
    '0',
    '-0',
    '+12',
    '012',
    '0o17',
    '0o8',
    '0x1F',
    '0xg',
    '0b101',
    '1_000',
    '1.0',
    '1.',
    '.5',
    '-.5',
    '1e3',
    '1E-3',
    '.inf',
    '-.Inf',
    '.nan',
    '.NaN',
    '2001-12-14',
    '1:20',
    '0.1.2',
    '8080',
    '99999999999999999999',
    '127.0.0.1:80',
    'a b',
  ];
  for (const w of words) {
    const text = `a: ${w}\nb: [${w}]\n${w}: c\n`;
    t.is(same(t, text), 'same', text);
  }
});

// --- random documents ---------------------------------------------------------------------

const name = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,8}$/);
const plainText = fc.oneof(
  name,
  fc.constantFrom(
    '~',
    'null',
    'true',
    'False',
    '0',
    '-1',
    '+7',
    '0o7',
    '0x1f',
    '1.5',
    '.5',
    '1e3',
    '.inf',
    '.nan',
    '127.0.0.1:8080',
    'a b c',
    '1_0',
    'http://x/y?z=1',
  ),
  fc.integer({ min: -1e6, max: 1e6 }).map(String),
);
const anyText = fc.string({
  maxLength: 12,
  unit: fc.constantFrom('a', 'b', ' ', '"', "'", '\\', '\n', '\t', '#', ':', '-', '{', ']', ',', 'é', '\u2028', '0'),
});
const dq = (s) => JSON.stringify(s);
const sq = (s) => `'${s.replaceAll("'", "''")}'`;
const comment = fc.constantFrom('', '', '  # note', ' #x');

// A value and how to write it at an indentation: [kind, ...]. Collections nest to depth 3.
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(fc.constant('plain'), plainText),
    fc.tuple(fc.constant('dq'), anyText),
    fc.tuple(
      fc.constant('sq'),
      anyText.map((s) => s.replaceAll('\n', ' ')),
    ),
    fc.tuple(
      fc.constant('block'),
      fc.constantFrom('|', '>', '|-', '>+', '|2'),
      fc.array(fc.stringMatching(/^[a-z #:]{0,8}$/), { minLength: 1, maxLength: 3 }),
    ),
    fc.tuple(fc.constant('empty')),
    fc.tuple(fc.constant('flowseq'), fc.array(fc.oneof(plainText, anyText.map(dq)), { maxLength: 3 })),
    fc.tuple(
      fc.constant('flowmap'),
      fc.uniqueArray(fc.tuple(name, fc.oneof(plainText, anyText.map(dq))), { maxLength: 3, selector: (p) => p[0] }),
    ),
    fc.tuple(
      fc.constant('map'),
      fc.uniqueArray(fc.tuple(name, tie('value'), comment), { minLength: 1, maxLength: 4, selector: (p) => p[0] }),
    ),
    fc.tuple(fc.constant('seq'), fc.array(fc.tuple(tie('value'), comment), { minLength: 1, maxLength: 3 })),
  ),
}));

/** Lines of `v` as the value after `key:` (or `-`) at `indent`; [inline text, following lines]. */
function render(v, indent) {
  const pad = ' '.repeat(indent);
  switch (v[0]) {
    case 'plain':
      return [` ${v[1]}`, []];
    case 'dq':
      return [` ${dq(v[1])}`, []];
    case 'sq':
      return [` ${sq(v[1])}`, []];
    case 'block':
      return [` ${v[1]}`, v[2].map((l) => `${pad}  ${l}`.trimEnd())];
    case 'empty':
      return ['', []];
    case 'flowseq':
      return [` [${v[1].join(', ')}]`, []];
    case 'flowmap':
      return [` {${v[1].map(([k, x]) => `${k}: ${x}`).join(', ')}}`, []];
    case 'map': {
      const lines = [];
      for (const [k, x, c] of v[1]) {
        const [inline, more] = render(x, indent + 2);
        lines.push(`${pad}  ${k}:${inline}${x[0] === 'block' ? '' : c}`, ...more);
      }
      return [v[1].length ? '' : ' {}', lines];
    }
    case 'seq': {
      const lines = [];
      for (const [x, c] of v[1]) {
        const [inline, more] = render(x, indent + 2);
        lines.push(`${pad}  -${inline}${x[0] === 'block' ? '' : c}`, ...more);
      }
      return ['', lines];
    }
  }
  throw new Error(v[0]);
}

const documentText = fc.uniqueArray(fc.tuple(name, value, comment), { minLength: 1, maxLength: 5, selector: (p) => p[0] }).map((entries) =>
  entries
    .flatMap(([k, v, c]) => {
      const [inline, more] = render(v, 0);
      return [`${k}:${inline}${v[0] === 'block' ? '' : c}`, ...more];
    })
    .join('\n')
    .concat('\n'),
);

test('random config-shaped documents read the same', (t) => {
  const counts = { same: 0, declined: 0 };
  fc.assert(
    fc.property(documentText, (text) => {
      counts[same(t, text)]++;
    }),
    { numRuns: 600 },
  );
  t.log(counts);
  t.true(counts.same > counts.declined, JSON.stringify(counts));
});

test('random documents cut, spliced and retyped read the same, or the quick reader declines', (t) => {
  const counts = { same: 0, declined: 0 };
  const edit = fc.tuple(
    fc.nat(),
    fc.nat({ max: 6 }),
    fc.constantFrom('', ' ', '\n', ':', '- ', '"', "'", '#', '[', '}', '&a ', '*a', '\t', '|', '? ', '  '),
  );
  fc.assert(
    fc.property(documentText, fc.array(edit, { minLength: 1, maxLength: 3 }), (text, edits) => {
      let s = text;
      for (const [at, cut, put] of edits) {
        const i = at % (s.length + 1);
        s = s.slice(0, i) + put + s.slice(i + cut);
      }
      counts[same(t, s)]++;
    }),
    { numRuns: Number(process.env.YT_RUNS ?? 1500) },
  );
  t.log(counts);
});
