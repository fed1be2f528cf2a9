// Exact pick sequences for given weights (docs/design/conventions.md): a table per balancer. Balancers are handed the
// eligible servers only, listed the way the runtime lists them (server-state.ts).
import test from 'ava';
import { BALANCER_TABLE } from '../../dist/runtime/balance/index.js';
import { roundRobin } from '../../dist/runtime/balance/round-robin.js';
import { leastConn } from '../../dist/runtime/balance/least-conn.js';
import { isEligible, serverStatus } from '../../dist/runtime/server-state.js';

function servers(weights, health = {}) {
  return Object.entries(weights).map(([name, weight]) => {
    const h = health[name] ?? 'up';
    return {
      name,
      host: '127.0.0.1',
      port: 1,
      weight,
      health: h,
      status: serverStatus(weight, h),
      state: { key: name, active: 0, requests: 0, failures: 0, rrScore: 0 },
    };
  });
}

const eligible = (list) => list.filter((s) => isEligible(s.status));

function sequence(balancer, list, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const s = balancer.pick(eligible(list));
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
  { weights: { a: 1, b: 1, c: 1 }, health: { b: 'down' }, n: 4, expected: 'acac' },
  { weights: { a: 1, b: 1 }, health: { a: 'down', b: 'down' }, n: 2, expected: '--' },
];

for (const { weights, health, n, expected } of rrCases) {
  test(`roundrobin ${JSON.stringify(weights)}${health ? ` down: ${Object.keys(health)}` : ''} picks ${expected}`, (t) => {
    t.is(sequence(roundRobin(), servers(weights, health), n), expected);
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

// A leastconn script: `p` picks a server and pins a request on it (it stays active, as a slow
// request does); `-x` ends one request on x. The result lists the picks.
function leastConnScript(weights, script, health) {
  const list = servers(weights, health);
  const balancer = leastConn();
  const out = [];
  for (const step of script.split(' ')) {
    if (step === 'p') {
      const s = balancer.pick(eligible(list));
      out.push(s === null ? '-' : s.name);
      if (s) {
        s.state.active++;
        s.state.requests++;
      }
    } else {
      list.find((s) => s.name === step.slice(1)).state.active--;
    }
  }
  return out.join('');
}

const lcCases = [
  // Idle servers share in turn; a finished request makes its server the least loaded again.
  { weights: { a: 1, b: 1, c: 1 }, script: 'p p p -b p p', expected: 'abcba' },
  // Pinned servers are avoided while any has fewer in flight.
  { weights: { a: 1, b: 1, c: 1 }, script: 'p p p p -c p p', expected: 'abcacb' },
  // In flight relative to weight: b takes two for each of a's.
  { weights: { a: 1, b: 2 }, script: 'p p p p p p', expected: 'abbabb' },
  // Drained and down servers get nothing, however idle.
  { weights: { a: 1, b: 0, c: 1 }, script: 'p p p', expected: 'aca' },
  { weights: { a: 1, b: 1 }, health: { a: 'down' }, script: 'p p', expected: 'bb' },
  { weights: { a: 0 }, script: 'p', expected: '-' },
];

for (const { weights, health, script, expected } of lcCases) {
  test(`leastconn ${JSON.stringify(weights)}${health ? ` down: ${Object.keys(health)}` : ''} "${script}" picks ${expected}`, (t) => {
    t.is(leastConnScript(weights, script, health), expected);
  });
}

test('leastconn skips servers already tried', (t) => {
  const list = servers({ a: 1, b: 1 });
  t.is(leastConn().pick(list, new Set([list[0]])).name, 'b');
  t.is(leastConn().pick(list, new Set(list)), null);
});

test('the balancer table names exactly the config words', (t) => {
  t.deepEqual(Object.keys(BALANCER_TABLE), ['roundrobin', 'leastconn']);
  for (const make of Object.values(BALANCER_TABLE)) t.is(typeof make().pick, 'function');
});
