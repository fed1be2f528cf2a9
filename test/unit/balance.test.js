// Exact pick sequences for given weights (STYLE 11): a table per balancer.
import test from 'ava';
import { roundRobin } from '../../dist/proxy/balance/round-robin.js';
import { leastConn } from '../../dist/proxy/balance/least-conn.js';

function servers(weights) {
  return Object.entries(weights).map(([name, weight]) => ({ name, host: '127.0.0.1', port: 1, weight, state: { key: name, active: 0, requests: 0, failures: 0, current: 0 } }));
}

function sequence(balancer, list, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const s = balancer.pick(list);
    out.push(s === null ? '-' : s.name);
    if (s) s.state.requests++;
  }
  return out.join('');
}

const rrCases = [
  { weights: { a: 1, b: 3 }, n: 8, expected: 'babbbabb' },
  { weights: { a: 1, b: 1 }, n: 4, expected: 'abab' },
  { weights: { a: 5, b: 1, c: 1 }, n: 7, expected: 'aabacaa' },
  { weights: { a: 0, b: 2 }, n: 3, expected: 'bbb' },
  { weights: { a: 0, b: 0 }, n: 2, expected: '--' },
  { weights: { a: 2, b: 3, c: 0 }, n: 5, expected: 'babab' },
];

for (const { weights, n, expected } of rrCases) {
  test(`roundrobin ${JSON.stringify(weights)} picks ${expected}`, (t) => {
    t.is(sequence(roundRobin(), servers(weights), n), expected);
  });
}

test('roundrobin with weights 1 and 3 is smooth: never two a in a row, b at most three in a row', (t) => {
  const seq = sequence(roundRobin(), servers({ a: 1, b: 3 }), 400);
  t.false(seq.includes('aa'));
  t.false(seq.includes('bbbb'));
  t.is([...seq].filter((c) => c === 'a').length, 100);
});

test('roundrobin skips servers already tried', (t) => {
  const list = servers({ a: 1, b: 1 });
  t.is(roundRobin().pick(list, new Set([list[0]])).name, 'b');
  t.is(roundRobin().pick(list, new Set(list)), null);
});

test('leastconn picks the fewest active, weighted, and skips weight 0', (t) => {
  const list = servers({ a: 1, b: 1, c: 0 });
  list[0].state.active = 2;
  list[1].state.active = 1;
  list[2].state.active = 0;
  t.is(leastConn().pick(list).name, 'b');
  const weighted = servers({ a: 1, b: 4 });
  weighted[0].state.active = 1;
  weighted[1].state.active = 3; // 3/4 < 1/1
  t.is(leastConn().pick(weighted).name, 'b');
});
