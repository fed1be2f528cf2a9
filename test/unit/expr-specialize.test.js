// specialize(): flags substituted, constants folded, the residual tested per request. One table of
// expression × flags × request → match, then the folding, error and weight rules one by one.
import test from 'ava';
import { compileCondition, compileWeight } from '../../dist/expr/compile.js';
import { evaluationFailures, specialize } from '../../dist/expr/specialize.js';
import { requestInput } from '../../dist/expr/environment.js';
import { makeSnapshot } from '../../dist/flags/snapshot.js';

const at = { file: 'flagman.yaml', line: 1, col: 1 };
const condition = (source) => compileCondition({ source, at });
const weight = (source) => compileWeight({ source, at });

let version = 0;
/** A snapshot from `{NAME: value}`; null means a flag file with no good value (unset). */
function flags(values = {}) {
  const map = new Map();
  for (const [name, value] of Object.entries(values)) map.set(name, { value, note: null, changedAt: null, problem: null });
  return makeSnapshot(++version, map);
}

/** A RequestInput with defaults; `headers` use Node's lowercase names. */
function req(over = {}) {
  return {
    method: 'GET',
    url: '/',
    host: 'www.example.com',
    scheme: 'http',
    clientIp: '203.0.113.9',
    peer: '203.0.113.9',
    headers: {},
    ...over,
  };
}

/** Whether `source` matches `request` under `values`, through the residual as the proxy runs it. */
function matches(source, values, request) {
  const residual = specialize(condition(source), flags(values));
  return residual.kind === 'const' ? residual.value : residual.test(request);
}

const MAINT = 'flag("MAINT") > 0 && !cidr("10.0.0.0/8").containsIP(client.ip)';
const API = 'request.path.startsWith("/api/")';

// [expression, flags, request, expected match]
const table = [
  // the README's maintenance rule
  [MAINT, {}, req({ clientIp: '203.0.113.9' }), false],
  [MAINT, { MAINT: 0 }, req({ clientIp: '203.0.113.9' }), false],
  [MAINT, { MAINT: 1 }, req({ clientIp: '203.0.113.9' }), true],
  [MAINT, { MAINT: 1 }, req({ clientIp: '10.1.2.3' }), false],
  [MAINT, { MAINT: 1 }, req({ clientIp: '::ffff:10.1.2.3' }), false], // dual-stack socket
  [MAINT, { MAINT: 1 }, req({ clientIp: '::ffff:192.0.2.1' }), true],
  [MAINT, { MAINT: 1 }, req({ clientIp: '2001:db8::1' }), true],
  [MAINT, { MAINT: -1 }, req(), false],
  [MAINT, { MAINT: null }, req(), false], // file present, never a good value: unset
  // the api rule of the explain example (docs/cli.md)
  [API, {}, req({ url: '/api/users?id=1' }), true],
  [API, {}, req({ url: '/api' }), false],
  [API, {}, req({ url: '/apix/' }), false],
  [API, {}, req({ url: 'http://h.example/api/v1' }), true], // absolute-form request target
  [API, {}, req({ url: '/%61pi/' }), false], // raw, not decoded
  // request fields
  ['request.path == "/a/b"', {}, req({ url: '/a/b?x=1#frag' }), true],
  ['request.query == "x=1&y=%20"', {}, req({ url: '/a?x=1&y=%20' }), true],
  ['request.query == ""', {}, req({ url: '/a' }), true],
  ['request.query == ""', {}, req({ url: '/a?' }), true],
  ['request.path == "/"', {}, req({ url: 'http://h.example' }), true],
  ['request.host == "www.example.com"', {}, req({ host: 'WWW.Example.com:8080' }), true],
  ['request.host == "[::1]"', {}, req({ host: '[::1]:8080' }), true],
  ['request.host == ""', {}, req({ host: undefined }), true],
  ['request.method == "POST" && request.scheme == "https"', {}, req({ method: 'POST', scheme: 'https' }), true],
  ['request.method == "POST" && request.scheme == "https"', {}, req({ method: 'POST' }), false],
  // request.peer: the connection's address; client.ip the client a trusted proxy named
  ['request.peer == "10.0.0.5" && client.ip == "198.51.100.9"', {}, req({ peer: '10.0.0.5', clientIp: '198.51.100.9' }), true],
  ['cidr("10.0.0.0/8").containsIP(request.peer)', {}, req(), false],
  // header(): case-insensitive names, "" when absent, repeated values joined
  ['header("X-Env") == "canary"', {}, req({ headers: { 'x-env': 'canary' } }), true],
  ['header("x-env") == "canary"', {}, req({ headers: { 'x-env': 'canary' } }), true],
  ['header("X-ENV") == "Canary"', {}, req({ headers: { 'x-env': 'canary' } }), false], // values are case-sensitive
  ['header("X-Env") == ""', {}, req(), true],
  ['header("X-Forwarded-For") == "a, b"', {}, req({ headers: { 'x-forwarded-for': ['a', 'b'] } }), true],
  ['header("__proto__") == "" && header("constructor") == ""', {}, req(), true],
  ['header("x-a" + "") == "1"', {}, req({ headers: { 'x-a': '1' } }), true],
  ['header(request.path.substring(1)) == "1"', {}, req({ url: '/X-A', headers: { 'x-a': '1' } }), true], // non-literal name
  // cookie()
  ['cookie("sid") == "abc"', {}, req({ headers: { cookie: 'a=1; sid=abc; b=2' } }), true],
  ['cookie("sid") == "abc"', {}, req({ headers: { cookie: 'sid=abc' } }), true],
  ['cookie("sid") == "abc"', {}, req({ headers: { cookie: ' sid = abc ;x=y' } }), true],
  ['cookie("sid") == "first"', {}, req({ headers: { cookie: 'sid=first; sid=second' } }), true],
  ['cookie("sid") == ""', {}, req({ headers: { cookie: 'xsid=1; sidx=2; sid' } }), true],
  ['cookie("sid") == ""', {}, req(), true],
  ['cookie("b") == "x=y"', {}, req({ headers: { cookie: 'a=1;b=x=y' } }), true],
  ['cookie("q") == "\\"v\\""', {}, req({ headers: { cookie: 'q="v"' } }), true], // raw: quotes kept
  ['cookie("") == ""', {}, req({ headers: { cookie: '=x' } }), true],
  // cidr(): v4, v6, v4-mapped both ways, prefix edges
  ['cidr("192.168.0.0/16").containsIP(client.ip)', {}, req({ clientIp: '192.168.255.255' }), true],
  ['cidr("192.168.0.0/16").containsIP(client.ip)', {}, req({ clientIp: '192.169.0.0' }), false],
  ['cidr("0.0.0.0/0").containsIP(client.ip)', {}, req({ clientIp: '1.2.3.4' }), true],
  ['cidr("0.0.0.0/0").containsIP(client.ip)', {}, req({ clientIp: '::1' }), false],
  ['cidr("255.255.255.255/32").containsIP(client.ip)', {}, req({ clientIp: '255.255.255.255' }), true],
  ['cidr("10.1.2.3").containsIP(client.ip)', {}, req({ clientIp: '10.1.2.3' }), true],
  ['cidr("10.1.2.3").containsIP(client.ip)', {}, req({ clientIp: '10.1.2.4' }), false],
  ['cidr("10.0.0.0/8").containsIP(client.ip)', {}, req({ clientIp: '::FFFF:10.0.0.1' }), true],
  ['cidr("10.0.0.0/8").containsIP(client.ip)', {}, req({ clientIp: '::ffff:a00:1' }), true], // mapped, hex form
  ['cidr("10.0.0.0/8").containsIP(client.ip)', {}, req({ clientIp: '::10.0.0.1' }), false], // compatible, not mapped
  ['cidr("2001:db8::/32").containsIP(client.ip)', {}, req({ clientIp: '2001:db8:ffff::1' }), true],
  ['cidr("2001:db8::/32").containsIP(client.ip)', {}, req({ clientIp: '2001:db9::1' }), false],
  ['cidr("2001:db8::/32").containsIP(client.ip)', {}, req({ clientIp: '10.0.0.1' }), false],
  ['cidr("fe80::/10").containsIP(client.ip)', {}, req({ clientIp: 'fe80::1%eth0' }), true],
  ['cidr("fe80::/10").containsIP(client.ip)', {}, req({ clientIp: 'febf::1' }), true],
  ['cidr("fe80::/10").containsIP(client.ip)', {}, req({ clientIp: 'fec0::1' }), false],
  ['cidr("::1/128").containsIP(client.ip)', {}, req({ clientIp: '::1' }), true],
  ['cidr("::1/128").containsIP(client.ip)', {}, req({ clientIp: '0:0:0:0:0:0:0:1' }), true],
  ['cidr("::ffff:0:0/96").containsIP(client.ip)', {}, req({ clientIp: '10.0.0.1' }), true], // v4 seen as mapped
  ['cidr("10.0.0.0/8").containsIP(header("x-real-ip"))', {}, req({ headers: { 'x-real-ip': 'junk' } }), false],
  ['cidr("10.0.0.0/8").containsIP(header("x-real-ip"))', {}, req(), false],
  // flag defaults and arithmetic
  ['flag("pct", 100) > 50 && request.method == "GET"', {}, req(), true],
  ['flag("pct", 100) > 50 && request.method == "GET"', { pct: 10 }, req(), false],
  ['flag("a") + flag("b") == 3 || request.path == "/x"', { a: 1, b: 2 }, req(), true],
  ['flag("a") + flag("b") == 3 || request.path == "/x"', { a: 1 }, req({ url: '/x' }), true],
  ['flag("mode") == 2 ? request.path == "/two" : request.path == "/other"', { mode: 2 }, req({ url: '/two' }), true],
  ['flag("mode") == 2 ? request.path == "/two" : request.path == "/other"', {}, req({ url: '/two' }), false],
  ['flag("x", flag("y", 7)) == 7 && request.method == "GET"', {}, req(), true],
  ['flag("x", flag("y", 7)) == 7 && request.method == "GET"', { y: 1 }, req(), false],
  ['flag("x") - (1 - request.path.size()) > 3', { x: 3 }, req({ url: '/ab' }), true], // 3 - (1 - 3) = 5
  ['flag("x") - (1 - request.path.size()) > 5', { x: 3 }, req({ url: '/ab' }), false],
];

for (const [i, [source, values, request, expected]] of table.entries()) {
  const what = `${source} | flags ${JSON.stringify(values)} | ${JSON.stringify({ ...request, headers: undefined, scheme: undefined })} ${JSON.stringify(request.headers)}`;
  test(`#${i} ${expected ? 'matches' : 'no match'}: ${what}`, (t) => {
    t.is(matches(source, values, request), expected);
  });
}

// [expression, flags, expected residual: a constant, or the residual source]
const folding = [
  [MAINT, { MAINT: 0 }, false],
  [MAINT, {}, false],
  [MAINT, { MAINT: 1 }, '!cidr("10.0.0.0/8").containsIP(client.ip)'],
  [API, {}, API],
  ['flag("A") > 0 || request.path == "/"', { A: 1 }, true],
  ['flag("A") > 0 || request.path == "/"', {}, 'request.path == "/"'],
  ['request.path == "/" && flag("A") > 0', {}, false], // `x && false` is false whatever x is
  ['request.path == "/" || !(flag("A") > 0)', {}, true],
  ['flag("A") == 1 ? request.path == "/a" : false', { A: 2 }, false],
  ['flag("A") == 1 ? request.path == "/a" : false', { A: 1 }, 'request.path == "/a"'],
  ['request.path == "/" ? flag("A") > 0 : flag("B") > 0', { B: 1 }, 'request.path == "/" ? false : true'],
  ['request.path.size() > flag("n") * 2 + 1', { n: 3 }, 'request.path.size() > 7'],
  ['header("X-Env") == "canary" && flag("canary", 1) > 0', {}, 'header("x-env") == "canary"'],
  ['[1, 2].exists(x, x == flag("A")) && request.path == "/"', { A: 2 }, 'request.path == "/"'],
  ['[1, 2].exists(x, x == flag("A") && request.path == "/")', { A: 2 }, '[1, 2].exists(x, x == 2 && request.path == "/")'],
  ['request.path == "/😀" || flag("A") > 0', {}, 'request.path == "/\\U0001f600"'],
  ['double(request.path.size()) > 1e-10 || flag("A") > 0', {}, 'double(request.path.size()) > double("1e-10")'],
  ['flag("A") > 0', { A: 5 }, true],
  ['true', {}, true],
  // Parentheses cel-js's own serialize() would drop, changing the meaning.
  ['flag("x") - (1 - request.path.size()) > 0', { x: 3 }, '3 - (1 - request.path.size()) > 0'],
  ['flag("x") % (request.path.size() * 2) == 1', { x: 3 }, '3 % (request.path.size() * 2) == 1'],
  ['(request.path == "/") == (flag("x") == 3)', { x: 3 }, '(request.path == "/") == true'],
  ['-(request.path.size() + flag("x")) < 0', { x: 3 }, '-(request.path.size() + 3) < 0'],
  ['request.path.size() + -flag("x") < 0', { x: 3 }, 'request.path.size() + -3 < 0'],
  ['(flag("x") > 0 ? request.path : "q").size() == 1', { x: 3 }, 'request.path.size() == 1'],
  ['(request.path.size() > 1 ? 1 : 2) + flag("x") == 4', { x: 3 }, '(request.path.size() > 1 ? 1 : 2) + 3 == 4'],
  ['double(request.path.size()) * -1.5 < 0.5 + double(flag("x"))', { x: 3 }, 'double(request.path.size()) * -1.5 < 3.5'],
  // -0.0 keeps its sign: 1.0 / -0.0 is -infinity
  ['1.0 / (request.path == "/" ? 0.5 : -0.0 * double(flag("x"))) < 0.0', { x: 3 }, '1.0 / (request.path == "/" ? 0.5 : -0.0) < 0.0'],
];

for (const [source, values, expected] of folding) {
  test(`folds ${source} with ${JSON.stringify(values)} to ${JSON.stringify(expected)}`, (t) => {
    const residual = specialize(condition(source), flags(values));
    t.is(residual.problem, null);
    if (typeof expected === 'boolean') {
      t.deepEqual(residual, { kind: 'const', value: expected, source: String(expected), problem: null });
    } else {
      t.is(residual.kind, 'dynamic');
      t.is(residual.source, expected);
    }
    t.true(Object.isFrozen(residual));
  });
}

test('the residual test works detached from its object, as the runtime stores it', (t) => {
  const { test: detached } = specialize(condition(API), flags());
  t.true(detached(req({ url: '/api/x' })));
  t.false(detached(req({ url: '/' })));
});

test('lazily derived fields do not leak from one request to the next', (t) => {
  const r = specialize(condition('request.path == "/a" && request.host == "a.example"'), flags());
  t.true(r.test(req({ url: '/a', host: 'a.example' })));
  t.false(r.test(req({ url: '/b', host: 'a.example' })));
  t.false(r.test(req({ url: '/a', host: 'b.example' })));
});

test('a condition that throws per request does not match, and is counted and reported', (t) => {
  const seen = [];
  const compiled = condition('request.path == "/" || 100 / size(request.query) > 1');
  const r = specialize(compiled, flags(), (error, which) => seen.push([error.summary, which]));
  const before = evaluationFailures();
  t.true(r.test(req({ url: '/' }))); // short-circuits before the division
  t.false(r.test(req({ url: '/x' }))); // division by zero
  t.true(r.test(req({ url: '/x?a' })));
  t.is(evaluationFailures(), before + 1);
  t.deepEqual(seen, [['division by zero', compiled]]);
});

test('an int overflow at run time counts as not matching', (t) => {
  const r = specialize(condition('request.path.size() * 9223372036854775807 > 0'), flags());
  const before = evaluationFailures();
  t.false(r.test(req({ url: '/ab' })));
  t.is(evaluationFailures(), before + 1);
});

test('a throwing error handler does not break the request', (t) => {
  const r = specialize(condition('1 / size(request.query) == 1'), flags(), () => {
    throw new Error('handler bug');
  });
  t.false(r.test(req()));
});

test('a condition that fails for every request folds to false with a problem', (t) => {
  const r = specialize(condition('100 / flag("N") > 1'), flags());
  t.is(r.kind, 'const');
  t.is(r.value, false);
  t.regex(r.problem, /division by zero/);
  t.deepEqual(specialize(condition('100 / flag("N") > 1'), flags({ N: 2 })), { kind: 'const', value: true, source: 'true', problem: null });
});

// Folding agrees with cel-js evaluating the whole expression (test/fuzz/rules.js found these).

test('`false ||` and `true &&` fold away only before a bool: behind dyn() the operand is still checked', (t) => {
  // cel-js: `false || "canary"` fails (no bool), so the rule does not match, whatever `==` says.
  const source = '(flag("A") > 0 || dyn(header("X-Env"))) == dyn(header("X-Env"))';
  const before = evaluationFailures();
  t.false(matches(source, { A: 0 }, req({ headers: { 'x-env': 'canary' } })));
  t.is(evaluationFailures(), before + 1);
  t.false(matches('(flag("A") > 0 && dyn(header("X-Env"))) == dyn(header("X-Env"))', { A: 1 }, req({ headers: { 'x-env': 'canary' } })));
  // Before a bool the neutral operand still goes.
  t.is(specialize(condition('flag("A") > 0 || header("X-Env") == "canary"'), flags()).source, 'header("x-env") == "canary"');
});

test('a folded constant behind dyn() stays dyn: the residual still type-checks', (t) => {
  const r = specialize(condition('header("X-Env") == "canary" || dyn(flag("pct"))'), flags({ pct: 100 }));
  t.is(r.problem, null);
  t.is(r.source, 'header("x-env") == "canary" || dyn(100)');
  t.true(r.test(req({ headers: { 'x-env': 'canary' } })));
  t.false(r.test(req()));
  // A dyn(true) still folds `&&` away.
  t.is(specialize(condition('dyn(flag("A") > 0) && request.path == "/"'), flags({ A: 1 })).source, 'request.path == "/"');
});

test('a folded -0.0 keeps its sign', (t) => {
  t.true(matches('1.0 / (request.path == "/" ? 0.5 : -0.0 * double(flag("x"))) < 0.0', { x: 3 }, req({ url: '/x' })));
});

test("a ternary folded to a branch the checker typed otherwise keeps the ternary's type: the residual still type-checks", (t) => {
  const r = specialize(condition('[1][flag("A") > 2 ? [][0] : request.path.size()] == 1'), flags({ A: 3 }));
  t.is(r.problem, null);
  t.is(r.source, '[1][true ? [][0] : request.path.size()] == 1');
  const before = evaluationFailures();
  t.false(r.test(req())); // index out of bounds, as cel-js says of the whole
  t.is(evaluationFailures(), before + 1);
});

test('an unset flag whose default the checker typed otherwise than int keeps its call: the residual still type-checks', (t) => {
  const r = specialize(condition('request.path.size() in [1, flag("A", [][flag("B")])]'), flags());
  t.is(r.problem, null);
  t.is(r.source, 'request.path.size() in [1, flag("A", [][0])]');
  const before = evaluationFailures();
  t.false(r.test(req())); // index out of bounds, as cel-js says of the whole
  t.is(evaluationFailures(), before + 1);
});

test('flag() with a default that reads the request gives the flag when it is set', (t) => {
  const source = 'flag("pct", request.path.size()) == 5';
  t.true(matches(source, { pct: 5 }, req({ url: '/a' })));
  t.false(matches(source, {}, req({ url: '/a' })));
  t.true(matches(source, {}, req({ url: '/abcd' })));
  t.false(matches(source, { pct: 4 }, req({ url: '/abcd' })));
});

test('flag() evaluates its default as cel-js does, set or not: a default that fails fails the rule', (t) => {
  // As a weight, evaluated whole by cel-js, does: `flag("W", 1 / flag("Z"))` fails with W set too.
  const r = specialize(condition('flag("pct", 1 / flag("zero")) > 0'), flags({ pct: 1 }));
  t.is(r.kind, 'const');
  t.false(r.value);
  t.regex(r.problem, /division by zero/);
  // `error && false` is false in CEL, `error && true` an error.
  const before = evaluationFailures();
  t.false(matches('flag("pct", 1 / flag("zero")) > 0 && request.path == "/"', { pct: 1 }, req({ url: '/x' })));
  t.is(evaluationFailures(), before);
  t.false(matches('flag("pct", 1 / flag("zero")) > 0 && request.path == "/"', { pct: 1 }, req({ url: '/' })));
  t.is(evaluationFailures(), before + 1);
  t.is(specialize(weight('flag("W", 1 / flag("Z"))'), flags({ W: 5 })).value, 1);
  // Inside a comprehension, where the default reads its variable: the flag's value when set.
  t.true(matches('[1, 2].exists(n, flag("A", n) == 7 && request.path == "/")', { A: 7 }, req()));
  t.true(matches('[1, 2].exists(n, flag("A", n) == 2 && request.path == "/")', {}, req()));
  t.false(matches('[0].exists(n, flag("A", 1 / n) == 7 && request.path == "/")', { A: 7 }, req()));
});

// [expression, flags, expected value, expected problem]
const weights = [
  ['flag("app2.weight", 1)', {}, 1, null],
  ['flag("app2.weight", 1)', { 'app2.weight': 0 }, 0, null],
  ['flag("app2.weight", 1)', { 'app2.weight': 5 }, 5, null],
  ['flag("app2.weight", 1)', { 'app2.weight': 256 }, 256, null],
  ['flag("app2.weight", 1)', { 'app2.weight': 257 }, 256, /257, above 256: using 256/],
  ['flag("app2.weight", 1)', { 'app2.weight': -3 }, 0, /-3, below 0: using 0/],
  ['flag("app2.weight", 1)', { 'app2.weight': null }, 1, null],
  ['flag("app2.weight", 1)', { 'app2.weight': Number.MAX_SAFE_INTEGER }, 256, /above 256/],
  ['3', {}, 3, null],
  ['flag("DRAIN") > 0 ? 0 : 10', { DRAIN: 1 }, 0, null],
  ['flag("DRAIN") > 0 ? 0 : 10', {}, 10, null],
  ['100 / flag("split", 4)', {}, 25, null],
  ['100 / flag("split")', {}, 1, /could not be computed \(division by zero\): using 1/],
  ['flag("a") * flag("b")', { a: 2 ** 40, b: 2 ** 40 }, 1, /could not be computed/], // int64 overflow
];

for (const [source, values, value, problem] of weights) {
  test(`weight ${source} with ${JSON.stringify(values)} is ${value}`, (t) => {
    const r = specialize(weight(source), flags(values));
    t.is(r.kind, 'const');
    t.is(r.value, value);
    t.is(r.source, String(value));
    if (problem === null) t.is(r.problem, null);
    else t.regex(r.problem, problem);
  });
}

test('requestInput reads what it needs from an IncomingMessage', (t) => {
  const headers = { host: 'a.example:81', 'x-env': 'canary' };
  const input = requestInput(
    { method: 'PUT', url: '/p?q', headers },
    { clientIp: '2001:db8::9', peer: '::1', scheme: 'https', forwardedHost: null },
  );
  // The derived fields start empty and are filled in by the first rule that reads them.
  t.deepEqual(input, {
    method: 'PUT',
    url: '/p?q',
    host: 'a.example:81',
    scheme: 'https',
    clientIp: '2001:db8::9',
    peer: '::1',
    headers,
    derivedPath: undefined,
    derivedQuery: undefined,
    derivedHost: undefined,
  });
  const r = specialize(condition('request.host == "a.example" && header("X-Env") == "canary" && request.query == "q"'), flags());
  t.true(r.test(input));
  // A trusted proxy's X-Forwarded-Host, as the proxy decided it (forwarded.ts), is request.host.
  const behind = requestInput(
    { method: 'GET', url: '/', headers },
    { clientIp: '2001:db8::9', peer: '::1', scheme: 'http', forwardedHost: 'Shop.Example:443' },
  );
  t.is(behind.host, 'Shop.Example:443');
  t.true(specialize(condition('request.host == "shop.example" && request.scheme == "http"'), flags()).test(behind));
});

test('a residual is made once per combination of the values of the flags its expression names, and kept', (t) => {
  const c = condition('flag("MAINT") > 0 && request.path.startsWith("/shop") || flag("CANARY", 0) == 2 && header("X-Beta") == "1"');
  const first = specialize(c, flags({ MAINT: 1, CANARY: 0, OTHER: 1 }));
  t.is(first.kind, 'dynamic');
  // Another flag, or the same values in a later snapshot: the very same residual.
  t.is(specialize(c, flags({ MAINT: 1, CANARY: 0, OTHER: 2 })), first);
  t.is(specialize(c, flags({ MAINT: 1, CANARY: 0 })), first);
  // CANARY unset is not CANARY 0 to the cache (the default happens to agree; the key does not guess).
  const unset = specialize(c, flags({ MAINT: 1 }));
  t.not(unset, first);
  t.true(unset.test(req({ url: '/shop/cart' })));
  // Values flipping back and forth find their earlier residuals, each still answering for its own values.
  const canary = specialize(c, flags({ MAINT: 0, CANARY: 2 }));
  t.is(specialize(c, flags({ MAINT: 1, CANARY: 0 })), first);
  t.is(specialize(c, flags({ MAINT: 0, CANARY: 2 })), canary);
  t.false(canary.test(req({ url: '/shop/cart' })), 'MAINT 0: the shop clause is folded away');
  t.true(canary.test(req({ headers: { 'x-beta': '1' } })));
  t.true(first.test(req({ url: '/shop/cart' })));
  t.false(first.test(req({ headers: { 'x-beta': '1' } })), 'CANARY 0: the beta clause is folded away');
  // A constant folds the same way.
  const off = specialize(c, flags({ MAINT: 0, CANARY: 0 }));
  t.deepEqual([off.kind, off.value], ['const', false]);
  t.is(specialize(c, flags({ MAINT: 0, CANARY: 0, OTHER: 3 })), off);
});

test('more combinations than the cache keeps: the oldest is made again, and still right', (t) => {
  const c = condition('flag("N") > 4 && request.path == "/x"');
  const seen = new Map();
  for (let n = 0; n < 12; n++) seen.set(n, specialize(c, flags({ N: n })));
  t.not(specialize(c, flags({ N: 0 })), seen.get(0), 'N 0 fell out after 8 newer ones');
  t.is(specialize(c, flags({ N: 11 })), seen.get(11));
  for (let n = 0; n < 12; n++) {
    const r = specialize(c, flags({ N: n }));
    t.is(r.kind === 'const' ? r.value : r.test(req({ url: '/x' })), n > 4, `N ${n}`);
  }
});
