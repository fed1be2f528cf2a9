// `mode: tcp` in the config: what loads, and each mistake as an error at its file:line:col —
// request data in a tcp frontend's rules, a tcp frontend using an HTTP backend and the reverse,
// fallbacks across modes, and keys a tcp or refuse backend does not take.
import test from 'ava';
import { parseConfigText } from '../../dist/config/load.js';
import { compileProgram } from '../../dist/runtime/compile.js';
import { FlagmanErrors } from '../../dist/errors.js';

const F = '/etc/flagman/flagman.yaml';
const lines = (...l) => `${l.join('\n')}\n`;

// A tcp frontend in front of a tcp backend: `rules:` is line 5, `rule` starts at line 6, the
// backends at line 8, and `backends` lines are appended from line 11.
const config = ({ rule = '      - use: db', backends = [] } = {}) =>
  lines(
    'frontends:', //                                   1
    '  pg:', //                                        2
    '    mode: tcp', //                                3
    '    listen: "127.0.0.1:0"', //                    4
    rule, //                                           5
    'backends:', //                                    6
    '  db:', //                                        7
    '    mode: tcp', //                                8
    '    servers: { db1: { address: 127.0.0.1:5432 } }', // 9
    ...backends, //                                    10…
  ).replace(rule, `    rules:\n${rule}`);

/** Every error of loading and compiling `text`, as "file:line:col CODE reason". */
function errorsOf(t, text) {
  const err = t.throws(() => compileProgram(parseConfigText(text, F)), { instanceOf: FlagmanErrors });
  return err.errors.map((e) => `${e.at.file}:${e.at.line}:${e.at.col} ${e.code} ${e.reason}`);
}

test('a tcp frontend and backend load: mode, a tcp check by default, the tcp idle timeout', (t) => {
  const c = parseConfigText(
    config({ backends: ['    health: { interval: 1s }', '  closed: { refuse: true }'] }).replace(
      '    servers: { db1',
      '    timeouts: { connect: 2s }\n    servers: { db1',
    ),
    F,
  );
  t.is(c.frontends[0].mode, 'tcp');
  const [db, closed] = c.backends;
  t.like(db, { kind: 'proxy', mode: 'tcp' });
  t.is(db.health.type, 'tcp', 'a tcp backend is checked with a connect unless told otherwise');
  t.is(db.timeouts.connect, 2000);
  t.is(db.timeouts.idle, 3_600_000, 'a tcp backend idles out after timeouts.tcpIdle (1h)');
  t.like(closed, { kind: 'refuse', name: 'closed' });
  t.notThrows(() => compileProgram(c));
});

test('a tcp frontend rule reading request.path is an error at request, naming file:line:col', (t) => {
  // Line 6 (after `rules:`): the expression starts at col 15, `request` 17 characters later.
  const got = errorsOf(t, config({ rule: '      - when: flag("X") > 0 && request.path == "/"\n        use: db' }));
  t.deepEqual(got.length, 1, got.join('\n'));
  t.is(got[0].split(' ')[0], `${F}:6:32`);
  t.regex(
    got[0],
    /CONFIG_EXPR a tcp frontend has no HTTP request: its rules may use client\.ip, flag\(\) and cidr\(\) only, not 'request'/,
  );
});

test('header() and cookie() in a tcp frontend rule are errors too; client.ip, flag() and cidr() are fine', (t) => {
  t.regex(errorsOf(t, config({ rule: '      - when: header("X") == "y"\n        use: db' }))[0], /:6:15 CONFIG_EXPR .* not header\(\)/);
  t.regex(errorsOf(t, config({ rule: '      - when: cookie("s") != ""\n        use: db' }))[0], /:6:15 CONFIG_EXPR .* not cookie\(\)/);
  const ok = config({ rule: '      - when: flag("DB_MAINT") > 0 && !cidr("10.0.0.0/8").containsIP(client.ip)\n        use: db' });
  t.notThrows(() => compileProgram(parseConfigText(ok, F)));
});

test('an http frontend using a tcp backend is an error at its `use`, naming file:line:col', (t) => {
  const text = lines(
    'frontends:', //                                    1
    '  web:', //                                        2
    '    listen: ":0"', //                              3
    '    rules:', //                                    4
    '      - use: db', //                               5
    'backends:', //                                     6
    '  db:', //                                         7
    '    mode: tcp', //                                 8
    '    servers: { db1: { address: 127.0.0.1:5432 } }', // 9
  );
  const got = errorsOf(t, text);
  t.deepEqual(got, [
    `${F}:5:14 CONFIG_REF frontends.web.rules[0].use: cannot use "db", a tcp backend: the http frontend web can only use http backends (servers without mode: tcp, or respond)`,
  ]);
});

test('a tcp frontend using an http or a respond backend is an error at its `use`', (t) => {
  const http = config({ rule: '      - use: web', backends: ['  web:', '    servers: { w1: { address: 127.0.0.1:80 } }'] });
  t.deepEqual(errorsOf(t, http), [
    `${F}:6:14 CONFIG_REF frontends.pg.rules[0].use: cannot use "web", a http backend: the tcp frontend pg can only use backends with mode: tcp, or refuse: true`,
  ]);
  const respond = config({ rule: '      - use: page', backends: ['  page: { respond: { status: 503 } }'] });
  t.regex(errorsOf(t, respond)[0], /:6:14 CONFIG_REF .*cannot use "page", a respond backend \(HTTP answers\)/);
});

test('fallbacks stay within a mode; refuse backends take nothing else; tcp backends take connect and idle timeouts only', (t) => {
  const text = config({
    backends: [
      '    fallback: page', //                            11 (line 5 is `rules:`)
      '    timeouts: { server: 5s }', //                  12
      '  page: { respond: { status: 503 } }', //          13
      '  closed: { refuse: true, servers: {} }', //       14
      '  nope: { refuse: yes }', //                       15
    ],
  });
  const got = errorsOf(t, text);
  t.is(got.length, 4, got.join('\n'));
  t.regex(
    got[0],
    /:11:15 CONFIG_REF backends\.db\.fallback: cannot use "page", a respond backend \(HTTP answers\): the tcp backend db can only use backends with mode: tcp/,
  );
  t.regex(got[1], /:12:17 CONFIG_SCHEMA backends\.db\.timeouts\.server: a tcp backend takes only connect, idle and queue timeouts/);
  t.regex(got[2], /:14:27 CONFIG_SCHEMA backends\.closed\.servers: a refuse backend takes nothing else/);
  t.regex(got[3], /:15:19 CONFIG_SCHEMA backends\.nope\.refuse: expected true/);
});

test('an unknown mode is an error at its value', (t) => {
  t.regex(
    errorsOf(t, config().replace('    mode: tcp\n    listen', '    mode: udp\n    listen'))[0],
    /:3:11 CONFIG_SCHEMA frontends\.pg\.mode: expected one of http, tcp/,
  );
});

test('underscoreHeaders on a tcp frontend is an error at the key', (t) => {
  const text = config().replace('    listen: "127.0.0.1:0"', '    listen: "127.0.0.1:0"\n    underscoreHeaders: refuse');
  t.deepEqual(errorsOf(t, text), [
    `${F}:5:5 CONFIG_SCHEMA frontends.pg.underscoreHeaders: a tcp frontend has no HTTP headers; only an http frontend takes underscoreHeaders`,
  ]);
});
