// The limits in flagman.yaml: frontends.NAME.maxBody and maxconn, rules[].maxBody and rules[].limit
// {rate, burst, by}: what each reads to, and each error with its file:line:col.
import test from 'ava';
import { parseConfigText } from '../../dist/config/load.js';
import { compileProgram } from '../../dist/runtime/compile.js';
import { FlagmanErrors } from '../../dist/errors.js';

const F = 'flagman.yaml';
const lines = (...l) => `${l.join('\n')}\n`;
const config = (frontend, ...rules) =>
  lines(
    'frontends:', //                            1
    '  web:', //                                2
    '    listen: ":0"', //                      3
    ...frontend, //                             4…
    '    rules:',
    ...rules,
    'backends:',
    '  app:',
    '    servers:',
    '      s1: { address: 127.0.0.1:9001 }',
  );

function errorsOf(t, text, compile = false) {
  const err = t.throws(() => (compile ? compileProgram(parseConfigText(text, F)) : parseConfigText(text, F)), {
    instanceOf: FlagmanErrors,
  });
  return err.errors.map((e) => `${e.at.line}:${e.at.col} ${e.code} ${e.reason}`);
}

test('no limits by default', (t) => {
  const web = parseConfigText(config([], '      - use: app'), F).frontends[0];
  t.is(web.maxBody, null);
  t.is(web.maxconn, 0, "a frontend's maxconn 0: no limit, as a server's");
  t.like(web.rules[0], { maxBody: null, limit: null });
});

test('maxBody on the frontend and per rule, in bytes or a unit; off lifts it for a rule', (t) => {
  const web = parseConfigText(
    config(
      ['    maxBody: 1MiB', '    maxconn: 500'],
      '      - when: request.path == "/upload"',
      '        use: app',
      '        maxBody: 10485760',
      '      - when: request.path == "/free"',
      '        use: app',
      '        maxBody: off',
      '      - use: app',
    ),
    F,
  ).frontends[0];
  t.is(web.maxBody, 1048576);
  t.is(web.maxconn, 500);
  t.deepEqual(
    web.rules.map((r) => r.maxBody),
    [10485760, 'off', null],
  );
});

test('limit: rate (an integer or a flag expression), burst (default 0), by (an expression)', (t) => {
  const web = parseConfigText(
    config(
      [],
      '      - use: app',
      '        limit: { rate: 10, burst: 5, by: client.ip }',
      '      - use: app',
      '        limit:',
      '          rate: flag("API_RATE", 100)',
    ),
    F,
  ).frontends[0];
  // Line 6: `        limit: { rate: 10, burst: 5, by: client.ip }`.
  t.deepEqual(web.rules[0].limit, {
    rate: { source: '10', at: { file: F, line: 6, col: 24 } },
    burst: 5,
    by: { source: 'client.ip', at: { file: F, line: 6, col: 42 } },
    at: { file: F, line: 6, col: 9 },
  });
  t.like(web.rules[1].limit, { rate: { source: 'flag("API_RATE", 100)', at: { file: F, line: 9, col: 17 } }, burst: 0, by: null });
});

test('a wrong size, a wrong maxconn and a wrong limit are each named at their place', (t) => {
  const got = errorsOf(
    t,
    config(
      ['    maxBody: 10MB', '    maxconn: -1'], //          4, 5
      '      - use: app', //                               7
      '        maxBody: 1.5MiB', //                        8
      '        limit: { burst: -1, rate: 0, per: ip }', //  9: burst at 25, rate at 35, per at 38
      '      - use: app', //                               10
      '        limit: { by: client.ip }', //               11
      '      - use: app', //                               12
      '        limit: { rate: [1] }', //                   13
    ),
  );
  t.deepEqual(got, [
    '4:14 CONFIG_SCHEMA frontends.web.maxBody: "10MB": write 10MiB (powers of 1024), or the number of bytes',
    '5:14 CONFIG_SCHEMA frontends.web.maxconn: must be from 0 to 1000000, not -1',
    '8:18 CONFIG_SCHEMA frontends.web.rules[0].maxBody: "1.5MiB": sizes are whole numbers; use a smaller unit (1536KiB, not 1.5MiB)',
    '9:25 CONFIG_SCHEMA frontends.web.rules[0].limit.burst: must be from 0 to 1000000, not -1',
    '9:35 CONFIG_SCHEMA frontends.web.rules[0].limit.rate: must be from 1 to 1000000, not 0',
    '9:38 CONFIG_SCHEMA unknown key "per" in frontends.web.rules[0].limit (known: rate, burst, by)',
    '11:9 CONFIG_SCHEMA frontends.web.rules[1].limit: missing required key "rate": requests a second, such as 10 or flag("API_RATE", 10)',
    '13:24 CONFIG_SCHEMA frontends.web.rules[2].limit.rate: expected an integer 1–1000000 or an expression such as flag("API_RATE", 10), got a list',
  ]);
});

test("a frontend's maxconn is a whole number: an expression is refused, naming a server's maxconn, which takes one", (t) => {
  const text = config([`    maxconn: 'flag("web.maxconn", 100)'`], '      - use: app').replace(
    '      s1: { address: 127.0.0.1:9001 }',
    `      s1: { address: 127.0.0.1:9001, maxconn: 'flag("s1.maxconn", 100)' }`,
  );
  t.deepEqual(errorsOf(t, text), [
    '4:14 CONFIG_SCHEMA frontends.web.maxconn: expected a whole number from 0 to 1000000 (a frontend\'s maxconn counts client connections and takes no expression; a server\'s maxconn, under backends, may use flag()), got the string "flag(\\"web.maxconn\\", 100)"',
  ]);
  const fixed = parseConfigText(text.replace(`'flag("web.maxconn", 100)'`, '100'), F);
  t.is(fixed.frontends[0].maxconn, 100);
  t.is(fixed.backends[0].servers[0].maxconn.source, 'flag("s1.maxconn", 100)');
});

test('rate and by are compiled as flagman check compiles them: a rate reads flags only, a key is a string', (t) => {
  const got = errorsOf(
    t,
    config(
      [],
      '      - use: app', //                                                 5
      `        limit: { rate: 'flag("R") + size(request.path)' }`, //        6: the expression at 25
      '      - use: app', //                                                 7
      `        limit: { rate: 10, by: 'flag("R") > 0' }`, //                 8: at 33
      '      - use: app', //                                                 9
      `        limit: { rate: '"ten"', by: header("X-Key") }`, //            10: at 25
    ),
    true,
  );
  t.deepEqual(got, [
    "6:42 CONFIG_EXPR a rate may use flag() and constants only, not 'request': rates are recomputed when a flag changes, never per request",
    '8:33 CONFIG_EXPR a rate-limit key (by) must be a string, but this expression is bool',
    '10:25 CONFIG_EXPR a rate must be an int, but this expression is string',
  ]);
});

test('a tcp frontend takes maxconn, but neither maxBody nor a rate limit', (t) => {
  const text = lines(
    'frontends:',
    '  db:',
    '    mode: tcp',
    '    listen: ":0"',
    '    maxconn: 10',
    '    maxBody: 1MiB', //      6
    '    rules:',
    '      - use: pg',
    '        limit: { rate: 1 }', // 9
    'backends:',
    '  pg:',
    '    mode: tcp',
    '    servers: { a: { address: "127.0.0.1:5432" } }',
  );
  t.deepEqual(errorsOf(t, text), [
    '6:5 CONFIG_SCHEMA frontends.db.maxBody: a tcp frontend passes bytes through without reading requests; only an http frontend takes maxBody',
    '9:9 CONFIG_SCHEMA frontends.db.rules[0].limit: a tcp frontend passes bytes through without reading requests; only an http frontend takes limit',
  ]);
  t.is(parseConfigText(text.replace('    maxBody: 1MiB\n', '').replace('        limit: { rate: 1 }\n', ''), F).frontends[0].maxconn, 10);
});
