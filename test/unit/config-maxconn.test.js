// A server's maxconn and a backend's queue in the config (docs/configuration.md): what loads, each
// mistake as an error at its file:line:col (what `flagman check` prints), and how a maxconn
// expression is folded per flag snapshot into the runtime, as a weight is.
import test from 'ava';
import { parseConfigText } from '../../dist/config/load.js';
import { compileProgram, buildRuntime } from '../../dist/runtime/compile.js';
import { ObservedState } from '../../dist/runtime/servers.js';
import { makeUpstreamPool } from '../../dist/upstream/pool.js';
import { PageCache } from '../../dist/runtime/pages.js';
import { makeSnapshot } from '../../dist/flags/snapshot.js';
import { FlagmanErrors } from '../../dist/errors.js';

const F = '/etc/flagman/flagman.yaml';
const lines = (...l) => `${l.join('\n')}\n`;

// `extra` lines (backend keys) start at line 9; then `servers:`, whose entries start at line 10 without extras.
const config = (servers, extra = [], mode = 'http') =>
  lines(
    'frontends:', //                   1
    '  web:', //                       2
    `    mode: ${mode}`, //            3
    '    listen: "127.0.0.1:0"', //    4
    '    rules: [{ use: app }]', //    5
    'backends:', //                    6
    '  app:', //                       7
    `    mode: ${mode}`, //            8
    ...extra, //                       9…
    '    servers:',
    ...servers,
  );

/** Every error of loading and compiling `text`, as "line:col CODE reason". */
function errorsOf(t, text) {
  const err = t.throws(() => compileProgram(parseConfigText(text, F)), { instanceOf: FlagmanErrors });
  return err.errors.map((e) => `${e.at.line}:${e.at.col} ${e.code} ${e.reason}`);
}

let version = 0;
const snapshot = (values = {}) =>
  makeSnapshot(
    ++version,
    new Map(Object.entries(values).map(([name, value]) => [name, { value, note: null, changedAt: null, problem: null }])),
  );

function runtime(text, values) {
  const program = compileProgram(parseConfigText(text, F));
  const observed = new ObservedState(makeUpstreamPool);
  return { observed, build: (v = values) => buildRuntime(program, snapshot(v), { observed, pages: new PageCache(), generation: 1 }) };
}

test('maxconn takes an integer or a flag() expression; no maxconn, no limit; queue and timeouts.queue load', (t) => {
  const text = config(
    [
      '      a: { address: "127.0.0.1:1", maxconn: 5 }',
      `      b: { address: "127.0.0.1:2", maxconn: 'flag("b.maxconn", 100)' }`,
      '      c: { address: "127.0.0.1:3" }',
    ],
    ['    queue: 20', '    timeouts: { queue: 2s }'],
  );
  const c = parseConfigText(text, F);
  const app = c.backends[0];
  t.is(app.queue, 20);
  t.is(app.timeouts.queue, 2000);
  t.is(c.timeouts.queue, 5000, 'timeouts.queue defaults to 5s');
  t.deepEqual(
    app.servers.map((s) => s.maxconn?.source ?? null),
    ['5', 'flag("b.maxconn", 100)', null],
  );
  const { build } = runtime(text, {});
  const t1 = build({}).targets.get('app');
  t.deepEqual(
    t1.servers.map((s) => s.maxconn),
    [5, 100, 0],
  );
  t.true(t1.limited);
  t.is(t1.queueBound, 20);
});

test('a maxconn expression is folded per flag snapshot, as a weight is; out of range is clamped with a problem', (t) => {
  const text = config([`      a: { address: "127.0.0.1:1", maxconn: 'flag("a.maxconn", 0)' }`]);
  const { build, observed } = runtime(text, {});
  const none = build({});
  t.is(none.targets.get('app').servers[0].maxconn, 0);
  t.false(none.targets.get('app').limited, 'no server with a maxconn: the backend runs no queue code');
  const tight = build({ 'a.maxconn': 2 });
  t.is(tight.targets.get('app').servers[0].maxconn, 2);
  t.true(tight.targets.get('app').limited);
  t.deepEqual(tight.problems, []);
  t.is(tight.targets.get('app').queue, none.targets.get('app').queue, 'one queue per backend name, whatever the runtime');
  t.is(tight.targets.get('app').queue, observed.queue('app'));
  const negative = build({ 'a.maxconn': -3 });
  t.is(negative.targets.get('app').servers[0].maxconn, 0);
  t.deepEqual(negative.problems, ['backend app, server a: the maxconn is -3, below 0: using 0 (no limit)']);
  const huge = build({ 'a.maxconn': 2_000_000 });
  t.is(huge.targets.get('app').servers[0].maxconn, 1_000_000);
  t.regex(huge.problems[0], /above 1000000: using 1000000/);
});

test('a maxconn that cannot be computed is no limit, with a problem', (t) => {
  const { build } = runtime(config([`      a: { address: "127.0.0.1:1", maxconn: '100 / flag("a.split")' }`]), {});
  const r = build({});
  t.is(r.targets.get('app').servers[0].maxconn, 0);
  t.regex(r.problems[0], /the maxconn could not be computed \(division by zero\): using 0 \(no limit\)/);
  t.is(build({ 'a.split': 4 }).targets.get('app').servers[0].maxconn, 25);
});

test('a negative or fractional maxconn, or one of the wrong kind, is an error at its value', (t) => {
  const got = errorsOf(
    t,
    config([
      '      a: { address: "127.0.0.1:1", maxconn: -1 }',
      '      b: { address: "127.0.0.1:2", maxconn: 2.5 }',
      '      c: { address: "127.0.0.1:3", maxconn: true }',
      '      d: { address: "127.0.0.1:4", maxconn: 1000001 }',
    ]),
  );
  t.deepEqual(got, [
    '10:45 CONFIG_SCHEMA backends.app.servers.a.maxconn: must be from 0 to 1000000, not -1',
    '11:45 CONFIG_SCHEMA backends.app.servers.b.maxconn: expected a whole number from 0 to 1000000, got the number 2.5',
    '12:45 CONFIG_SCHEMA backends.app.servers.c.maxconn: expected an integer 0–1000000 or an expression such as flag("app1.maxconn", 100), got true',
    '13:45 CONFIG_SCHEMA backends.app.servers.d.maxconn: must be from 0 to 1000000, not 1000001',
  ]);
});

test('a maxconn expression that is not an int, or reads the request, is an error at the character', (t) => {
  const got = errorsOf(
    t,
    config([
      `      a: { address: "127.0.0.1:1", maxconn: 'flag("a.maxconn") > 1' }`,
      `      b: { address: "127.0.0.1:2", maxconn: 'request.path == "/" ? 1 : 2' }`,
      `      c: { address: "127.0.0.1:3", maxconn: 'nope' }`,
      `      d: { address: "127.0.0.1:4", maxconn: '"5"' }`,
    ]),
  );
  t.deepEqual(got, [
    '10:46 CONFIG_EXPR a maxconn must be an int, but this expression is bool',
    "11:46 CONFIG_EXPR a maxconn may use flag() and constants only, not 'request': a maxconn is recomputed when a flag changes, never per request",
    '12:46 CONFIG_EXPR type error: Unknown variable: nope',
    '13:46 CONFIG_EXPR a maxconn must be an int, but this expression is string',
  ]);
});

test('queue and timeouts.queue: a negative bound, a zero timeout; a tcp backend takes both', (t) => {
  const got = errorsOf(t, config(['      a: { address: "127.0.0.1:1" }'], ['    queue: -1', '    timeouts: { queue: 0s }']));
  t.deepEqual(got, [
    '9:12 CONFIG_SCHEMA backends.app.queue: must be from 0 to 1000000, not -1',
    '10:24 CONFIG_SCHEMA backends.app.timeouts.queue: must be more than 0, not 0s',
  ]);
  const tcp = parseConfigText(
    config(['      a: { address: "127.0.0.1:1", maxconn: 1 }'], ['    queue: 0', '    timeouts: { queue: 250ms }'], 'tcp'),
    F,
  );
  t.like(tcp.backends[0], { mode: 'tcp', queue: 0 });
  t.is(tcp.backends[0].timeouts.queue, 250);
});

test('queue belongs to a backend with servers', (t) => {
  const text = lines(
    'frontends:',
    '  web: { listen: "127.0.0.1:0", rules: [{ use: m }] }',
    'backends:',
    '  m:',
    '    queue: 5',
    '    respond: { status: 503 }',
  );
  t.deepEqual(errorsOf(t, text), ['5:5 CONFIG_SCHEMA backends.m.queue: only a backend with servers takes queue']);
});
