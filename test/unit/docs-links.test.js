// The documentation holds together, and cites only itself: every relative link of a Markdown file
// in the repository (README.md, docs/, bench/, systemd/) names a file that exists and, when it names
// a heading (`page.md#anchor`, `#anchor`), a heading that page has; every `docs/….md` a comment or
// a page names exists; and no file cites a document that is not in the repository (the specification,
// watching or style notes it was written from, or anything under ../shared): a reason is stated
// where it is used, or in a page of docs/ (docs/design/ for why the code is as it is).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SKIP = new Set(['node_modules', 'dist', 'test-output', '.git']);

/** Every file under `dir` (repository-relative paths), but build output and dependencies. */
function files(dir = '') {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return SKIP.has(e.name) ? [] : files(rel);
    return e.isFile() ? [rel] : [];
  });
}

const markdown = files().filter((f) => f.endsWith('.md'));
const SELF = path.relative(root, fileURLToPath(import.meta.url));

/** Every text file of the repository (source, tests, benchmarks, docs, units, examples), this one aside. */
const texts = files()
  .filter((f) => f !== SELF && f !== 'package-lock.json')
  .map((f) => ({ file: f, text: fs.readFileSync(path.join(root, f), 'utf8') }))
  .filter(({ text }) => !text.includes('\0'));

// Cites of documents outside the repository. `STYLE` alone is a fine identifier (the dashboard's
// stylesheet); a cite is `STYLE.md`, `STYLE 7`, `(STYLE, "…")`.
const OUTSIDE = [/\bSPEC\b/, /\bWATCHING\b/, /\bSTYLE\.md\b/, /\bSTYLE(?:\s+§?\d|,\s*")/, /\(STYLE[\s,;]/, /\.\.\/shared\b/];

/** Markdown without its fenced code blocks (`# comment` lines there are not headings). */
const unfenced = (text) => text.replace(/^ *```[\s\S]*?^ *```/gm, '');

/** Markdown without its code: fenced blocks and inline code spans hold no links. */
const prose = (text) => unfenced(text).replace(/`[^`\n]*`/g, '');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

/** The anchors of a Markdown file's headings (a repeated heading gets -1, -2, … as on GitHub). */
function anchors(file) {
  const seen = new Map();
  const out = new Set();
  for (const m of unfenced(fs.readFileSync(path.join(root, file), 'utf8')).matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

test('Markdown files are found', (t) => {
  for (const f of ['README.md', 'docs/README.md', 'docs/configuration.md']) t.true(markdown.includes(f), f);
});

test('every relative link of a Markdown file names a file that exists, and a heading it has', (t) => {
  const broken = [];
  let checked = 0;
  for (const file of markdown) {
    const text = prose(fs.readFileSync(path.join(root, file), 'utf8'));
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      checked += 1;
      const [where, anchor] = target.split('#');
      const resolved = where === '' ? file : path.normalize(path.join(path.dirname(file), decodeURIComponent(where)));
      if (resolved.startsWith('..') || !fs.existsSync(path.join(root, resolved))) {
        broken.push(`${file}: (${target}): no file ${resolved}`);
      } else if (anchor !== undefined && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) {
        broken.push(`${file}: (${target}): no heading #${anchor} in ${resolved}`);
      }
    }
  }
  t.true(checked > 50, `only ${checked} links checked`);
  t.deepEqual(broken, []);
});

test('no file cites a document from outside the repository', (t) => {
  t.true(
    texts.some(({ file }) => file === 'src/errors.ts'),
    'the sources are scanned',
  );
  const cites = [];
  for (const { file, text } of texts) {
    for (const [i, line] of text.split('\n').entries()) {
      if (OUTSIDE.some((re) => re.test(line))) cites.push(`${file}:${i + 1}: ${line.trim()}`);
    }
  }
  t.deepEqual(cites, []);
});

test('every docs/ page a file names exists', (t) => {
  const missing = [];
  for (const { file, text } of texts) {
    for (const m of text.matchAll(/\bdocs\/[\w./-]*?\.md\b/g)) {
      if (!fs.existsSync(path.join(root, m[0]))) missing.push(`${file}: ${m[0]}`);
    }
  }
  t.deepEqual(missing, []);
});
