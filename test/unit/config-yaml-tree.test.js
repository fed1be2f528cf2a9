// config/yaml-tree: the quick reader (js-yaml's events) gives the tree the full reader (the `yaml`
// package's document) gives, offsets, styles and values included, or declines and leaves the text
// to the full one. Checked on every YAML file of the repository, on the documentation's configs,
// on plain scalars of every look, and briefly with a fixed seed on the fuzz target's random
// config-shaped documents, whole and cut (test/fuzz/yaml-tree.js; `npm run fuzz` runs it longer).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import fc from 'fast-check';
import { readFull, readYamlTree, resolveByTags, resolvePlain } from '../../dist/config/yaml-tree.js';
import { compare, target, textOf } from '../fuzz/yaml-tree.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** compare(), as a test's assertion. */
function same(t, text) {
  try {
    return compare(text);
  } catch (err) {
    t.fail(err.message);
    return 'failed';
  }
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
  const counts = { quick: 0, declined: 0, failed: 0 };
  for (const text of texts) counts[same(t, text)]++;
  // Nearly all are read by the quick reader: a config needs no tag, directive or second document.
  t.true(counts.quick > texts.length * 0.8, JSON.stringify(counts));
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
    t.is(same(t, text), 'quick', text);
  }
});

test('random config-shaped documents, whole and cut, read the same or are declined: 3000 cases, fixed seed', (t) => {
  const counts = { quick: 0, declined: 0, whole: 0 };
  fc.assert(
    fc.property(target.cases, (c) => {
      counts[compare(textOf(c))]++;
      if (c.edits.length === 0) counts.whole++;
    }),
    { seed: 20261207, numRuns: 3000 },
  );
  t.log(counts);
  // The quick reader reads most documents: the full one is for what it declines.
  t.true(counts.quick > counts.whole * 0.9, JSON.stringify(counts));
});

// A plain scalar whose first character starts no core tag's match is a string with no tag tried
// (resolvePlain's shortcut): every core tag agrees, on any text, and on texts made of the
// characters the tags look for.
test('a plain scalar is resolved the same with the first-character shortcut as by trying every tag', (t) => {
  const outcome = (f, s) => {
    try {
      return { value: f(s) };
    } catch (err) {
      return { threw: err.constructor.name };
    }
  };
  const tagText = fc.string({ unit: fc.constantFrom(...'~nNtTfFuUlLrRsSeEaAxXoO0123456789+-._: /iI'), maxLength: 12 });
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 8 }), tagText), (s) => {
      t.deepEqual(outcome(resolvePlain, s), outcome(resolveByTags, s), JSON.stringify(s));
    }),
    { numRuns: 3000 },
  );
  const examples = '~ null True FALSE 0o17 -12 0x1F .inf -.Inf .NaN 1e3 +.5 3. app1 /health x1.0'.split(' ');
  for (const s of ['', ...examples]) {
    t.deepEqual(outcome(resolvePlain, s), outcome(resolveByTags, s), s);
  }
});
