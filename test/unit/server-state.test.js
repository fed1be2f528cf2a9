// runtime/server-state.ts: one case per row of each of its two tables (docs/design/conventions.md), written out here
// rather than read from the module, so a changed table fails until this file agrees.
import test from 'ava';
import { STATE_TABLE, isEligible, nextHealth, serverStatus } from '../../dist/runtime/server-state.js';
import { ObservedState } from '../../dist/runtime/servers.js';
import { makeUpstreamPool } from '../../dist/upstream/pool.js';

// weight × health → state, eligible for new requests.
const stateRows = [
  { weight: 1, health: 'up', state: 'up', eligible: true },
  { weight: 1, health: 'down', state: 'down', eligible: false },
  { weight: 0, health: 'up', state: 'drain', eligible: false },
  { weight: 0, health: 'down', state: 'down', eligible: false },
];

for (const row of stateRows) {
  test(`state: weight ${row.weight > 0 ? '> 0' : '0'}, health ${row.health} → ${row.state}, ${row.eligible ? '' : 'not '}eligible`, (t) => {
    const state = serverStatus(row.weight, row.health);
    t.is(state, row.state);
    t.is(isEligible(state), row.eligible);
  });
}

test('the state table in the module has the same rows', (t) => {
  t.deepEqual(
    STATE_TABLE.map((r) => [r.weight, r.health, r.state, r.eligible]),
    stateRows.map((r) => [r.weight > 0 ? '> 0' : '0', r.health, r.state, r.eligible]),
  );
  t.is(serverStatus(256, 'up'), 'up', 'any positive weight is "> 0"');
});

const rule = { rise: 2, fall: 3 };

// health, streak, result → health, streak (rise 2, fall 3).
const healthRows = [
  { title: 'up, pass: stays up, streak restarts', from: ['up', 2], pass: true, to: ['up', 0] },
  { title: 'up, fail below fall: stays up, streak grows', from: ['up', 1], pass: false, to: ['up', 2] },
  { title: 'up, fail reaching fall: down, streak restarts', from: ['up', 2], pass: false, to: ['down', 0] },
  { title: 'down, fail: stays down, streak restarts', from: ['down', 1], pass: false, to: ['down', 0] },
  { title: 'down, pass below rise: stays down, streak grows', from: ['down', 0], pass: true, to: ['down', 1] },
  { title: 'down, pass reaching rise: up, streak restarts', from: ['down', 1], pass: true, to: ['up', 0] },
];

for (const row of healthRows) {
  test(`health: ${row.title}`, (t) => {
    const next = nextHealth({ health: row.from[0], streak: row.from[1] }, row.pass, rule);
    t.deepEqual(next, { health: row.to[0], streak: row.to[1] });
  });
}

test('a server state applies results, announces each change of health once, and says what caused it', (t) => {
  const observed = new ObservedState(makeUpstreamPool);
  const changes = [];
  observed.on('health', (s) => changes.push([s.key, s.health, { ...s.change }]));
  const s = observed.server('app', 'app1', 1000);
  t.teardown(() => observed.destroy());
  t.is(s.health, 'up', 'a server starts up');
  s.check(false, rule, 'http', 'HTTP 503');
  s.check(false, rule, 'passive', 'ECONNREFUSED');
  t.deepEqual(changes, []);
  s.check(false, rule, 'tcp', 'ECONNREFUSED');
  t.deepEqual(changes, [['app/app1', 'down', { source: 'tcp', detail: 'ECONNREFUSED', results: 3 }]]);
  s.check(false, rule, 'http', 'HTTP 503');
  s.check(true, rule, 'http', 'HTTP 200');
  t.is(changes.length, 1);
  s.check(true, rule, 'http', 'HTTP 204');
  t.deepEqual(changes.at(-1), ['app/app1', 'up', { source: 'http', detail: 'HTTP 204', results: 2 }]);
  t.is(observed.server('app', 'app1', 1000), s, 'keyed by backend/server: the same state on every lookup');
});
