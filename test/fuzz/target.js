// What every fuzz target shares: the fast-check property of a target (test/fuzz/<name>.js exports
// `target` = { name, what, cases, check, units?, unit? }), for scripts/fuzz.js's long runs and the
// fixed-seed unit tests (test/unit/fuzz-*.test.js) alike.
import fc from 'fast-check';

/** The property "check() holds for every case"; `onCase` sees each case first (counting). */
export function propertyOf(target, onCase = () => {}) {
  return fc.property(target.cases, (c) => {
    onCase(c);
    target.check(c);
  });
}
