// Table tests for the pure flag-content parser and the flag-name rule (README, "The flag rules").
import test from 'ava';
import { isFlagName, parseFlagContent } from '../../dist/flags/parse.js';

const value = (v, note = null) => ({ kind: 'value', value: v, note });
const EMPTY = { kind: 'empty' };
const invalid = { kind: 'invalid' }; // problem text checked separately

const contents = [
  // integers
  ['1', value(1)],
  ['1\n', value(1)],
  ['  42  \n', value(42)],
  ['\t-7\r\n', value(-7)],
  ['+5', value(5)],
  ['007', value(7)],
  ['-0', value(0)],
  ['0', value(0)],
  ['9007199254740991', value(9007199254740991)],
  ['-9007199254740991', value(-9007199254740991)],
  ['\n\n3\n\n', value(3)],
  ['\uFEFF1\n', value(1)], // a BOM from a Windows editor is not content
  // notes: the first comment, trimmed
  ['1 # db migration, back 14:00\n', value(1, 'db migration, back 14:00')],
  ['1#x', value(1, 'x')],
  ['# why\n2\n# second comment\n', value(2, 'why')],
  ['1 # a # b', value(1, 'a # b')],
  ['1 #\n# later', value(1, null)], // an empty first comment is no note
  ['1 #   \n', value(1, null)],
  ['1 # café ☕', value(1, 'café ☕')],
  // empty: `touch`, or a write in progress
  ['', EMPTY],
  ['   \n\t\n', EMPTY],
  ['# only a comment\n', EMPTY],
  ['\n# a\n  # b\n', EMPTY],
  // invalid
  ['abc', invalid],
  ['1.5', invalid],
  ['1e3', invalid],
  ['0x10', invalid],
  ['1 2', invalid],
  ['1\n2', invalid],
  ['--1', invalid],
  ['+', invalid],
  ['true', invalid],
  ['١', invalid], // an Arabic-Indic digit is not base-10 ASCII
  ['9007199254740992', invalid],
  ['-9007199254740992', invalid],
  ['99999999999999999999999', invalid],
];

for (const [input, expected] of contents) {
  test(`parseFlagContent(${JSON.stringify(input)})`, (t) => {
    const got = parseFlagContent(Buffer.from(input, 'utf8'));
    if (expected === invalid) {
      t.is(got.kind, 'invalid');
      t.is(typeof got.problem, 'string');
      t.true(got.problem.length > 0);
    } else {
      t.deepEqual(got, expected);
    }
  });
}

const binaries = [
  ['NUL byte', Buffer.from([0x31, 0x00, 0x0a])],
  ['lone NUL', Buffer.from([0x00])],
  ['invalid UTF-8', Buffer.from([0x31, 0xff, 0xfe])],
  ['truncated UTF-8 sequence', Buffer.from([0x31, 0x20, 0x23, 0xe2, 0x82])],
  ['latin-1 note', Buffer.from('1 # caf\xe9', 'latin1')],
];

for (const [label, buf] of binaries) {
  test(`parseFlagContent: ${label} is binary`, (t) => {
    const got = parseFlagContent(buf);
    t.is(got.kind, 'invalid');
    t.regex(got.problem, /binary/);
  });
}

test('problem texts never include the content', (t) => {
  const secrets = ['hunter2-secret', 'SECRET 1', '1.23456secret', '123456789012345678901234567890', 'secret\u0000'];
  for (const secret of secrets) {
    const got = parseFlagContent(Buffer.from(secret));
    t.is(got.kind, 'invalid', secret);
    t.false(got.problem.toLowerCase().includes('secret'), secret);
    t.false(got.problem.includes('12345678901234567890'), secret);
  }
});

const names = [
  ['MAINT', true],
  ['app2.weight', true],
  ['READ_ONLY', true],
  ['a', true],
  ['a-b_c.d', true],
  ['x'.repeat(128), true],
  ['x'.repeat(129), false],
  ['', false],
  ['.MAINT', false],
  ['.MAINT.swp', false],
  ['..data', false],
  ['..2026_11_24_08_00_00.123', false],
  ['.ansible_tmp123', false],
  ['1MAINT', false], // consul-template temporaries start with a digit
  ['_MAINT', false],
  ['-MAINT', false],
  ['MAINT~', false],
  ['MAINT.swp', false],
  ['MAINT.swx', false],
  ['MAINT.tmp', false],
  ['MAINT.bak', false],
  ['MAINT.dpkg-new', false],
  ['MAINT.dpkg-old', false],
  ['MAINT.swpx', true],
  ['MAINT.tmpl', true],
  ['tmp', true],
  ['MAINT/x', false],
  ['MA INT', false],
  ['MAINT\n', false],
  ['MÄINT', false],
];

for (const [name, expected] of names) {
  test(`isFlagName(${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name)}) is ${expected}`, (t) => {
    t.is(isFlagName(name), expected);
  });
}
