// The differential property of test/fuzz/response.js, briefly and with a fixed seed: the upstream
// response parser accepts no response llhttp refuses or reads differently (`npm run fuzz` runs it
// for longer from a random seed).
import test from 'ava';
import fc from 'fast-check';
import { target } from '../fuzz/response.js';
import { propertyOf } from '../fuzz/target.js';

test('the upstream response parser against llhttp: 5,000 generated responses, fixed seed', (t) => {
  fc.assert(propertyOf(target), { seed: 20261206, numRuns: 5000 });
  t.pass();
});
