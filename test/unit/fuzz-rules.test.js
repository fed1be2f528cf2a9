// The differential property of test/fuzz/rules.js, briefly and with a fixed seed: rules folded for
// a flag snapshot (specialize(), the printed residual, direct closures) match exactly the requests
// cel-js matches evaluating the whole rule (`npm run fuzz` runs it for longer from a random seed).
import test from 'ava';
import fc from 'fast-check';
import { target } from '../fuzz/rules.js';
import { propertyOf } from '../fuzz/target.js';

test('folded rules against cel-js: 3000 generated rules × snapshots × requests, fixed seed', (t) => {
  fc.assert(propertyOf(target), { seed: 20261206, numRuns: 3000 });
  t.pass();
});
