// The latency histograms (runtime/histogram.ts) and the quantile estimated from them
// (runtime/quantile.ts), as Prometheus' histogram_quantile() estimates it.
import test from 'ava';
import fc from 'fast-check';
import { Histogram, LATENCY_BOUNDS, LATENCY_BUCKETS_MS, latencyHistogram } from '../../dist/runtime/histogram.js';
import { histogramQuantile } from '../../dist/runtime/quantile.js';

test('the latency buckets: 0.5 ms to 10 s, ascending, shared by every histogram', (t) => {
  t.deepEqual(LATENCY_BUCKETS_MS, [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]);
  t.true(Object.isFrozen(LATENCY_BUCKETS_MS));
  const a = latencyHistogram();
  const b = latencyHistogram();
  t.is(a.bounds, b.bounds, 'one array of bounds for all');
  t.is(a.bounds, LATENCY_BOUNDS);
  t.is(a.counts.length, LATENCY_BUCKETS_MS.length + 1);
  t.not(a.counts, b.counts);
});

test('an observation lands in the first bucket whose bound is at least it: a bound itself included, above the last in +Inf', (t) => {
  const h = latencyHistogram();
  for (const ms of [0, 0.5, 0.50001, 1, 250, 10000, 10000.1, Infinity]) h.observe(ms);
  // 0 and 0.5 in le=0.5, 0.50001 and 1 in le=1, 250 in le=250, 10000 in le=10000, the rest above.
  t.deepEqual(Array.from(h.counts), [2, 2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2]);
  t.is(h.count, 8);
});

test('cumulative(): the /status form, by bound in ms up to +Inf, sum to the microsecond', (t) => {
  const h = new Histogram(Float64Array.from([1, 10]));
  t.deepEqual(h.cumulative(), { count: 0, sum: 0, buckets: { 1: 0, 10: 0, '+Inf': 0 } });
  for (const ms of [0.25, 3.0004, 3, 40]) h.observe(ms);
  t.deepEqual(h.cumulative(), { count: 4, sum: 46.25, buckets: { 1: 1, 10: 3, '+Inf': 4 } });
});

test('snapshot(), add() and reset(): what a worker sends and the primary adds up', (t) => {
  const a = latencyHistogram();
  const b = latencyHistogram();
  for (const ms of [0.1, 7, 7, 300]) a.observe(ms);
  for (const ms of [7, 20_000]) b.observe(ms);
  const sent = JSON.parse(JSON.stringify(a.snapshot())); // as it travels over IPC
  t.true(Array.isArray(sent.counts));
  const total = latencyHistogram();
  total.add(sent);
  total.add(b.snapshot());
  t.is(total.count, 6);
  t.is(total.sum, a.sum + b.sum);
  t.is(total.counts[3], 0);
  t.is(total.counts[4], 3, 'the three 7 ms in le=10');
  t.is(total.counts[LATENCY_BUCKETS_MS.length], 1);
  total.reset();
  t.is(total.count, 0);
  t.is(total.sum, 0);
  a.observe(1);
  t.is(
    sent.counts.reduce((x, y) => x + y, 0),
    4,
    'a snapshot is a copy',
  );
});

test('property: counts add up to the observations, each in the first bucket whose bound is at least it, and the sum is theirs', (t) => {
  const bounds = fc
    .uniqueArray(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 20 })
    .map((xs) => xs.sort((a, b) => a - b));
  const observations = fc.array(fc.double({ min: 0, max: 2e6, noNaN: true }), { maxLength: 200 });
  fc.assert(
    fc.property(bounds, observations, (bs, xs) => {
      const h = new Histogram(Float64Array.from(bs));
      const expected = new Array(bs.length + 1).fill(0);
      let sum = 0;
      for (const x of xs) {
        h.observe(x);
        const i = bs.findIndex((b) => x <= b);
        expected[i === -1 ? bs.length : i]++;
        sum += x;
      }
      t.deepEqual(Array.from(h.counts), expected);
      t.is(h.count, xs.length);
      t.is(h.sum, sum);
      const c = h.cumulative();
      t.is(c.buckets['+Inf'], xs.length);
      t.is(c.count, xs.length);
    }),
  );
});

// histogramQuantile works on the /status form: keys as text, any order.
const cumulative = (pairs) => Object.fromEntries(pairs.map(([le, n]) => [String(le), n]));

test('quantile: null without an observation, or without a +Inf bucket', (t) => {
  t.is(histogramQuantile(0.5, {}), null);
  t.is(
    histogramQuantile(
      0.5,
      cumulative([
        [1, 0],
        [10, 0],
        ['+Inf', 0],
      ]),
    ),
    null,
  );
  t.is(
    histogramQuantile(
      0.5,
      cumulative([
        [1, 3],
        [10, 5],
      ]),
    ),
    null,
    'no +Inf: not a whole histogram',
  );
  t.is(histogramQuantile(0.5, cumulative([['+Inf', 5]])), null, 'no finite bound to interpolate to');
});

test('quantile: linear interpolation within the bucket that holds the rank, the first bucket starting at 0', (t) => {
  // All 4 in (0, 10]: p50 is rank 2 of 4, half-way.
  t.is(
    histogramQuantile(
      0.5,
      cumulative([
        [10, 4],
        [100, 4],
        ['+Inf', 4],
      ]),
    ),
    5,
  );
  t.is(
    histogramQuantile(
      0.99,
      cumulative([
        [10, 4],
        [100, 4],
        ['+Inf', 4],
      ]),
    ),
    9.9,
  );
  // 10 in (0, 10], 10 in (10, 100]: p50 = rank 10, the end of the first; p75 = rank 15, half of the second.
  const h = cumulative([
    [10, 10],
    [100, 20],
    ['+Inf', 20],
  ]);
  t.is(histogramQuantile(0.5, h), 10);
  t.is(histogramQuantile(0.75, h), 55);
  t.is(histogramQuantile(1, h), 100);
  // One observation in (250, 500]: every quantile lies in it.
  const one = cumulative([
    [100, 0],
    [250, 0],
    [500, 1],
    [1000, 1],
    ['+Inf', 1],
  ]);
  t.is(histogramQuantile(0.5, one), 375);
  t.is(histogramQuantile(0.99, one), 497.5);
});

test('quantile: in the +Inf bucket, the highest finite bound, as Prometheus gives it', (t) => {
  t.is(
    histogramQuantile(
      0.5,
      cumulative([
        [1, 0],
        [10, 0],
        ['+Inf', 3],
      ]),
    ),
    10,
  );
  t.is(
    histogramQuantile(
      0.99,
      cumulative([
        [1, 98],
        [10, 98],
        ['+Inf', 100],
      ]),
    ),
    10,
  );
  t.is(
    histogramQuantile(
      0.98,
      cumulative([
        [1, 98],
        [10, 98],
        ['+Inf', 100],
      ]),
    ),
    1,
  );
});

test('quantile: keys in any order, as a JSON object gives them back (integers first)', (t) => {
  const h = JSON.parse(JSON.stringify(latencyHistogram().cumulative().buckets));
  t.deepEqual(Object.keys(h).slice(0, 2), ['1', '5'], 'the object puts 1 before 0.5');
  const x = latencyHistogram();
  for (const ms of [0.2, 0.3, 0.4, 0.6]) x.observe(ms);
  const b = JSON.parse(JSON.stringify(x.cumulative().buckets));
  // 3 of 4 in (0, 0.5], 1 in (0.5, 1]: p50 = rank 2 → 2/3 of 0.5.
  t.is(histogramQuantile(0.5, b), (0.5 * 2) / 3);
  t.is(histogramQuantile(0.99, b), 0.5 + 0.5 * ((3.96 - 3) / 1));
});

test('property: a quantile lies between 0 and the highest finite bound, and never decreases with q', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0, max: 20_000, noNaN: true }), { minLength: 1, maxLength: 100 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (xs, q1, q2) => {
        const h = latencyHistogram();
        for (const x of xs) h.observe(x);
        const b = h.cumulative().buckets;
        const [lo, hi] = q1 <= q2 ? [q1, q2] : [q2, q1];
        const a = histogramQuantile(lo, b);
        const z = histogramQuantile(hi, b);
        t.true(a >= 0 && z <= 10000 && a <= z, `${a} ${z}`);
      },
    ),
  );
});

test("the dashboard's script inlines this very function, not a copy of the formula", async (t) => {
  const { DASHBOARD_SCRIPT } = await import('../../dist/admin/dashboard-script.js');
  t.true(DASHBOARD_SCRIPT.includes(`const quantile = (${String(histogramQuantile)});`));
  t.is(DASHBOARD_SCRIPT.split('histogramQuantile').length - 1, 1, 'written once');
});
