// The differential property over rule folding (src/expr/specialize.ts, source.ts, direct.ts): a
// random expression from the grammar flagman accepts, under random flag snapshots, for random
// requests, evaluated twice:
// - whole, as plain cel-js evaluates the expression the user wrote: the one environment flagman
//   declares (environment.ts), flag() reading the snapshot, `request`/`client`/header()/cookie()
//   reading the request — nothing folded, nothing printed, nothing re-parsed;
// - as the proxy runs it: specialize() for the snapshot (flags substituted, constants folded, the
//   residual printed and parsed again, maybe a closure from direct.ts), then the residual's test()
//   (or key()) per request, or its constant.
// The two must give the same match (a rule's `when`) or the same key (a rate limit's `by`).
//
// Deliberate differences, encoded in check():
// - A condition whose evaluation throws, or gives no bool (behind dyn()), does not match in flagman
//   (the request goes on to the next rule): cel-js's error is flagman's `false`, counted as a
//   failure. So the outcome compared is (match, failed), and where both fail, the error's code when
//   both are cel-js errors: the folded residual must fail for the same reason as the whole.
// - A condition that fails for every request of a snapshot (it reads no request data) is folded to
//   a constant `false` with a `problem`, which must quote cel-js's error (its summary).
// - A key that fails, or gives no string, is "" (every such request is counted under one key).
// - A residual that had to be evaluated whole (`problem` set on a dynamic residual: the printed
//   residual did not parse or check) is still correct, but it is reported here as a disagreement:
//   printing the residual back must not lose anything the parser accepts.
//
// Randomness: flagman's expression grammar has none (no random(), no per-request weights; a weight
// is a flags-only int, evaluated whole, not folded): nothing to pin. Everything here follows the
// fast-check seed.
//
// Expressions that do not compile (an overload cel-js's checker refuses) are skipped and count no
// evaluation; the generator is typed so that they are rare.
//
// Not a test file: scripts/fuzz.js runs it for a while with a printed seed (`npm run fuzz`), and
// test/unit/fuzz-rules.test.js runs it briefly with a fixed seed.
import fc from 'fast-check';
import { compileCondition, compileKey } from '../../dist/expr/compile.js';
import { withFlags } from '../../dist/expr/environment.js';
import { withRequest } from '../../dist/expr/request.js';
import { specialize } from '../../dist/expr/specialize.js';
import { makeSnapshot } from '../../dist/flags/snapshot.js';

const at = { file: 'flagman.yaml', line: 1, col: 1 };

// ---- the property ----

/** The compiled expression of a case, or null when it does not compile; memoized for units() then check(). */
let memo = { c: null, compiled: null };
function compiledOf(c) {
  if (memo.c === c) return memo.compiled;
  let compiled = null;
  try {
    compiled = c.kind === 'key' ? compileKey({ source: c.source, at }) : compileCondition({ source: c.source, at });
  } catch (error) {
    if (error?.code !== 'CONFIG_EXPR') throw error;
  }
  memo = { c, compiled };
  return compiled;
}

let version = 0;
function snapshotOf(flags) {
  const map = new Map();
  for (const [name, f] of Object.entries(flags)) map.set(name, { value: f.value, note: f.note, changedAt: null, problem: null });
  return makeSnapshot(++version, map);
}

/** A fresh RequestInput (derived fields unset) from a case's JSON request. */
function inputOf(r) {
  return {
    method: r.method,
    url: r.url,
    host: r.host ?? undefined,
    scheme: r.scheme,
    clientIp: r.clientIp,
    peer: r.peer,
    headers: { ...r.headers },
    derivedPath: undefined,
    derivedQuery: undefined,
    derivedHost: undefined,
  };
}

const codeOf = (error) =>
  typeof error?.code === 'string' ? error.code : error instanceof TypeError ? 'not-bool' : String(error?.name ?? error);

/** The whole expression, as cel-js evaluates it: { value } or { error }. */
function whole(compiled, snapshot, request) {
  try {
    return { value: withFlags(snapshot, () => withRequest(inputOf(request), (context) => compiled.evaluate(context))) };
  } catch (error) {
    return { error };
  }
}

const show = (x) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));

/** The property: throws with what differs. */
export function check(c) {
  const compiled = compiledOf(c);
  if (compiled === null) return;
  for (const [s, flags] of c.snapshots.entries()) {
    const snapshot = snapshotOf(flags);
    let failure = null;
    const residual = specialize(compiled, snapshot, (error) => (failure = error));
    const where = (r) =>
      `${c.kind} ${c.source}\n  snapshot ${s} ${show(flags)}\n  residual ${residual.kind} ${residual.source}${residual.direct ? ' (direct)' : ''}${residual.problem ? ` problem: ${residual.problem}` : ''}\n  request ${show(r)}`;
    if (residual.kind === 'dynamic' && residual.problem !== null) throw new Error(`the residual is evaluated whole: ${where(null)}`);
    for (const r of c.requests) {
      const want = whole(compiled, snapshot, r);
      if (c.kind === 'key') {
        const expected = want.error === undefined && typeof want.value === 'string' ? want.value : '';
        const got = residual.kind === 'const' ? residual.value : residual.key(inputOf(r));
        if (got !== expected)
          throw new Error(`key ${show(got)}, cel-js ${show(want.error ? `error ${codeOf(want.error)}` : want.value)}: ${where(r)}`);
        continue;
      }
      const wantFailed = want.error !== undefined || typeof want.value !== 'boolean';
      const wantCode = want.error !== undefined ? codeOf(want.error) : wantFailed ? 'not-bool' : null;
      const expected = !wantFailed && want.value;
      let got;
      let gotFailed;
      let gotCode = null;
      if (residual.kind === 'const') {
        got = residual.value;
        gotFailed = residual.problem !== null;
        // The problem quotes the error, the one cel-js gives evaluating the whole.
        const why = want.error?.summary;
        if (gotFailed && typeof why === 'string' && !residual.problem.includes(why))
          throw new Error(`fails otherwise: ${residual.problem}, cel-js: ${why}: ${where(r)}`);
      } else {
        failure = null;
        got = residual.test(inputOf(r));
        gotFailed = failure !== null;
        gotCode = gotFailed ? codeOf(failure) : null;
      }
      const says = `flagman ${got}${gotFailed ? ` (failed${gotCode ? `: ${gotCode}` : ''})` : ''}, cel-js ${wantFailed ? `error ${wantCode}` : show(want.value)}`;
      if (got !== expected || gotFailed !== wantFailed) throw new Error(`${says}: ${where(r)}`);
      if (gotCode !== null && wantCode !== null && gotCode !== wantCode) throw new Error(`fails otherwise, ${says}: ${where(r)}`);
    }
  }
}

/** Evaluations in a case: snapshots × requests (none when it does not compile). */
export function units(c) {
  return compiledOf(c) === null ? 0 : c.snapshots.length * c.requests.length;
}

// ---- generators ----

const pick = (...xs) => fc.constantFrom(...xs);
const FLAGS = ['A', 'B', 'MAINT', 'pct'];

const stringLiteral = pick(
  '',
  '/',
  '/api/',
  '/api',
  'GET',
  'POST',
  'canary',
  'Canary',
  '10.0.0.1',
  'www.example.com',
  'https',
  'x-env',
  '12',
  '-3',
  'a',
  'ab',
  'sid',
  'q="v"',
  'a\\b',
  'é',
  '😀',
  'line\nbreak',
  '\t',
  "it's",
  'ümlaut',
  'İ',
  '\\ud83d\\ude00',
  '\\\\u00e9',
  '\u0001',
  '\u2028',
  '😀😀',
  'a"b',
  '\\',
  '\r\n',
  '\u{10ffff}',
).map((s) => JSON.stringify(s));
const intLiteral = pick(
  '0',
  '1',
  '2',
  '-1',
  '3',
  '7',
  '10',
  '100',
  '256',
  '-100',
  '9223372036854775807',
  '-9223372036854775807',
  '-9223372036854775808',
  '4611686018427387904',
  '9007199254740991',
);
const doubleLiteral = pick(
  '0.5',
  '1.0',
  '-2.5',
  '0.0',
  '1e-10',
  '3.14159',
  '1e300',
  '-0.0',
  '100.0',
  '0.1',
  '0.2',
  '5e-324',
  '1.7976931348623157e308',
  '123456789.125',
);
const regex = pick('^/api', 'canary$', '^[0-9]+$', '.*', '', 'a|b', '^$', '[', '(?i)CANARY', '\\\\d+', 'é').map((s) => JSON.stringify(s));
const cidrBlock = pick(
  '10.0.0.0/8',
  '192.168.0.0/16',
  '0.0.0.0/0',
  '2001:db8::/32',
  '::1/128',
  '::ffff:0:0/96',
  '10.1.2.3',
  'fe80::/10',
).map((s) => JSON.stringify(s));
const headerName = pick(
  'X-Env',
  'x-env',
  'X-ENV',
  'x-n',
  'X-N',
  'cookie',
  'Host',
  'x-absent',
  'X-Forwarded-For',
  '__proto__',
  'Set-Cookie',
).map((s) => JSON.stringify(s));
const cookieName = pick('sid', 'a', '', 'b', 'SID').map((s) => JSON.stringify(s));
const flagName = pick(...FLAGS).map((s) => JSON.stringify(s));

const p = (s) => `(${s})`;

// The string tests rules are made of (the shapes direct.ts runs as closures), on a request field
// with literals that its generated values do and do not start with, end with, contain or equal.
const FIELD_LITERALS = {
  'request.path': ['/', '/api/', '/api', '/api/users', 'users', '/a/b', '/12', 'canary', '/%61pi/'],
  'request.query': ['', 'id=1', 'id', '=1', 'x=1', 'q=%20'],
  'request.host': ['www.example.com', 'example.com', 'www.', 'canary', '[::1]', ''],
  'request.method': ['GET', 'POST', 'get', 'HEAD', 'G', 'T'],
  'request.scheme': ['http', 'https', 's'],
  'client.ip': ['10.1.2.3', '203.0.113.9', '10.', '::ffff:10.1.2.3', '.9'],
  'request.peer': ['10.0.0.1', '::1', '1'],
  'header("X-Env")': ['canary', 'Canary', 'can', 'ary', ''],
  'header("x-n")': ['12', '1', '2', 'abc'],
  'cookie("sid")': ['abc', 'x', 'a', 'c', ''],
};
const stringTest = fc
  .constantFrom(...Object.keys(FIELD_LITERALS))
  .chain((field) =>
    fc.tuple(
      fc.constant(field),
      pick('==', '!=', 'startsWith', 'endsWith', 'contains', 'in'),
      fc.constantFrom(...FIELD_LITERALS[field]).map((l) => JSON.stringify(l)),
      fc.constantFrom(...FIELD_LITERALS[field]).map((l) => JSON.stringify(l)),
    ),
  )
  .map(([field, op, lit, other]) =>
    op === 'in' ? `${field} in [${lit}, ${other}]` : op.length > 2 ? `${field}.${op}(${lit})` : `${field} ${op} ${lit}`,
  );

/** Memoized typed expression arbitraries: expr(type, depth). */
const memoArb = new Map();
function expr(type, depth) {
  const key = `${type}/${depth}`;
  let a = memoArb.get(key);
  if (a === undefined) {
    a = build(type, depth);
    memoArb.set(key, a);
  }
  return a;
}

function leaf(type) {
  switch (type) {
    case 'bool':
      return fc.oneof(
        pick('true', 'false'),
        fc.tuple(flagName, pick('> 0', '== 1', '!= 0', '< 0')).map(([f, t]) => `flag(${f}) ${t}`),
        stringTest,
      );
    case 'int':
      return fc.oneof(
        { weight: 2, arbitrary: intLiteral },
        { weight: 3, arbitrary: flagName.map((f) => `flag(${f})`) },
        { weight: 1, arbitrary: fc.tuple(flagName, intLiteral).map(([f, d]) => `flag(${f}, ${d})`) },
      );
    case 'string':
      return fc.oneof(
        { weight: 2, arbitrary: stringLiteral },
        {
          weight: 4,
          arbitrary: pick('request.method', 'request.path', 'request.query', 'request.host', 'request.scheme', 'request.peer', 'client.ip'),
        },
        { weight: 2, arbitrary: headerName.map((n) => `header(${n})`) },
        { weight: 1, arbitrary: cookieName.map((n) => `cookie(${n})`) },
      );
    case 'double':
      return doubleLiteral;
    default:
      throw new Error(type);
  }
}

const list = (type, depth) => fc.array(expr(type, depth), { minLength: 0, maxLength: 3 }).map((xs) => `[${xs.join(', ')}]`);

function build(type, depth) {
  if (depth <= 0) return leaf(type);
  const b = expr('bool', depth - 1);
  const i = expr('int', depth - 1);
  const s = expr('string', depth - 1);
  const d = expr('double', depth - 1);
  const t = expr(type, depth - 1);
  const bin = (x, ops, y) => fc.tuple(x, pick(...ops), y).map(([l, op, r]) => `${p(l)} ${op} ${p(r)}`);
  const ternary = fc.tuple(b, t, t).map(([c, x, y]) => `${p(c)} ? ${p(x)} : ${p(y)}`);
  const alts = {
    bool: [
      { weight: 4, arbitrary: bin(b, ['&&', '||'], b) },
      { weight: 2, arbitrary: b.map((x) => `!${p(x)}`) },
      { weight: 1, arbitrary: ternary },
      { weight: 3, arbitrary: bin(i, ['==', '!=', '<', '<=', '>', '>='], i) },
      { weight: 4, arbitrary: bin(s, ['==', '!=', '==', '!=', '<', '>='], s) },
      { weight: 1, arbitrary: bin(d, ['==', '<', '>='], d) },
      { weight: 1, arbitrary: bin(b, ['==', '!='], b) },
      { weight: 2, arbitrary: fc.tuple(s, list('string', depth - 1)).map(([x, l]) => `${p(x)} in ${l}`) },
      { weight: 1, arbitrary: fc.tuple(i, list('int', depth - 1)).map(([x, l]) => `${p(x)} in ${l}`) },
      { weight: 3, arbitrary: fc.tuple(s, pick('startsWith', 'endsWith', 'contains'), s).map(([x, m, y]) => `${p(x)}.${m}(${y})`) },
      { weight: 1, arbitrary: fc.tuple(s, regex).map(([x, r]) => `${p(x)}.matches(${r})`) },
      { weight: 2, arbitrary: fc.tuple(cidrBlock, s).map(([blk, x]) => `cidr(${blk}).containsIP(${x})`) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(list('string', depth - 1), pick('exists', 'all', 'exists_one'), s)
          .map(([l, m, x]) => `${l}.${m}(v, v == ${p(x)})`),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(list('int', depth - 1), pick('exists', 'all'), i, b)
          .map(([l, m, x, y]) => `${l}.${m}(n, n > ${p(x)} || ${p(y)})`),
      },
      {
        weight: 1,
        arbitrary: fc.tuple(list('int', depth - 1), i, i).map(([l, x, y]) => `${l}.map(n, n * ${p(x)}).exists(m, m > ${p(y)})`),
      },
      // A comprehension variable named like a request variable: it shadows it in the body.
      {
        weight: 1,
        arbitrary: fc
          .tuple(list('string', depth - 1), pick('client', 'request'), s)
          .map(([l, v, x]) => `${l}.exists(${v}, ${v} == ${p(x)})`),
      },
      // Behind dyn(), the checker lets through what fails at run time (a non-bool operand, a mixed comparison).
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.oneof(b, s, i), pick('&&', '||', '==', '!='), fc.oneof(b, s, i))
          .map(([x, op, y]) => `dyn(${x}) ${op} dyn(${y})`),
      },
      { weight: 1, arbitrary: fc.tuple(fc.oneof(b, s, i), pick('&&', '||'), b).map(([x, op, y]) => `${p(y)} ${op} dyn(${x})`) },
    ],
    int: [
      { weight: 4, arbitrary: bin(i, ['+', '-', '*', '/', '%'], i) },
      { weight: 1, arbitrary: i.map((x) => `-${p(x)}`) },
      { weight: 2, arbitrary: s.map((x) => `size(${x})`) },
      { weight: 1, arbitrary: s.map((x) => `int(${x})`) },
      { weight: 1, arbitrary: d.map((x) => `int(${x})`) },
      { weight: 1, arbitrary: ternary },
      { weight: 1, arbitrary: fc.tuple(flagName, i).map(([f, x]) => `flag(${f}, ${x})`) },
      { weight: 1, arbitrary: fc.tuple(list('int', depth - 1), i).map(([l, x]) => `${l}[${x}]`) },
    ],
    string: [
      { weight: 2, arbitrary: bin(s, ['+'], s) },
      { weight: 2, arbitrary: i.map((x) => `string(${x})`) },
      { weight: 1, arbitrary: b.map((x) => `string(${x})`) },
      { weight: 1, arbitrary: d.map((x) => `string(${x})`) },
      { weight: 2, arbitrary: ternary },
      { weight: 1, arbitrary: s.map((x) => `${p(x)}.lowerAscii()`) },
      { weight: 1, arbitrary: fc.tuple(s, s).map(([k, x]) => `{"a": ${x}, "canary": "c"}[${k}]`) },
      // A name that is not a literal, or a literal only once folded.
      { weight: 1, arbitrary: fc.tuple(pick('header', 'cookie'), s).map(([fn, x]) => `${fn}(${x})`) },
    ],
    double: [
      { weight: 2, arbitrary: bin(d, ['+', '-', '*', '/'], d) },
      { weight: 2, arbitrary: i.map((x) => `double(${x})`) },
      { weight: 1, arbitrary: s.map((x) => `double(${x})`) },
      { weight: 1, arbitrary: ternary },
    ],
  }[type];
  return fc.oneof({ weight: type === 'bool' ? 5 : 3, arbitrary: leaf(type) }, ...alts);
}

/** A flag: unset (no file), unset with a file, or a value; some with a note. */
const flagState = fc.record({
  value: fc.oneof(
    pick(null, 0, 1, -1, 2, 5, 7, 10, 50, 100, 256, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 52),
    fc.integer({ min: -1000, max: 1000 }),
  ),
  note: pick(null, null, 'maintenance window', '50% rollout'),
});
const snapshot = fc.dictionary(pick(...FLAGS), flagState, { maxKeys: FLAGS.length });

const ip = pick(
  '203.0.113.9',
  '10.1.2.3',
  '::ffff:10.1.2.3',
  '::ffff:a00:1',
  '2001:db8::1',
  '::1',
  '192.168.0.1',
  '',
  'junk',
  '010.0.0.1',
  'fe80::1%eth0',
  '10.0.0.1',
);
const headerValue = (name) =>
  ({
    'x-env': pick('canary', 'Canary', '', 'stable', '😀'),
    'x-n': pick('12', '-3', 'abc', '', '9223372036854775808', ' 7', '1e3'),
    cookie: pick('sid=abc; a=1', 'a = 2 ;sid=x', 'sid', '=x', 'b=x=y; SID=up', ''),
    host: pick('www.example.com', 'h.example:8080'),
    'x-forwarded-for': pick('10.0.0.1', '10.0.0.1, 203.0.113.9'),
    // The one header Node gives as an array.
    'set-cookie': pick(['a=1'], ['a=1', 'b=2']),
  })[name];
const headers = fc
  .subarray(['x-env', 'x-n', 'cookie', 'host', 'x-forwarded-for', 'set-cookie'])
  .chain((names) => fc.tuple(...names.map(headerValue)).map((values) => Object.fromEntries(names.map((n, k) => [n, values[k]]))));
const request = fc.record({
  method: pick('GET', 'POST', 'HEAD', 'get', ''),
  url: fc.oneof(
    pick(
      '/',
      '/api/users?id=1',
      '/api',
      '/api/',
      '/a/b?x=1#frag',
      '/users',
      '/canary/api',
      'http://h.example/api/v1',
      '*',
      '',
      '/%61pi/',
      '/?',
      '/canary?q=%20',
      '/12',
    ),
    fc.string({ unit: pick('/', 'a', '?', '#', '=', '&', '%', '1'), maxLength: 8 }),
  ),
  host: pick(null, 'www.example.com', 'WWW.Example.com:8080', '[::1]:8080', '', 'canary'),
  scheme: pick('http', 'https'),
  clientIp: ip,
  peer: ip,
  headers,
});

/** One expression (a rule's condition, or now and then a rate limit's key) × snapshots × requests. */
export const cases = fc
  .record({
    kind: fc.oneof({ weight: 6, arbitrary: fc.constant('condition') }, { weight: 1, arbitrary: fc.constant('key') }),
    depth: fc.integer({ min: 1, max: 4 }),
  })
  .chain(({ kind, depth }) =>
    fc.record({
      kind: fc.constant(kind),
      source: expr(kind === 'key' ? 'string' : 'bool', depth),
      snapshots: fc.array(snapshot, { minLength: 1, maxLength: 4 }),
      requests: fc.array(request, { minLength: 1, maxLength: 6 }),
    }),
  );

/** The target scripts/fuzz.js runs. */
export const target = {
  name: 'rules',
  what: 'folded rules vs cel-js',
  cases,
  check,
  units,
  unit: 'evaluations',
};
