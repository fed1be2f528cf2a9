// The differential property over the quick YAML reader (src/config/yaml-tree.ts): config-shaped
// documents (maps, lists, plain scalars that look like numbers, booleans and nulls, quoted and block
// scalars, flow collections, empty values, comments), whole or cut and spliced at random into
// broken ones, read by the quick reader (js-yaml's events) and by the full one (the `yaml`
// package's document model). Wherever the quick reader gives a tree, the full one must read the
// text without an error or a warning, into the same tree: kinds, offsets, styles, values and
// source text. The quick reader may decline anything: the full reader then reads the text.
//
// Not a test file: scripts/fuzz.js runs it for a while with a printed seed (`npm run fuzz`), and
// test/unit/config-yaml-tree.test.js runs it briefly with a fixed seed.
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { readFull, readYamlTree } from '../../dist/config/yaml-tree.js';

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

// A document, and edits that cut it, splice a character in or retype one: [at, cut, put].
const edit = fc.tuple(
  fc.nat(),
  fc.nat({ max: 6 }),
  fc.constantFrom('', ' ', '\n', ':', '- ', '"', "'", '#', '[', '}', '&a ', '*a', '\t', '|', '? ', '  '),
);

/** The text of a case: the document with its edits made. */
export function textOf({ text, edits }) {
  let s = text;
  for (const [at, cut, put] of edits) {
    const i = at % (s.length + 1);
    s = s.slice(0, i) + put + s.slice(i + cut);
  }
  return s;
}

/** 'quick' when the quick reader gave the full reader's tree, 'declined' when it left the text to it; throws when they disagree. */
export function compare(text) {
  const quick = readYamlTree(text);
  if (quick.reader === 'full') return 'declined';
  const full = readFull(text);
  if (full.problems.length > 0)
    throw new Error(`the quick reader took a text the full one refuses (${full.problems[0].message}):\n${text}`);
  if (!isDeepStrictEqual(quick.root, full.root)) {
    throw new Error(`the readers disagree:\n${text}\nquick: ${JSON.stringify(quick.root)}\nfull:  ${JSON.stringify(full.root)}`);
  }
  return 'quick';
}

export const target = {
  name: 'yaml-tree',
  what: 'the quick YAML reader against the full one',
  // Half whole documents, half broken ones.
  cases: fc.record({ text: documentText, edits: fc.oneof(fc.constant([]), fc.array(edit, { minLength: 1, maxLength: 3 })) }),
  check: (c) => {
    compare(textOf(c));
  },
};
