// Every file a comment of src/ points a reader to is in the repository: `docs/proxying.md`,
// `docs/design/`, `src/log.ts`, `bench/RESULTS.md`, `test/unit/queue.test.js`, and the bare or
// partial module names the comments use (`pool.ts`, `upstream/pool.ts`, `../servers.ts`). A path
// resolves from the repository's root, from the commenting file's directory, or from src/ (the
// convention for a module of another directory: `runtime/servers.ts`); nothing else, so that a
// name is never right by luck in some other directory. Comments are found by TypeScript's own
// parser: a `//` inside a string, a template or a regular expression is not one.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = path.join(root, 'src');

/** Every .ts file under src/, as paths relative to it with `/` separators. */
function sources(dir = '') {
  return fs.readdirSync(path.join(SRC, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = dir === '' ? e.name : `${dir}/${e.name}`;
    if (e.isDirectory()) return sources(rel);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** Every comment of `text`: its offset and text, each once. */
function comments(file, text) {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const found = new Map();
  const add = (ranges) => {
    for (const r of ranges ?? []) found.set(r.pos, text.slice(r.pos, r.end));
  };
  const visit = (node) => {
    add(ts.getLeadingCommentRanges(text, node.pos));
    add(ts.getTrailingCommentRanges(text, node.end));
    for (const child of node.getChildren(sf)) visit(child);
  };
  visit(sf);
  return [...found].map(([pos, comment]) => ({ pos, comment }));
}

// A path under one of the repository's folders (`bench/RESULTS.md`, `examples/demo/flagman.yaml`);
// a module or page name, alone or with directories before it (`./`, `../` included), not inside a
// URL or a longer name (other names, `flagman.yaml`, Node's `net.js`, are not the repository's);
// or the docs/ and docs/design/ folders.
const REF = new RegExp(
  [
    String.raw`(?<![\w./@:-])(?:docs|src|test|bench|scripts|examples|systemd|bin)/[\w./-]*?\.(?:ts|md|js|json|yaml|yml|service|socket|sh)\b`,
    String.raw`(?<![\w./@:-])(?:\.{1,2}/)*[\w-]+(?:/[\w.-]+)*\.(?:ts|md)\b`,
    String.raw`(?<![\w./-])docs/(?:design/)?(?![\w.-])`,
  ].join('|'),
  'g',
);

/** Every path-like reference in the comments of src/ that names nothing in the repository. */
function unresolved() {
  const missing = [];
  for (const file of sources()) {
    const text = fs.readFileSync(path.join(SRC, file), 'utf8');
    const bases = [root, path.dirname(path.join(SRC, file)), SRC];
    for (const { pos, comment } of comments(file, text)) {
      for (const m of comment.matchAll(REF)) {
        if (bases.some((base) => fs.existsSync(path.join(base, m[0])))) continue;
        const line = text.slice(0, pos + m.index).split('\n').length;
        missing.push(`src/${file}:${line}: ${m[0]}`);
      }
    }
  }
  return missing;
}

test('the scanner finds the references of the comments, and only those', (t) => {
  const text = [
    '// See docs/proxying.md, upstream/pool.ts and ./x.ts, not https://example.org/a.md.',
    "const s = '// not/a-comment.ts';",
    '/* docs/design/ and bench/RESULTS.md; test/unit/queue.test.js, not flagman.yaml nor lib/net.js */',
  ].join('\n');
  const refs = comments('probe.ts', text).flatMap(({ comment }) => [...comment.matchAll(REF)].map((m) => m[0]));
  t.deepEqual(refs, ['docs/proxying.md', 'upstream/pool.ts', './x.ts', 'docs/design/', 'bench/RESULTS.md', 'test/unit/queue.test.js']);
});

test('every file or doc a comment of src/ names exists in the repository', (t) => {
  const missing = unresolved();
  t.deepEqual(missing, [], `comments name files that are not in the repository:\n${missing.join('\n')}`);
});
