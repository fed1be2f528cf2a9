// The attempt (src/proxy/attempt.ts): what a failed try leads to, as a table (the pure policy), and
// the tries of one exchange over a backend's servers with a stand-in for each kind's connection
// (which server, the counters, the passive checks, the answer once none is left).
import test from 'ava';
import { Attempt, Blame, Stage, Verdict, blameFor, statusFor, takerOf, verdictFor } from '../../dist/proxy/attempt.js';
import { roundRobin } from '../../dist/runtime/balance/round-robin.js';
import { UPSTREAM_ERROR_CODES } from '../../dist/upstream/error.js';
import { BackendQueue } from '../../dist/runtime/queue.js';

const { CONNECTING, SENT, ANSWERED, RELAYED } = Stage;
const { NEXT, REPLAY, ANSWER, CUT, OWN } = Verdict;
const NAMES = Object.fromEntries(Object.entries(Verdict).map(([k, v]) => [v, k]));

// [code, stage, replayable, verdict, status (ANSWER/OWN), blame]
const POLICY = [
  // Nothing left flagman: another server, the failed one blamed (a connect timeout too).
  ['ECONNREFUSED', CONNECTING, false, NEXT, null, Blame.FAILED_CHECK],
  ['EHOSTUNREACH', CONNECTING, false, NEXT, null, Blame.FAILED_CHECK],
  ['CONNECT_TIMEOUT', CONNECTING, false, NEXT, null, Blame.FAILED_CHECK],
  ['SERVER_CLOSED', CONNECTING, false, NEXT, null, Blame.FAILED_CHECK],
  // flagman's own shortage or shutdown: 503, nobody blamed, nobody else tried.
  ['EMFILE', CONNECTING, false, OWN, 503, Blame.NONE],
  ['ENFILE', CONNECTING, true, OWN, 503, Blame.NONE],
  ['SHUTDOWN', CONNECTING, false, OWN, 503, Blame.NONE],
  ['SHUTDOWN', SENT, true, OWN, 503, Blame.NONE],
  // The keep-alive race: a replayable request on a reused connection that got nothing back.
  ['SERVER_CLOSED', SENT, true, REPLAY, null, Blame.NONE],
  ['ECONNRESET', SENT, true, REPLAY, null, Blame.NONE],
  // …but never a timeout or a garbled answer, nor anything that may not be sent twice.
  ['SERVER_TIMEOUT', SENT, true, ANSWER, 504, Blame.FAILURE],
  ['BAD_RESPONSE', SENT, true, ANSWER, 502, Blame.FAILED_CHECK],
  ['SERVER_CLOSED', SENT, false, ANSWER, 502, Blame.FAILED_CHECK],
  ['ECONNRESET', SENT, false, ANSWER, 502, Blame.FAILED_CHECK],
  ['SERVER_TIMEOUT', SENT, false, ANSWER, 504, Blame.FAILURE],
  // A head came back: never replayed.
  ['SERVER_CLOSED', ANSWERED, true, ANSWER, 502, Blame.FAILED_CHECK],
  ['SERVER_TIMEOUT', ANSWERED, true, ANSWER, 504, Blame.FAILURE],
  // The head reached the client: only a cut (a shutdown's blames nobody).
  ['SERVER_CLOSED', RELAYED, true, CUT, null, Blame.FAILED_CHECK],
  ['SERVER_TIMEOUT', RELAYED, false, CUT, null, Blame.FAILURE],
  ['SHUTDOWN', RELAYED, false, CUT, null, Blame.NONE],
];

for (const [code, stage, replayable, verdict, status, blame] of POLICY) {
  const stageName = Object.keys(Stage).find((k) => Stage[k] === stage);
  test(`${code} at ${stageName}${replayable ? ' (replayable)' : ''}: ${NAMES[verdict]}`, (t) => {
    t.is(verdictFor(code, stage, replayable), verdict);
    t.is(blameFor(code, verdict), blame);
    if (status !== null) t.is(statusFor(code, verdict), status);
  });
}

test('a connect timeout is one code of the upstream error table', (t) => {
  t.true('CONNECT_TIMEOUT' in UPSTREAM_ERROR_CODES);
  t.is(statusFor('CONNECT_TIMEOUT', ANSWER), 504);
});

// Stand-ins for the runtime's servers and backends.
function server(name) {
  const state = {
    active: 0,
    requests: 0,
    failures: 0,
    rrScore: 0,
    checks: [],
    check(pass, _rule, source, detail) {
      this.checks.push({ pass, source, detail });
    },
  };
  return { name, host: '127.0.0.1', port: 1, weight: 1, maxconn: 0, state };
}

function backend(names, { health = {}, fallback = null } = {}) {
  const servers = names.map(server);
  return {
    kind: 'proxy',
    name: 'app',
    servers,
    eligible: servers,
    balancer: roundRobin(),
    limited: false,
    queue: new BackendQueue(),
    queueBound: null,
    health,
    timeouts: { connect: 1000 },
    fallback,
    counters: { requests: 0, active: 0, responses: [0, 0, 0, 0, 0, 0] },
  };
}

/** An attempt whose tries fail (or not) as `script` says, one entry per try: [code, stage] or 'ok'. */
class Scripted extends Attempt {
  constructor(script, replayable = false) {
    super();
    this.script = script;
    this.replayable = replayable;
    this.log = [];
    this.gone = false;
  }

  go(target) {
    this.start(target);
  }

  connect(server) {
    const step = this.script.shift();
    this.log.push(server.name);
    if (step === 'ok') return;
    this.failed({ code: step[0], detail: step[0] }, step[1], this.replayable);
  }

  end() {
    this.release();
  }

  answer(status, reason) {
    this.log.push(`${status} ${reason}`);
  }

  cut(reason) {
    this.log.push(`cut ${reason}`);
  }

  abandoned() {
    return this.gone;
  }
}

test('a refused connect goes to the next server; the refuser is blamed once, with a failed passive check', (t) => {
  const be = backend(['a', 'b', 'c']);
  const a = new Scripted([['ECONNREFUSED', CONNECTING], 'ok']);
  a.go(be);
  t.deepEqual(a.log, ['a', 'b']);
  t.like(be.servers[0].state, { active: 0, requests: 1, failures: 1 });
  t.deepEqual(be.servers[0].state.checks, [{ pass: false, source: 'passive', detail: 'ECONNREFUSED' }]);
  t.like(be.servers[1].state, { active: 1, requests: 1, failures: 0 });
  t.like(be.counters, { active: 1, requests: 2 });
  a.end();
  a.end(); // once per try
  t.like(be.servers[1].state, { active: 0 });
  t.like(be.counters, { active: 0 });
});

test('every server timing out its connect: 504 connect timeout; refused: 502 no server reachable', (t) => {
  const timedOut = new Scripted([
    ['ECONNREFUSED', CONNECTING],
    ['CONNECT_TIMEOUT', CONNECTING],
  ]);
  const be = backend(['a', 'b']);
  timedOut.go(be);
  t.deepEqual(timedOut.log, ['a', 'b', '504 connect timeout']);
  t.like(be.counters, { active: 0, requests: 2 });
  t.deepEqual(
    be.servers[1].state.checks.map((c) => c.detail),
    ['connect timeout'],
  );

  const refused = new Scripted([
    ['CONNECT_TIMEOUT', CONNECTING],
    ['ECONNREFUSED', CONNECTING],
  ]);
  refused.go(backend(['a', 'b']));
  t.deepEqual(refused.log, ['a', 'b', '502 no server reachable']);
});

test('no eligible server: 503 no eligible server, nothing counted', (t) => {
  const be = backend([]);
  const a = new Scripted([]);
  a.go(be);
  t.deepEqual(a.log, ['503 no eligible server']);
  t.like(be.counters, { active: 0, requests: 0 });
});

test('the keep-alive race is replayed once, on any server, unblamed; a second race is answered', (t) => {
  const be = backend(['a', 'b']);
  const a = new Scripted(
    [
      ['SERVER_CLOSED', SENT],
      ['SERVER_CLOSED', SENT],
    ],
    true,
  );
  a.go(be);
  t.deepEqual(a.log, ['a', 'b', '502 server closed the connection']);
  t.is(be.servers[0].state.failures, 0);
  t.is(be.servers[1].state.failures, 1);
  t.like(be.counters, { active: 0 });
});

test('a request that reached its server is not sent again: 504 server timeout, a failure but no failed check', (t) => {
  const be = backend(['a', 'b']);
  const a = new Scripted([['SERVER_TIMEOUT', SENT]]);
  a.go(be);
  t.deepEqual(a.log, ['a', '504 server timeout']);
  t.like(be.servers[0].state, { failures: 1, checks: [] });
});

test('a failure once the client is gone blames nobody and answers nothing, but ends the try', (t) => {
  const be = backend(['a', 'b']);
  const a = new Scripted([]);
  a.connect = function (s) {
    this.log.push(s.name);
  };
  a.go(be);
  a.gone = true;
  a.failed({ code: 'ECONNREFUSED', detail: '' }, CONNECTING);
  t.deepEqual(a.log, ['a']);
  t.like(be.servers[0].state, { active: 0, failures: 0 });
  t.like(be.counters, { active: 0 });
});

test('shutdown: 503 shutdown, nobody blamed; a cut names it', (t) => {
  const be = backend(['a']);
  const a = new Scripted([['SHUTDOWN', SENT]]);
  a.go(be);
  t.deepEqual(a.log, ['a', '503 shutdown']);
  const b = new Scripted([['SHUTDOWN', RELAYED]]);
  b.go(be);
  t.deepEqual(b.log, ['a', 'cut shutdown']);
  t.is(be.servers[0].state.failures, 0);
});

test('takerOf follows fallbacks while a backend has no eligible server', (t) => {
  const page = { kind: 'respond', name: 'maint' };
  const empty = backend([], { fallback: page });
  t.is(takerOf(empty), page);
  const chain = backend([], { fallback: empty });
  t.is(takerOf(chain), page);
  const full = backend(['a'], { fallback: page });
  t.is(takerOf(full), full);
  const lonely = backend([]);
  t.is(takerOf(lonely), lonely, 'no fallback: the backend itself, which answers 503');
});
