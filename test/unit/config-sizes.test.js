// Sizes (`maxBody`): a number of bytes, or a whole number and a unit among B, KiB, MiB, GiB. A table
// of the accepted and refused forms, and properties over any input (fast-check).
import test from 'ava';
import fc from 'fast-check';
import { FlagmanError } from '../../dist/errors.js';
import { SIZE_UNITS, formatSize, parseSize } from '../../dist/config/units.js';

const at = { file: 'f.yaml', line: 3, col: 14 };

const sizes = [
  ['0', 0],
  ['1048576', 1048576],
  ['100B', 100],
  ['1KiB', 1024],
  ['512KiB', 524288],
  ['1MiB', 1048576],
  ['10MiB', 10485760],
  ['2GiB', 2147483648],
  ['007KiB', 7168],
];
for (const [text, bytes] of sizes) {
  test(`parseSize ${text} = ${bytes}`, (t) => {
    t.is(parseSize(text), bytes);
  });
}

const badSizes = [
  ['10MB', /"10MB": write 10MiB \(powers of 1024\), or the number of bytes/],
  ['512k', /write 512KiB/],
  ['512K', /write 512KiB/],
  ['1mib', /write 1MiB/],
  ['1 MiB', /write 1MiB/],
  ['2gb', /write 2GiB/],
  ['1.5MiB', /whole numbers; use a smaller unit \(1536KiB, not 1\.5MiB\)/],
  ['1TiB', /not a size: write a number of bytes, or a whole number and a unit \(B, KiB, MiB, GiB\)/],
  ['-1', /not a size/],
  ['', /not a size/],
  ['MiB', /not a size/],
  ['1e6', /not a size/],
  ['99999999999GiB', /too large: the largest size is 9007199254740991 bytes/],
];
for (const [text, message] of badSizes) {
  test(`parseSize rejects ${JSON.stringify(text)} at its place`, (t) => {
    const err = t.throws(() => parseSize(text, at), { instanceOf: FlagmanError });
    t.is(err.code, 'CONFIG_SCHEMA');
    t.regex(err.reason, message);
    t.true(err.message.startsWith('f.yaml:3:14: '), err.message);
  });
}

const units = Object.keys(SIZE_UNITS);

test('property: a whole number and a unit is that many of the unit, in bytes', (t) => {
  fc.assert(
    fc.property(fc.nat({ max: 2 ** 22 }), fc.constantFrom(...units), (n, unit) => parseSize(`${n}${unit}`) === n * SIZE_UNITS[unit]),
  );
  t.pass();
});

test('property: a bare number is bytes, and the same as written with B', (t) => {
  fc.assert(fc.property(fc.maxSafeNat(), (n) => parseSize(String(n)) === n && parseSize(`${n}B`) === n));
  t.pass();
});

test('property: formatSize writes what parseSize reads back, in the largest unit that divides it', (t) => {
  fc.assert(
    fc.property(fc.maxSafeNat(), (n) => {
      const text = formatSize(n);
      const [, digits, unit] = /^(\d+)(B|KiB|MiB|GiB)$/.exec(text);
      const larger = units.slice(units.indexOf(unit) + 1);
      return parseSize(text) === n && (Number(digits) === 0 || larger.every((u) => n % SIZE_UNITS[u] !== 0 || n < SIZE_UNITS[u]));
    }),
  );
  t.pass();
});

test('property: any other text is refused with a CONFIG_SCHEMA error, never read as some size', (t) => {
  const grammar = /^\d+(B|KiB|MiB|GiB)?$/;
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.stringMatching(/^-?\d*\.?\d*\s?[A-Za-z]{0,4}$/)), (text) => {
      if (grammar.test(text)) return true;
      try {
        parseSize(text);
        return false;
      } catch (err) {
        return err instanceof FlagmanError && err.code === 'CONFIG_SCHEMA';
      }
    }),
  );
  t.pass();
});
