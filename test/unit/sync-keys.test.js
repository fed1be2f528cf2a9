// The byte arithmetic of the etcd sync (src/sync/keys.ts): the range end etcd is asked for, which
// must cover exactly the keys under a prefix, and which flag name (if any) a key becomes.
import test from 'ava';
import fc from 'fast-check';
import { flagOfKey, prefixEnd } from '../../dist/sync/keys.js';

const bytes = (...b) => Buffer.from(b);
const text = (s) => Buffer.from(s, 'utf8');

const ENDS = [
  ['a plain prefix: its last byte + 1', text('/flags/'), text('/flags0')],
  ['one byte', bytes(0x61), bytes(0x62)],
  ['a trailing 0xff is dropped, the byte before it incremented', bytes(0x61, 0xff), bytes(0x62)],
  ['several trailing 0xff', bytes(0x01, 0x02, 0xff, 0xff, 0xff), bytes(0x01, 0x03)],
  ['0xfe becomes 0xff', bytes(0x61, 0xfe), bytes(0x61, 0xff)],
  ['a 0x00 byte counts like any other', bytes(0x00), bytes(0x01)],
  ['0xff only: to the end of the keyspace', bytes(0xff), bytes(0x00)],
  ['0xff 0xff: to the end', bytes(0xff, 0xff), bytes(0x00)],
  ['the empty prefix: to the end', bytes(), bytes(0x00)],
];

for (const [what, prefix, end] of ENDS) {
  test(`prefixEnd: ${what}`, (t) => {
    t.deepEqual(Buffer.from(prefixEnd(prefix)), end);
  });
}

test('prefixEnd never changes its argument, nor the buffer it is a view of', (t) => {
  const whole = text('xx/flags/yy');
  const prefix = whole.subarray(2, 9); // "/flags/", a view into `whole`
  const end = prefixEnd(prefix);
  t.is(prefix.toString(), '/flags/');
  t.is(whole.toString(), 'xx/flags/yy');
  t.is(Buffer.from(end).toString(), '/flags0');
  // And the answer is no view of the argument either: changing it leaves the prefix alone.
  end[0] = 0x21;
  t.is(prefix.toString(), '/flags/');

  const ff = bytes(0x61, 0xff, 0xff);
  prefixEnd(ff);
  t.deepEqual(ff, bytes(0x61, 0xff, 0xff));
});

// Bytes drawn mostly from the edges (0x00, 0x01, 0xfe, 0xff) where carries happen, and some from anywhere.
const edgeByte = fc.oneof(fc.constantFrom(0x00, 0x01, 0x61, 0xfe, 0xff), fc.integer({ min: 0, max: 255 }));
const keyBytes = (maxLength) => fc.array(edgeByte, { maxLength }).map((a) => Buffer.from(a));

test('prefixEnd: a key is in [prefix, prefixEnd(prefix)) exactly when it starts with the prefix', (t) => {
  fc.assert(
    fc.property(keyBytes(4), keyBytes(6), (p, suffixOrKey) => {
      const copy = Buffer.from(p);
      const end = Buffer.from(prefixEnd(p));
      // "\0" as range end is etcd's "every key from the start on" (the prefix is empty or all 0xff).
      const endless = end.length === 1 && end[0] === 0 && p.every((b) => b === 0xff);
      for (const k of [suffixOrKey, Buffer.concat([p, suffixOrKey])]) {
        const inRange = Buffer.compare(k, p) >= 0 && (endless || Buffer.compare(k, end) < 0);
        const startsWith = k.length >= p.length && Buffer.compare(k.subarray(0, p.length), p) === 0;
        if (inRange !== startsWith) return false;
      }
      return Buffer.compare(p, copy) === 0; // and p is as it was
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

const PREFIX = text('/flagman/prod/flags/');
const under = (rest) => Buffer.concat([PREFIX, typeof rest === 'string' ? text(rest) : rest]);

for (const name of ['MAINT', 'a', 'canary_pct', 'eu-west.weight', `A${'b'.repeat(127)}`]) {
  test(`flagOfKey: ${name.length > 20 ? 'a 128-character name' : name} is the flag of that name`, (t) => {
    t.deepEqual(flagOfKey(under(name), PREFIX), { kind: 'flag', name });
  });
}

test('flagOfKey: a deeper key is skipped as deeper', (t) => {
  for (const rest of ['eu/MAINT', 'MAINT/', '/MAINT']) {
    const m = flagOfKey(under(rest), PREFIX);
    t.is(m.kind, 'skip', rest);
    t.regex(m.reason, /deeper key/, rest);
  }
  // A prefix given without its trailing "/" leaves one in front of every name: the reason says so.
  const noSlash = Buffer.from('/flagman/prod/flags');
  const m = flagOfKey(Buffer.from('/flagman/prod/flags/MAINT'), noSlash);
  t.regex(m.kind === 'skip' ? m.reason : '', /does --prefix lack its trailing "\/"\?/);
});

test('flagOfKey: names the proxy would not read are skipped as no flag name', (t) => {
  for (const rest of [
    '',
    '9lives',
    '_x',
    '.hidden',
    'MAINT~',
    'MAINT.swp',
    'x.tmp',
    'x.bak',
    'x.dpkg-new',
    'a b',
    'é',
    `A${'b'.repeat(128)}`,
  ]) {
    const m = flagOfKey(under(rest), PREFIX);
    t.is(m.kind, 'skip', JSON.stringify(rest));
    t.regex(m.reason, /not a flag name/, JSON.stringify(rest));
  }
});

test('flagOfKey: bytes that are not UTF-8 are skipped as such', (t) => {
  for (const rest of [bytes(0x41, 0xff), bytes(0x41, 0xc3), bytes(0x41, 0xed, 0xa0, 0x80)]) {
    t.deepEqual(flagOfKey(under(rest), PREFIX), { kind: 'skip', reason: 'not UTF-8' });
  }
});

test('flagOfKey: a key not under the prefix is skipped, whether shorter, different or a sibling', (t) => {
  for (const key of [
    text('/flagman/prod/flags'),
    text('/flagman/prod/'),
    text('/flagman/test/flags/MAINT'),
    text('/flagman/prod/flagsX'),
    bytes(),
  ]) {
    t.deepEqual(flagOfKey(key, PREFIX), { kind: 'skip', reason: 'not under the prefix' }, key.toString());
  }
});

test('flagOfKey: with the empty prefix the whole key is the name', (t) => {
  t.deepEqual(flagOfKey(text('MAINT'), bytes()), { kind: 'flag', name: 'MAINT' });
  t.is(flagOfKey(text('a/b'), bytes()).kind, 'skip');
});
