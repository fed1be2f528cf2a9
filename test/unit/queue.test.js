// A backend's queue (src/runtime/queue.ts) on its own — first in, first out, leaving from the
// middle, the timeout, the bound, the wait histogram — and with the attempt (src/proxy/attempt.ts)
// in front of servers that have a maxconn: who waits, who gets a freed slot, a client that leaves,
// a timeout or a full queue answered 503 with Retry-After, a limit lifted by a new runtime.
import test from 'ava';
import { Attempt } from '../../dist/proxy/attempt.js';
import { roundRobin } from '../../dist/runtime/balance/round-robin.js';
import { BackendQueue, WAIT_BUCKETS_MS, Wake } from '../../dist/runtime/queue.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A waiter that answers wake() with the next of `answers` (LEFT takes it out) and records what it hears. */
function waiter(queue, name, log, answers = []) {
  const w = {
    entry: null,
    wake() {
      log.push(`wake ${name}`);
      const a = answers.shift() ?? Wake.LEFT;
      if (a === Wake.LEFT) queue.remove(w.entry);
      return a;
    },
    expired(ms) {
      log.push(`expired ${name}`);
      w.ms = ms;
    },
  };
  return w;
}

test('waiters are woken first in, first out; one that finds no slot ends the round, one passed over lets the next try', async (t) => {
  const q = new BackendQueue();
  const log = [];
  const a = waiter(q, 'a', log, [Wake.PASS, Wake.PASS]);
  const b = waiter(q, 'b', log, [Wake.LEFT]);
  const c = waiter(q, 'c', log, [Wake.NO_SLOT, Wake.LEFT]);
  const d = waiter(q, 'd', log, [Wake.NO_SLOT]);
  for (const w of [a, b, c, d]) w.entry = q.push(w, 60_000, null);
  t.like(q, { length: 4, queued: 4 });
  q.wake();
  q.wake(); // one round for both
  t.deepEqual(log, [], 'woken a microtask later, once the code that freed the slot is done');
  await tick();
  t.deepEqual(log, ['wake a', 'wake b', 'wake c']);
  t.is(q.length, 3);
  log.length = 0;
  q.wake();
  await tick();
  t.deepEqual(log, ['wake a', 'wake c', 'wake d'], 'b left; the others keep their order');
  t.is(q.length, 2);
  q.remove(a.entry);
  q.remove(d.entry);
  t.is(q.length, 0);
  t.is(q.remove(a.entry), 0, 'removing twice does nothing');
  t.is(q.length, 0);
});

test('leaving from the middle keeps the order of the rest', async (t) => {
  const q = new BackendQueue();
  const log = [];
  const ws = ['a', 'b', 'c', 'd'].map((n) => waiter(q, n, log));
  for (const w of ws) w.entry = q.push(w, 60_000, null);
  q.remove(ws[1].entry);
  q.remove(ws[3].entry);
  q.wake();
  await tick();
  t.deepEqual(log, ['wake a', 'wake c']);
  t.is(q.length, 0);
  t.is(q.wait.count, 4, 'every wait is counted, however it ended');
});

test('a waiter past its timeout is taken out, counted, and told how long it waited', async (t) => {
  const q = new BackendQueue();
  const log = [];
  const slow = waiter(q, 'slow', log);
  const quick = waiter(q, 'quick', log);
  slow.entry = q.push(slow, 60_000, null);
  quick.entry = q.push(quick, 20, null);
  await new Promise((resolve) => setTimeout(resolve, 40));
  for (let i = 0; i < 200 && !log.includes('expired quick'); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.deepEqual(log, ['expired quick']);
  t.like(q, { length: 1, timeouts: 1 });
  t.true(quick.ms >= 15, `waited ${quick.ms} ms`);
  q.remove(slow.entry); // its timer goes with it
  t.is(q.length, 0);
});

test('a bounded queue refuses past its bound, and counts it', (t) => {
  const q = new BackendQueue();
  const w = { wake: () => Wake.NO_SLOT, expired() {} };
  const first = q.push(w, 60_000, 1);
  t.truthy(first);
  t.is(q.push(w, 60_000, 1), null);
  t.like(q, { length: 1, queued: 1, full: 1 });
  q.remove(first);
  const zero = new BackendQueue();
  t.is(zero.push(w, 60_000, 0), null, 'queue: 0 — nobody waits');
  t.like(zero, { length: 0, queued: 0, full: 1 });
});

test('waits are counted in the histogram bucket of their length', (t) => {
  const q = new BackendQueue();
  const w = { wake: () => Wake.NO_SLOT, expired() {} };
  const e = q.push(w, 60_000, null);
  const ms = q.remove(e);
  const i = WAIT_BUCKETS_MS.findIndex((le) => ms <= le);
  t.is(q.wait.counts[i], 1);
  t.is(q.wait.count, 1);
  t.is(q.wait.sum, ms);
});

// The attempt in front of stand-ins for the runtime's servers and backend.
function server(name, maxconn) {
  return { name, host: '127.0.0.1', port: 1, weight: 1, maxconn, state: { active: 0, requests: 0, failures: 0, rrScore: 0, check() {} } };
}

function backend(specs, { queue = new BackendQueue(), queueBound = null, queueMs = 60_000 } = {}) {
  const servers = Object.entries(specs).map(([name, maxconn]) => server(name, maxconn));
  const target = {
    kind: 'proxy',
    name: 'app',
    mode: 'http',
    servers,
    eligible: servers,
    balancer: roundRobin(),
    limited: servers.some((s) => s.maxconn > 0),
    queue,
    queueBound,
    health: null,
    timeouts: { connect: 1000, queue: queueMs },
    fallback: null,
    counters: { requests: 0, active: 0, responses: [0, 0, 0, 0, 0, 0] },
  };
  queue.bind(target); // what the runtime holder does on every swap
  return target;
}

/** An exchange whose connect always succeeds and holds its slot until end(). */
class Held extends Attempt {
  constructor(name, log) {
    super();
    this.name = name;
    this.log = log;
    this.gone = false;
    this.waitedMs = -1;
  }

  go(target) {
    this.start(target);
    return this;
  }

  connect(s) {
    this.log.push(`${this.name}→${s.name}`);
  }

  end() {
    this.release();
  }

  leave() {
    // A client gone: HTTP and tcp release(), an upgrade withdraw(); either leaves the queue.
    this.gone = true;
    this.release();
  }

  answer(status, reason, retryAfter) {
    this.log.push(`${this.name} ${status} ${reason}${retryAfter === undefined ? '' : ` (Retry-After ${retryAfter})`}`);
  }

  cut(reason) {
    this.log.push(`${this.name} cut ${reason}`);
  }

  abandoned() {
    return this.gone;
  }

  waited(ms) {
    this.waitedMs = ms;
  }
}

test('a server at its maxconn takes nothing more: the rest wait, and a freed slot goes to the first who waited', async (t) => {
  const be = backend({ a: 1 });
  const log = [];
  const [r1, r2, r3, r4] = ['r1', 'r2', 'r3', 'r4'].map((n) => new Held(n, log).go(be));
  t.deepEqual(log, ['r1→a']);
  t.like(be.queue, { length: 3, queued: 3 });
  t.is(be.servers[0].state.active, 1);
  r3.leave(); // its client went away while it waited
  t.is(be.queue.length, 2);
  r1.end();
  t.is(be.servers[0].state.active, 0, 'the slot is free at once…');
  await tick();
  t.deepEqual(log, ['r1→a', 'r2→a'], '…and taken by the first waiter, not the one that left');
  t.true(r2.waitedMs >= 0);
  t.is(r4.waitedMs, -1);
  r2.end();
  await tick();
  t.deepEqual(log, ['r1→a', 'r2→a', 'r4→a']);
  r4.end();
  t.like(be.queue, { length: 0, queued: 3 });
  t.like(be.servers[0].state, { active: 0, requests: 3 });
  t.like(be.counters, { active: 0, requests: 3 });
});

test('a pick passes over the servers at their limit', (t) => {
  const be = backend({ a: 1, b: 0 });
  const log = [];
  for (const n of ['r1', 'r2', 'r3', 'r4']) new Held(n, log).go(be);
  t.deepEqual(log, ['r1→a', 'r2→b', 'r3→b', 'r4→b']);
  t.is(be.queue.length, 0, 'b has no limit: nothing waits');
});

test('a wait past timeouts.queue is answered 503 queue timeout, with Retry-After', async (t) => {
  const be = backend({ a: 1 }, { queueMs: 1500 });
  const log = [];
  new Held('r1', log).go(be);
  const r2 = new Held('r2', log).go(be);
  for (let i = 0; i < 500 && log.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.deepEqual(log, ['r1→a', 'r2 503 queue timeout (Retry-After 2)']);
  t.true(r2.waitedMs >= 1400, `waited ${r2.waitedMs} ms`);
  t.like(be.queue, { length: 0, timeouts: 1 });
});

test('a full queue refuses at once: 503 queue full, with Retry-After', (t) => {
  const be = backend({ a: 1 }, { queueBound: 1 });
  const log = [];
  const [, r2] = ['r1', 'r2', 'r3'].map((n) => new Held(n, log).go(be));
  t.deepEqual(log, ['r1→a', 'r3 503 queue full (Retry-After 60)']);
  t.like(be.queue, { length: 1, full: 1 });
  r2.leave(); // its 60 s timer goes with it: left queued, it would hold this test file open for a minute
  t.is(be.queue.length, 0);
});

test('a new runtime that lifts the limit serves every waiter; one whose backend lost every server answers them', async (t) => {
  const queue = new BackendQueue();
  const be = backend({ a: 1 }, { queue });
  const log = [];
  for (const n of ['r1', 'r2', 'r3']) new Held(n, log).go(be);
  t.is(queue.length, 2);
  backend({ a: 0 }, { queue }); // `rm flags/a.maxconn`: the same queue, bound to the new runtime's backend
  await tick();
  t.deepEqual(log, ['r1→a', 'r2→a', 'r3→a']);
  t.is(queue.length, 0);

  const q2 = new BackendQueue();
  const b2 = backend({ a: 1 }, { queue: q2 });
  const log2 = [];
  for (const n of ['r1', 'r2']) new Held(n, log2).go(b2);
  const none = backend({}, { queue: q2 }); // every server drained or down
  t.is(none.eligible.length, 0);
  await tick();
  t.deepEqual(log2, ['r1→a', 'r2 503 no eligible server']);
  q2.bind(null); // a reload removed the backend: nothing left to answer
  t.is(q2.length, 0);
});
