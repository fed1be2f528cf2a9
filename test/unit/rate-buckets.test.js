// The token buckets of rate limits, on a clock the test moves: a bucket holds rate + burst, starts
// full, refills at rate a second; the wait it gives is the time to the next token; keys are bounded
// (least recently used out, back full); what another worker admitted is charged, into debt.
import test from 'ava';
import fc from 'fast-check';
import { RateBuckets } from '../../dist/runtime/buckets.js';

test('a new key starts full: rate + burst at once, then the time to the next token', (t) => {
  const b = new RateBuckets();
  const rate = 10;
  const capacity = 10 + 5;
  for (let i = 0; i < capacity; i++) t.is(b.take('a', 0, rate, capacity), 0, `request ${i + 1}`);
  t.is(b.take('a', 0, rate, capacity), 100, 'one token every 100 ms');
  t.is(b.take('a', 40, rate, capacity), 60);
  t.is(b.take('a', 100, rate, capacity), 0, 'the token came');
  t.is(b.take('a', 100, rate, capacity), 100);
  t.is(b.take('other', 100, rate, capacity), 0, 'another key has its own bucket');
});

test('a bucket refills at rate a second, never past rate + burst', (t) => {
  const b = new RateBuckets();
  for (let i = 0; i < 3; i++) b.take('a', 0, 2, 3);
  // 10 s later: 20 tokens came, 3 fit.
  for (let i = 0; i < 3; i++) t.is(b.take('a', 10_000, 2, 3), 0);
  t.is(b.take('a', 10_000, 2, 3), 500);
});

test('a rate lowered by a flag leaves no more than the new capacity; a raised one refills faster', (t) => {
  const b = new RateBuckets();
  t.is(b.take('a', 0, 100, 100), 0); // 99 left
  // Down to 1 a second (capacity 1): the 99 tokens shrink to 1.
  t.is(b.take('a', 0, 1, 1), 0);
  t.is(b.take('a', 0, 1, 1), 1000);
  // Up to 1000 a second: a token every millisecond.
  t.is(b.take('a', 1, 1000, 1000), 0);
});

test('at most maxKeys buckets: the least recently used goes, and comes back full', (t) => {
  const b = new RateBuckets(3);
  for (const k of ['a', 'b', 'c']) t.is(b.take(k, 0, 1, 1), 0);
  t.is(b.take('a', 0, 1, 1), 1000, 'a is empty, and now the most recently used');
  t.is(b.take('d', 0, 1, 1), 0, 'd pushes b out');
  t.is(b.size, 3);
  t.is(b.take('c', 0, 1, 1), 1000, 'c stayed, empty');
  t.is(b.take('b', 0, 1, 1), 0, 'b came back full (and pushed a out)');
  t.is(b.take('a', 0, 1, 1), 0, 'a too');
});

test('what another worker admitted is charged, into debt, and the wait says so', (t) => {
  const b = new RateBuckets();
  b.share();
  t.is(b.take('a', 0, 10, 10), 0);
  t.deepEqual(b.drain(), [['a', 1]]);
  t.is(b.drain(), null, 'drained');
  b.charge('a', 14, 0, 10, 10); // 9 - 14 = -5
  t.is(b.take('a', 0, 10, 10), 600, '6 tokens to come at 10 a second');
  t.is(b.take('a', 600, 10, 10), 0);
  t.is(b.drain().length, 1);
  t.is(new RateBuckets().drain(), null, 'one process: nothing is counted for others');
});

test('property: over any run of requests, a key gets at most capacity + rate × elapsed, and a refused one waits just long enough', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 0, max: 100 }),
      fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 300 }),
      (rate, burst, gaps) => {
        const b = new RateBuckets();
        const capacity = rate + burst;
        let now = 0;
        let passed = 0;
        for (const gap of gaps) {
          now += gap;
          const wait = b.take('k', now, rate, capacity);
          if (wait === 0) passed++;
          // After the wait given, a token is there (the clock is exact here).
          else if (b.take('k', now + wait, rate, capacity) !== 0) return false;
          else {
            passed++;
            now += wait;
          }
        }
        return passed <= capacity + Math.floor((now * rate) / 1000) + 1;
      },
    ),
  );
  t.pass();
});
