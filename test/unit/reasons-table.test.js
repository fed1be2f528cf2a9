// The access log's reasons are documented and each is seen in an access line by an end-to-end test.
// docs/logs.md has a table of them (`| reason | status | what happened |`) and docs/tcp.md lists a
// tcp connection's; for every reason written there, some test/e2e file must assert it on an access
// line: one statement of a test that names `reason` and holds the reason as a whole string literal, with
// the row's status in that same statement when the row gives one (an HTTP row), and in a tcp test when
// it is a tcp reason. And every reason flagman has (REASONS, src/proxy/reasons.ts) is documented
// there, so that none is added unseen.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { REASONS } from '../../dist/proxy/reasons.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (rel) => fs.readFileSync(path.join(root, rel), 'utf8');

/** The backticked spans of a piece of Markdown. */
const spans = (md) => [...md.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

/**
 * A documented reason as a pattern: `…` stands for the words that follow (`bad response: …`), `CODE`
 * for the system's error code (`server error mid-body: CODE`); anything else is the reason itself.
 */
function patternOf(reason) {
  const source = reason
    .split(/(…|\bCODE\b)/)
    .map((part) => (part === '…' ? '[^\\n]+' : part === 'CODE' ? '[A-Z][A-Z0-9_]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

/**
 * A reason no test can bring about, and the one that takes its place: the code the system gives when
 * its whole file table is full takes the path of the process's own limit (descriptors.ts), which
 * test/e2e/descriptors.test.js reaches under `ulimit -n`.
 */
const STAND_IN = { ENFILE: 'EMFILE' };

/**
 * docs/logs.md's table: one entry per row with the reasons it names, and the statuses its access
 * line must show (null: `as sent`, whatever the client got). A row without a reason of its own
 * (`*anything else*`) is checked by the examples it gives; `*(none)*` has no reason to check.
 */
function httpRows() {
  const lines = read('docs/logs.md').split('\n');
  const start = lines.findIndex((l) => /^\| `reason` \| status \| what happened \|$/.test(l));
  if (start < 0) throw new Error('docs/logs.md: no table headed | `reason` | status | what happened |');
  const rows = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const [cell, status, what] = line.split(/ \| /).map((c) => c.replace(/^\| ?| ?\|$/g, '').trim());
    if (cell === '*(none)*') continue;
    const generic = spans(cell).length === 0;
    const reasons = generic ? spans(what) : spans(cell);
    const statuses = /^\d{3}(, \d{3})*$/.test(status)
      ? status.split(', ').map(Number)
      : status === "the server's"
        ? "the server's"
        : status === 'as sent'
          ? null
          : undefined;
    if (statuses === undefined) throw new Error(`docs/logs.md: a row with a status this test does not know: ${line}`);
    // A row that names its reasons needs each of them seen; a generic row, one of its examples.
    rows.push({ row: line, reasons, any: generic, statuses });
  }
  if (rows.length === 0) throw new Error('docs/logs.md: the reasons table has no rows');
  return rows;
}

/** docs/tcp.md's reasons: the backticked words after `reason`: in the *Access log* item, up to `queueMs`. */
function tcpReasons() {
  const text = read('docs/tcp.md').replace(/\n\s+/g, ' ');
  const item = /- \*Access log\*:[^\n]*/.exec(text)?.[0];
  const list = item && /`reason`:(.*?)`queueMs`/.exec(item)?.[1];
  if (!list) throw new Error('docs/tcp.md: no *Access log* item listing `reason`: … `queueMs`');
  return spans(list);
}

/**
 * Every line of test/e2e/*.test.js that names `reason`, with its string literals (template literals
 * with a placeholder left out: they are no one reason), the statuses it asserts, and whether it is in
 * a tcp test (the tcp tests' file, a test whose title says tcp, or a line with `mode: 'tcp'`).
 */
function assertionLines() {
  const dir = path.join(root, 'test/e2e');
  const out = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.test.js'))) {
    let title = '';
    for (const { text, line } of statementsOf(read(`test/e2e/${file}`))) {
      const named = /^\s*test(?:\.serial)?\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/.exec(text);
      if (named) title = named[2].replace(/\\(.)/g, '$1');
      if (!/\breason\b/.test(text)) continue;
      const literals = [...text.matchAll(/(['"`])((?:\\.|(?!\1)[^\\])*)\1/g)]
        .filter((m) => !(m[1] === '`' && m[2].includes('${')))
        .map((m) => m[2].replace(/\\(.)/g, '$1'));
      const statuses = [...text.matchAll(/\bstatus\s*(?::|===|,)\s*(\d{3})\b/g)].map((m) => Number(m[1]));
      const tcp = file === 'tcp.test.js' || /\btcp\b/i.test(title) || /mode: 'tcp'/.test(text);
      out.push({ where: `test/e2e/${file}:${line} › ${title}`, literals, statuses, tcp });
    }
  }
  return out;
}

/**
 * The statements of a test file as one line each, with the line each starts on: the formatter
 * spreads a long assertion over several lines, and the reason and its status are one assertion.
 * A statement ends on a line ending with `;`, `{` or `}`.
 */
function statementsOf(source) {
  const out = [];
  let parts = [];
  let start = 1;
  source.split('\n').forEach((line, i) => {
    if (parts.length === 0) start = i + 1;
    parts.push(line.trim());
    if (/[;{}]$/.test(line.trimEnd())) {
      out.push({ text: parts.join(' '), line: start });
      parts = [];
    }
  });
  if (parts.length > 0) out.push({ text: parts.join(' '), line: start });
  return out;
}

const lines = assertionLines();

/** The e2e lines asserting `reason` on an access line, with the status `statuses` asks for, of the mode asked. */
function seen(reason, { statuses = null, tcp }) {
  const pattern = patternOf(STAND_IN[reason] ?? reason);
  const statusOk = (l) =>
    statuses === null ||
    (statuses === "the server's" ? l.statuses.some((s) => s >= 200 && s < 300) : l.statuses.some((s) => statuses.includes(s)));
  return lines.filter((l) => l.tcp === tcp && l.literals.some((s) => pattern.test(s)) && statusOk(l)).map((l) => l.where);
}

test('every row of the reasons table in docs/logs.md is asserted, with its status, on an access line of an end-to-end test', (t) => {
  const missing = [];
  for (const { row, reasons, any, statuses } of httpRows()) {
    const found = reasons.map((reason) => ({ reason, where: seen(reason, { statuses, tcp: false }) }));
    const unseen = found.filter((f) => f.where.length === 0).map((f) => f.reason);
    if (any ? unseen.length === found.length : unseen.length > 0)
      missing.push(`${row}\n    not asserted: ${(any ? reasons : unseen).join(' | ')}`);
  }
  t.deepEqual(
    missing,
    [],
    "rows of docs/logs.md without an end-to-end test asserting the reason on an access line (test/e2e/*.test.js, one statement with `reason`, the reason as a string literal and the row's status)",
  );
});

test('every tcp reason of docs/tcp.md is asserted on an access line of a tcp end-to-end test', (t) => {
  const reasons = tcpReasons();
  t.true(reasons.length >= 10, `the list of docs/tcp.md was found: ${reasons.join(', ')}`);
  t.deepEqual(
    reasons.filter((r) => seen(r, { tcp: true }).length === 0),
    [],
    'tcp reasons of docs/tcp.md without an end-to-end test asserting them on an access line',
  );
});

test('every reason flagman has (REASONS) is documented in docs/logs.md or docs/tcp.md', (t) => {
  const documented = new Set([...httpRows().flatMap((r) => (r.any ? [] : r.reasons)), ...tcpReasons()]);
  t.deepEqual(
    Object.values(REASONS).filter((r) => !documented.has(r)),
    [],
    'reasons in src/proxy/reasons.ts that no table lists',
  );
});

test('the parsing of this guard: the patterns, and a line it takes for an assertion', (t) => {
  t.true(patternOf('bad response: …').test('bad response: invalid chunk size'));
  t.false(patternOf('bad response: …').test('bad response mid-body: invalid chunk size'));
  t.true(patternOf('server error mid-body: CODE').test('server error mid-body: ECONNRESET'));
  t.false(patternOf('server closed').test('server closed mid-body'));
  t.true(seen('server closed mid-body', { statuses: "the server's", tcp: false }).length > 0);
});
