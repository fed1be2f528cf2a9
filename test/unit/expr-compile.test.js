// compileCondition / compileWeight: what is accepted, and for what is not, the CONFIG_EXPR error
// and the exact file:line:col of the offending character.
import test from 'ava';
import { compileCondition, compileWeight } from '../../dist/expr/compile.js';
import { FlagmanError } from '../../dist/errors.js';

// The expression starts at line 7, column 13 of the config file, as in `    - when: <expr>`.
const at = { file: '/etc/flagman.yaml', line: 7, col: 13 };
const src = (source, where = at) => ({ source, at: where });

/** Asserts a CONFIG_EXPR error at column `col` (line 7 unless given) whose reason matches `reason`. */
function rejects(t, compile, source, { col, line = 7, reason }) {
  const error = t.throws(() => compile(src(source)), { instanceOf: FlagmanError });
  t.is(error.code, 'CONFIG_EXPR');
  t.deepEqual(error.at, { file: at.file, line, col }, `position of ${source}`);
  t.regex(error.reason, reason);
  t.true(error.message.startsWith(`${at.file}:${line}:${col}: `));
}

const conditionErrors = [
  // [title, source, offset of the offending character, reason]
  ['syntax: dangling operator', 'request.path == ', 16, /^syntax error: Unexpected token: EOF/],
  ['syntax: unclosed string', 'request.path == "/api', 16, /^syntax error: /],
  ['syntax: stray character', 'flag("MAINT") > 0 ) ', 18, /^syntax error: /],
  ['unknown function', 'request.path == "/" && nosuch("x")', 23, /unknown function 'nosuch\(\)'/],
  ['unknown method', 'request.path.beginsWith("/api")', 13, /unknown method 'beginsWith\(\)'/],
  ['unknown variable', 'reqest.path == "/"', 0, /^type error: Unknown variable: reqest/],
  ['unknown field', 'request.url == "/"', 8, /^type error: No such key: url/],
  ['type: string == int', 'request.path == 1', 0, /^type error: no such overload: string == int/],
  ['type: int condition', 'flag("MAINT")', 0, /must be bool, but this expression is int/],
  ['type: string condition', 'header("x-env")', 0, /must be bool, but this expression is string/],
  ['type: flag name not a string', 'flag(1) > 0', 5, /flag\(\) needs the flag name as a string literal/],
  ['non-literal flag name', 'flag(request.path) > 0', 5, /flag\(\) needs the flag name as a string literal/],
  ['non-literal flag name (concatenation)', 'flag("A" + "B") > 0', 5, /string literal/],
  ['invalid flag name: digit first', 'flag("9lives") > 0', 5, /flag\("9lives"\): not a valid flag name/],
  ['invalid flag name: slash', 'flag("a/b") > 0', 5, /not a valid flag name/],
  ['invalid flag name: empty', 'flag("") > 0', 5, /not a valid flag name/],
  ['flag default of the wrong type', 'flag("MAINT", "1") > 0', 0, /^type error: found no matching overload for 'flag\(string, string\)'/],
  ['non-literal cidr', 'cidr(request.host).containsIP(client.ip)', 5, /^cidr\(\) needs a string literal/],
  ['invalid cidr', '!cidr("10.0.0.0/33").containsIP(client.ip)', 6, /^cidr\("10.0.0.0\/33"\): an IPv4 prefix length is at most 32/],
  ['invalid cidr address', 'cidr("10.0.0/8").containsIP(client.ip)', 5, /not an IPv4 or IPv6 address/],
  ['containsIP of an int', 'cidr("::1/128").containsIP(1)', 0, /^type error: found no matching overload/],
];

for (const [title, source, offset, reason] of conditionErrors) {
  test(`condition error: ${title}`, (t) => rejects(t, compileCondition, source, { col: at.col + offset, reason }));
}

test('an error on a later line of a block scalar names that line and its column', (t) => {
  // `when: |` with the expression indented to column 13 on lines 7 and 8.
  rejects(t, compileCondition, 'flag("MAINT") > 0 &&\n!cidr("10.0.0.0/8").containsIP(client.ipp)', {
    line: 8,
    col: 13 + 38, // the `ipp` after `client.`
    reason: /No such key: ipp/,
  });
});

test('the cel-js error is kept as the cause', (t) => {
  const error = t.throws(() => compileCondition(src('request.path ==')));
  t.is(error.cause?.name, 'ParseError');
});

const weightErrors = [
  ['request data', 'request.path == "/" ? 1 : 0', 0, /may use flag\(\) and constants only, not 'request'/],
  ['client data', 'client.ip == "::1" ? 1 : 2', 0, /not 'client'/],
  ['a header', 'header("x-weight") == "" ? 1 : 0', 0, /not header\(\)/],
  ['a cookie', 'flag("w") + (cookie("a") == "" ? 0 : 1)', 13, /not cookie\(\)/],
  ['cidr', 'cidr("10.0.0.0/8").containsIP("10.0.0.1") ? 1 : 0', 0, /not cidr\(\)/],
  ['a bool', 'flag("w") > 0', 0, /a weight must be an int, but this expression is bool/],
  ['a double', '1.5', 0, /a weight must be an int, but this expression is double/],
  ['a string', '"3"', 0, /must be an int/],
  ['an invalid flag name', 'flag(".hidden", 1)', 5, /not a valid flag name/],
  ['a syntax error', 'flag("w", 1', 11, /^syntax error/],
];

for (const [title, source, offset, reason] of weightErrors) {
  test(`weight error: ${title}`, (t) => rejects(t, compileWeight, source, { col: at.col + offset, reason }));
}

test('compiled conditions list their flags once, in order of first use', (t) => {
  const c = compileCondition(src('flag("B") > 0 || flag("A", 2) == flag("B") || request.path.startsWith("/")'));
  t.deepEqual(c.flags, ['B', 'A']);
  t.is(c.kind, 'condition');
  t.true(Object.isFrozen(c) && Object.isFrozen(c.flags));
});

test('the README examples compile', (t) => {
  t.deepEqual(compileCondition(src('flag("MAINT") > 0 && !cidr("10.0.0.0/8").containsIP(client.ip)')).flags, ['MAINT']);
  t.deepEqual(compileCondition(src('request.path.startsWith("/api/")')).flags, []);
  const w = compileWeight(src('flag("app2.weight", 1)'));
  t.is(w.kind, 'weight');
  t.deepEqual(w.flags, ['app2.weight']);
  t.deepEqual(compileWeight(src('1')).flags, []);
});

test('every documented variable, field and function is accepted', (t) => {
  const all = [
    'request.method == "GET"',
    'request.path.startsWith("/a") && request.query.contains("x=1")',
    'request.host.endsWith(".example.com") && request.scheme == "https"',
    'header("X-Env") == "canary" || cookie("beta") == "1"',
    'cidr("2001:db8::/32").containsIP(client.ip) || cidr("192.0.2.1").containsIP(client.ip)',
    'flag("READ_ONLY") > 0 ? request.method in ["GET", "HEAD"] : true',
    'request.path.matches("^/v[0-9]+/") && size(request.query) < 100',
  ];
  for (const source of all) t.notThrows(() => compileCondition(src(source)), source);
  t.notThrows(() => compileWeight(src('flag("a", 1) * 2 + (flag("b") > 0 ? 0 : 1)')));
  t.notThrows(() => compileWeight(src('[1, 2, 3].exists(x, x == flag("n")) ? 10 : 0')));
});

test('an expression compiled again with the same text, kind, mode and place is the same object; any other is compiled afresh', (t) => {
  const when = 'flag("MAINT") > 0 && request.path.startsWith("/api/")';
  const first = compileCondition(src(when));
  t.is(compileCondition(src(when)), first, 'a reload of an unchanged rule reuses it');
  t.is(compileCondition({ source: when, at: { ...at } }), first, 'equal places, not the same object');
  t.not(compileCondition(src(when, { ...at, line: 8 })), first, 'another place: its errors would name that place');
  t.not(compileCondition(src('flag("MAINT") > 0'), 'tcp'), compileCondition(src('flag("MAINT") > 0')), 'a tcp rule is its own');
  const weight = compileWeight(src('flag("app1.weight", 1)'));
  t.is(compileWeight(src('flag("app1.weight", 1)')), weight);
  t.is(weight.kind, 'weight');
  // A failure is not kept: it fails again, the same way.
  const bad = 'flag("MAINT") >';
  const e1 = t.throws(() => compileCondition(src(bad)), { instanceOf: FlagmanError });
  const e2 = t.throws(() => compileCondition(src(bad)), { instanceOf: FlagmanError });
  t.is(e1.message, e2.message);
});
