// config/load: a full example, defaults, and every error kind with its exact file:line:col.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CONFIG_KEYS, TOP_LEVEL_KEYS, loadConfig, loadConfigInSteps, parseConfigText } from '../../dist/config/load.js';
import { DEFAULTS } from '../../dist/config/schema.js';
import { FlagmanError, FlagmanErrors } from '../../dist/errors.js';

const F = 'flagman.yaml';
const lines = (...l) => `${l.join('\n')}\n`;

// Every section, with the comments a config file may carry (docs/configuration.md).
const FULL_EXAMPLE = lines(
  'flags:',
  '  dir: ./flags                # the watched directory',
  '  rescan: 1s                  # backstop full rescan',
  '',
  'admin:',
  '  listen: 127.0.0.1:8404      # read-only: /status /metrics / (dashboard) /explain',
  '',
  'timeouts:                     # defaults shown',
  '  connect: 5s                 # to a server',
  "  server: 60s                 # waiting for a server's response headers / between its body chunks",
  '  client: 10s                 # a client sending its request headers (slowloris)',
  '  idle: 5s                    # keep-alive idle, both sides',
  '  shutdown: 25s               # graceful stop: in-flight requests may finish',
  '',
  'frontends:',
  '  web:',
  '    listen: [":8080"]         # host:port, [v6]:port, :port, or systemd:NAME (socket activation)',
  '    rules:                    # first match wins; no match -> 503',
  `      - when: 'flag("MAINT") > 0 && !cidr("10.0.0.0/8").containsIP(client.ip)'`,
  '        use: maintenance',
  '      - when: request.path.startsWith("/api/")',
  '        use: api',
  '      - use: app              # no `when`: always matches',
  '',
  'backends:',
  '  app:',
  '    balance: roundrobin       # roundrobin (smooth weighted) | leastconn',
  '    health: { path: /healthz, interval: 2s, timeout: 1s, rise: 2, fall: 3 }',
  '    fallback: maintenance     # used when no server is eligible (default: 503)',
  '    servers:',
  '      app1: { address: 127.0.0.1:9001 }',
  '      app2:',
  '        address: 127.0.0.1:9002',
  '        weight: flag("app2.weight", 1)   # in a {flow: map} the comma would end the value: quote it there',
  '  api:',
  '    balance: leastconn',
  '    timeouts: { connect: 2s, server: 30s }   # per backend, overriding the top level',
  '    servers:',
  '      api1: { address: 127.0.0.1:9101 }',
  '  maintenance:',
  '    respond:',
  '      status: 503',
  '      file: ./maintenance.html          # re-read when it changes',
  '      headers: { Retry-After: "120", Cache-Control: no-store }',
);

// The smallest valid config; cases below append to it or replace a line.
const BASE = [
  'frontends:', //                            1
  '  web:', //                                2
  '    listen: ":0"', //                      3
  '    rules:', //                            4
  '      - use: app', //                      5
  'backends:', //                             6
  '  app:', //                                7
  '    servers:', //                          8
  '      s1: { address: 127.0.0.1:9001 }', // 9
];

function withTempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'flagman-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Every error as "line:col CODE reason", in the order thrown.
function errorsOf(t, text) {
  const err = t.throws(() => parseConfigText(text, F), { instanceOf: FlagmanErrors });
  for (const e of err.errors) {
    t.true(e instanceof FlagmanError);
    t.is(e.at.file, F);
    t.true(e.message.startsWith(`${F}:${e.at.line}:${e.at.col}: `), e.message);
  }
  return err.errors.map((e) => `${e.at.line}:${e.at.col} ${e.code} ${e.reason}`);
}

// Macro (docs/design/conventions.md, "Tests as tables"): the config is rejected with exactly these errors (position, code, reason pattern).
const rejects = test.macro((t, text, expected) => {
  const got = errorsOf(t, text);
  t.is(got.length, expected.length, got.join('\n'));
  expected.forEach(([pos, code, reason], i) => {
    t.true(got[i]?.startsWith(`${pos} ${code} `), `expected ${pos} ${code}, got: ${got[i]}`);
    t.regex(got[i] ?? '', reason);
  });
});

test('the full example loads with its values', (t) => {
  const dir = withTempDir(t);
  const file = join(dir, 'flagman.yaml');
  writeFileSync(file, FULL_EXAMPLE);
  const c = loadConfig(file);

  t.is(c.file, file);
  t.deepEqual(c.flags, {
    dir: join(dir, 'flags'),
    rescan: 1000,
    allowWorldWritable: false,
    state: join(dir, 'flagman.state.json'),
    stateConfigured: false,
  });
  t.like(c.admin.listen, { kind: 'tcp', host: '127.0.0.1', port: 8404, text: '127.0.0.1:8404', at: { file, line: 6, col: 11 } });
  t.deepEqual(c.timeouts, { connect: 5000, server: 60000, client: 10000, idle: 5000, tcpIdle: 3600000, shutdown: 25000, queue: 5000 });
  t.deepEqual(c.log, { access: { format: 'json', fields: null }, file: null });

  t.is(c.frontends.length, 1);
  const web = c.frontends[0];
  t.is(web.name, 'web');
  t.deepEqual(web.at, { file, line: 16, col: 3 });
  t.deepEqual(web.listen, [{ kind: 'tcp', host: '', port: 8080, text: ':8080', at: { file, line: 17, col: 14 } }]);
  t.deepEqual(
    web.rules.map((r) => [r.use, r.when?.source ?? null]),
    [
      ['maintenance', 'flag("MAINT") > 0 && !cidr("10.0.0.0/8").containsIP(client.ip)'],
      ['api', 'request.path.startsWith("/api/")'],
      ['app', null],
    ],
  );
  // Single-quoted: the first character inside the quote. Plain: the first character.
  t.deepEqual(web.rules[0].when.at, { file, line: 19, col: 16 });
  t.deepEqual(web.rules[1].when.at, { file, line: 21, col: 15 });
  t.deepEqual(
    web.rules.map((r) => [r.useAt.line, r.useAt.col]),
    [
      [20, 14],
      [22, 14],
      [23, 14],
    ],
  );

  t.deepEqual(
    c.backends.map((b) => [b.name, b.kind]),
    [
      ['app', 'proxy'],
      ['api', 'proxy'],
      ['maintenance', 'respond'],
    ],
  );
  const [app, api, maintenance] = c.backends;
  t.is(app.balance, 'roundrobin');
  t.deepEqual(app.health, {
    type: 'http',
    path: '/healthz',
    status: { min: 200, max: 399 },
    interval: 2000,
    timeout: 1000,
    rise: 2,
    fall: 3,
  });
  t.is(app.fallback, 'maintenance');
  t.deepEqual(app.fallbackAt, { file, line: 29, col: 15 });
  t.deepEqual(app.timeouts, c.timeouts);
  t.deepEqual(
    app.servers.map((s) => [s.name, s.host, s.port]),
    [
      ['app1', '127.0.0.1', 9001],
      ['app2', '127.0.0.1', 9002],
    ],
  );
  // Default weight: its position is the server's; app2's expression starts at col 17.
  t.deepEqual(app.servers[0].weight, { source: '1', at: { file, line: 31, col: 7 } });
  t.deepEqual(app.servers[1].weight, { source: 'flag("app2.weight", 1)', at: { file, line: 34, col: 17 } });

  t.is(api.balance, 'leastconn');
  t.is(api.health, null);
  t.is(api.fallback, null);
  // Per-backend overrides merged over the top level.
  t.deepEqual(api.timeouts, { connect: 2000, server: 30000, client: 10000, idle: 5000, tcpIdle: 3600000, shutdown: 25000, queue: 5000 });

  t.is(maintenance.status, 503);
  t.is(maintenance.body, null);
  t.is(maintenance.file, join(dir, 'maintenance.html'));
  t.deepEqual(maintenance.headers, { 'Retry-After': '120', 'Cache-Control': 'no-store' });
});

test('defaults fill what is not written', (t) => {
  const c = parseConfigText(lines(...BASE, '  ok:', '    respond: {}'), '/etc/flagman/flagman.yaml');
  t.is(c.file, '/etc/flagman/flagman.yaml');
  t.deepEqual(c.flags, {
    dir: '/etc/flagman/flags',
    rescan: DEFAULTS.rescan,
    allowWorldWritable: false,
    state: '/etc/flagman/flagman.state.json',
    stateConfigured: false,
  });
  t.deepEqual(c.admin, { listen: null });
  t.deepEqual(c.timeouts, DEFAULTS.timeouts);
  t.deepEqual(c.log, { access: { format: 'json', fields: null }, file: null });
  const [app, ok] = c.backends;
  t.like(app, { balance: 'roundrobin', health: null, fallback: null, fallbackAt: null, timeouts: DEFAULTS.timeouts });
  t.is(app.servers[0].weight.source, DEFAULTS.weight);
  t.like(ok, { kind: 'respond', status: 200, body: null, file: null, headers: {} });
  t.is(c.frontends[0].rules[0].when, null);
});

test("flags.state: a path relative to the config, off, systemd's StateDirectory by default, never inside the flags directory", (t) => {
  const flags = (...l) => parseConfigText(lines(...BASE, ...l), '/etc/flagman/flagman.yaml').flags;
  t.like(flags('flags: { state: ../../var/lib/fm.json }'), { state: '/var/lib/fm.json', stateConfigured: true });
  t.like(flags('flags: { state: off }'), { state: null, stateConfigured: true });
  const saved = process.env.STATE_DIRECTORY;
  process.env.STATE_DIRECTORY = '/var/lib/flagman:/var/lib/other';
  try {
    t.like(flags(), { state: '/var/lib/flagman/flags.json', stateConfigured: false });
  } finally {
    if (saved === undefined) delete process.env.STATE_DIRECTORY;
    else process.env.STATE_DIRECTORY = saved;
  }
  const err = t.throws(() => flags('flags: { dir: /srv/flags, state: /srv/flags/state.json }'));
  t.regex(
    err.message,
    /flagman\.yaml:\d+:\d+: flags\.state: the state file \/srv\/flags\/state\.json must not be inside the flags directory/,
  );
});

test('admin: no section is no endpoint, an empty one is the default address, off turns it off', (t) => {
  const admin = (...l) => parseConfigText(lines(...BASE, ...l), F).admin.listen;
  t.like(admin('admin: {}'), { kind: 'tcp', host: '127.0.0.1', port: 8404 });
  t.like(admin('admin:'), { kind: 'tcp', host: '127.0.0.1', port: 8404 });
  t.is(admin('admin: { listen: off }'), null);
  t.is(admin('admin: { listen: false }'), null);
  t.like(admin('admin: { listen: "systemd:admin" }'), { kind: 'systemd', name: 'admin' });
});

test('booleans: true/false and on/off; health defaults fill a partial map', (t) => {
  const c = parseConfigText(
    lines(...BASE, '    health: { path: /up }', 'log: { access: off }', 'flags: { allowWorldWritable: on, dir: /srv/flags }'),
    F,
  );
  t.is(c.log.access, null);
  t.true(c.flags.allowWorldWritable);
  t.is(c.flags.dir, '/srv/flags');
  t.deepEqual(c.backends[0].health, { ...DEFAULTS.health, path: '/up' });
  t.is(parseConfigText(lines(...BASE, 'log: { access: false }'), F).log.access, null);
});

test('log.access picks the fields of a JSON line, in their order, or the combined log format', (t) => {
  const access = (text) => parseConfigText(lines(...BASE, text), F).log.access;
  t.deepEqual(access('log: { access: on }'), { format: 'json', fields: null });
  t.deepEqual(access('log: { access: { fields: [ms, status, ip] } }'), { format: 'json', fields: ['ms', 'status', 'ip'] });
  t.deepEqual(access('log: { access: { format: clf } }'), { format: 'clf', fields: null });
  t.deepEqual(access('log: { access: {} }'), { format: 'json', fields: null });
});

test(
  'log.access: an unknown field, a field twice, no field, fields with clf, an unknown format',
  rejects,
  lines(...BASE, 'log:', '  access:', '    fields: [ms, latency, ms]', '    format: xml'),
  [
    ['12:18', 'CONFIG_SCHEMA', /log\.access\.fields\[1\]: no access-line field "latency" \(known: frontend, mode, .*reason\)/],
    ['12:27', 'CONFIG_SCHEMA', /log\.access\.fields\[2\]: "ms" is listed twice/],
    ['13:13', 'CONFIG_SCHEMA', /log\.access\.format: expected one of json, clf/],
  ],
);

test('log.access: fields with the combined log format, and an empty list', (t) => {
  const fail = (text) => t.throws(() => parseConfigText(lines(...BASE, text), F)).message;
  t.regex(fail('log: { access: { format: clf, fields: [ms] } }'), /log\.access: the combined log format has fields of its own/);
  t.regex(fail('log: { access: { fields: [] } }'), /log\.access\.fields: lists no field \(to write no access log: log\.access: off\)/);
});

test('listen takes one string or a list; weights take integers and expressions', (t) => {
  const c = parseConfigText(
    lines(
      'frontends:',
      '  web: { listen: ["127.0.0.1:0", "[::1]:0", "systemd:web"] }',
      '  one: { listen: "127.0.0.1:0" }',
      'backends:',
      '  app:',
      '    servers:',
      '      a: { address: "[::1]:1", weight: 0 }',
      '      b: { address: x.internal:2, weight: 256 }',
      '      c: { address: 127.0.0.1:3, weight: "flag(\\"W\\", 2) * 2" }',
      '      d:',
      '        address: 127.0.0.1:4',
      '        weight: >-',
      '          flag("D")',
    ),
    F,
  );
  t.deepEqual(
    c.frontends[0].listen.map((l) => l.text),
    ['127.0.0.1:0', '[::1]:0', 'systemd:web'],
  );
  t.deepEqual(
    c.frontends[1].listen.map((l) => l.text),
    ['127.0.0.1:0'],
  );
  t.deepEqual(c.frontends[0].rules, []);
  const w = c.backends[0].servers.map((s) => [s.weight.source, s.weight.at.line, s.weight.at.col]);
  // Inside the double quote for c; on the first content line of the block scalar for d.
  t.deepEqual(w, [
    ['0', 7, 40],
    ['256', 8, 43],
    ['flag("W", 2) * 2', 9, 43],
    ['flag("D")', 13, 11],
  ]);
});

test('header values written as numbers become their text', (t) => {
  const c = parseConfigText(lines(...BASE, '  m:', '    respond: { status: 503, body: "down\\n", headers: { Retry-After: 120 } }'), F);
  t.like(c.backends[1], { status: 503, body: 'down\n', headers: { 'Retry-After': '120' } });
});

test('the result is deep-frozen', (t) => {
  const c = parseConfigText(FULL_EXAMPLE, F);
  const objects = [
    c,
    c.flags,
    c.admin.listen,
    c.admin.listen.at,
    c.timeouts,
    c.frontends,
    c.frontends[0].rules[0].when.at,
    c.backends,
    c.backends[0].servers,
    c.backends[0].servers[1].weight,
    c.backends[2].headers,
  ];
  for (const o of objects) t.true(Object.isFrozen(o));
  t.throws(
    () => {
      c.timeouts.connect = 1;
    },
    { instanceOf: TypeError },
  );
});

test('an unreadable file is one CONFIG_READ error naming it', (t) => {
  const dir = withTempDir(t);
  const file = join(dir, 'missing.yaml');
  const err = t.throws(() => loadConfig(file), { instanceOf: FlagmanError });
  t.is(err.code, 'CONFIG_READ');
  t.is(err.message, `${file}: no such file`);
  t.is(t.throws(() => loadConfig(dir), { instanceOf: FlagmanError }).code, 'CONFIG_READ');
});

test('YAML syntax error', rejects, lines('flags:', '  dir: a: b', 'admin: {}'), [
  ['2:8', 'CONFIG_YAML', /Nested mappings are not allowed in compact mappings/],
]);

test('YAML syntax errors come alone, all of them', rejects, lines('flags:', '\tdir: x', 'admin: { listen: [:1 }', 'bogus: 1'), [
  ['2:1', 'CONFIG_YAML', /Tabs are not allowed as indentation/],
  ['3:22', 'CONFIG_YAML', /Flow sequence .* must .* end with a \]/],
  ['3:23', 'CONFIG_YAML', /Flow map .* must .* end with a \}/],
]);

test('a second document', rejects, lines(...BASE, '---', 'flags: {}'), [
  ['10:1', 'CONFIG_YAML', /a second YAML document \(after ---\): the config is one document$/],
]);

test('duplicate key', rejects, lines(...BASE, '  app:', '    respond: {}'), [['10:3', 'CONFIG_YAML', /Map keys must be unique/]]);

test('duplicate key in a flow map', rejects, lines(...BASE.slice(0, 8), '      s1: { address: 127.0.0.1:9001, address: 127.0.0.1:9002 }'), [
  ['9:38', 'CONFIG_YAML', /Map keys must be unique/],
]);

test('unknown top-level key', rejects, lines(...BASE, 'timeout:', '  connect: 1s'), [
  ['10:1', 'CONFIG_SCHEMA', /unknown key "timeout" at the top level \(known: flags, admin, timeouts, log, workers, frontends, backends\)/],
]);

test('unknown nested key', rejects, lines(...BASE, 'flags:', '  rescna: 1s'), [
  ['11:3', 'CONFIG_SCHEMA', /unknown key "rescna" in flags \(known: dir, rescan, allowWorldWritable, state\)/],
]);

test('unknown key in a flow map of a server', rejects, lines(...BASE.slice(0, 8), '      s1: { address: 127.0.0.1:9001, wieght: 2 }'), [
  ['9:38', 'CONFIG_SCHEMA', /unknown key "wieght" in backends\.app\.servers\.s1/],
]);

test('wrong kind of value', rejects, lines(...BASE, 'flags: { dir: [a, b] }', 'log: { access: maybe }', 'timeouts: 5s'), [
  ['10:15', 'CONFIG_SCHEMA', /flags\.dir: expected a string, got a list/],
  ['11:16', 'CONFIG_SCHEMA', /log\.access: expected true, false, on or off, got the string "maybe"/],
  ['12:11', 'CONFIG_SCHEMA', /timeouts: expected a map, got the string "5s"/],
]);

test('bad durations', rejects, lines(...BASE, 'timeouts:', '  connect: 5', '  server: 1.5s', '  idle: 0s', '  shutdown: 0s'), [
  ['11:12', 'CONFIG_SCHEMA', /timeouts\.connect: "5" needs a unit/],
  ['12:11', 'CONFIG_SCHEMA', /timeouts\.server: "1\.5s": durations are whole numbers/],
  ['13:9', 'CONFIG_SCHEMA', /timeouts\.idle: must be more than 0/],
]);

test('a per-backend timeout that only exists at the top level', rejects, lines(...BASE, '    timeouts: { client: 1s }'), [
  ['10:17', 'CONFIG_SCHEMA', /client timeout applies to the whole frontend or process/],
]);

test('unknown backend in use', rejects, lines(...BASE.slice(0, 4), '      - { when: "true", use: apx }', ...BASE.slice(5)), [
  ['5:30', 'CONFIG_REF', /frontends\.web\.rules\[0\]\.use: no backend named "apx" \(defined: app\)/],
]);

test(
  'unknown backend in fallback, and a fallback to itself',
  rejects,
  lines(...BASE, '    fallback: nowhere', '  b:', '    fallback: b', '    servers: {}'),
  [
    ['10:15', 'CONFIG_REF', /backends\.app\.fallback: no backend named "nowhere" \(defined: app, b\)/],
    ['12:15', 'CONFIG_REF', /backends\.b\.fallback: a backend cannot fall back to itself/],
  ],
);

test('fallbacks that loop', rejects, lines(...BASE, '    fallback: b', '  b:', '    fallback: app', '    servers: {}'), [
  ['10:15', 'CONFIG_REF', /fallbacks form a loop: app → b → app/],
]);

test('both servers and respond', rejects, lines(...BASE, '    balance: leastconn', '    respond: { status: 503 }'), [
  ['11:5', 'CONFIG_SCHEMA', /backends\.app: has both servers and respond/],
]);

test(
  'respond: body and file, status out of range, bad header',
  rejects,
  lines(
    ...BASE,
    '  m:',
    '    respond:',
    '      status: 100',
    '      body: x',
    '      file: x.html',
    '      headers: { "Bad Name": x, X-A: "a\\nb" }',
  ),
  [
    ['12:15', 'CONFIG_SCHEMA', /respond\.status: must be from 200 to 599, not 100/],
    ['14:7', 'CONFIG_SCHEMA', /backends\.m\.respond: give body or file, not both/],
    ['15:18', 'CONFIG_SCHEMA', /"Bad Name" is not a valid header name/],
    ['15:38', 'CONFIG_SCHEMA', /must not contain control characters/],
  ],
);

test('a backend with neither servers nor respond', rejects, lines(...BASE, '  empty: { balance: leastconn }'), [
  ['10:3', 'CONFIG_SCHEMA', /backends\.empty: missing required key "servers" \(or respond, redirect or refuse\)/],
]);

test('bad listen addresses', rejects, lines(...BASE.slice(0, 2), '    listen: ["8080", "::1:80", ":70000", 8080]', ...BASE.slice(3)), [
  ['3:14', 'CONFIG_SCHEMA', /frontends\.web\.listen\[0\]: "8080" needs a port/],
  ['3:22', 'CONFIG_SCHEMA', /listen\[1\]: "::1:80": an IPv6 address goes in brackets/],
  ['3:32', 'CONFIG_SCHEMA', /listen\[2\]: ":70000": the port must be a number from 0 to 65535/],
  ['3:42', 'CONFIG_SCHEMA', /listen\[3\]: expected an address such as :8080 or 127\.0\.0\.1:8080, got the number 8080/],
]);

test(
  'a frontend without listen, and listeners that clash',
  rejects,
  lines(
    'admin: { listen: 127.0.0.1:9000 }',
    'frontends:',
    '  web: { listen: ":0", rules: [{ use: app }] }',
    '  web2: { rules: [] }',
    '  web3: { listen: [":9000", "systemd:a", "systemd:a"] }',
    'backends:',
    '  app: { servers: {} }',
  ),
  [
    ['4:3', 'CONFIG_SCHEMA', /frontends\.web2: missing required key "listen": a frontend needs at least one address/],
    ['5:20', 'CONFIG_SCHEMA', /":9000" would bind the same socket as "127\.0\.0\.1:9000" of admin/],
    ['5:42', 'CONFIG_SCHEMA', /"systemd:a" would bind the same socket as "systemd:a" of frontend web3/],
  ],
);

test('no frontends at all', rejects, lines('backends: {}'), [['1:1', 'CONFIG_SCHEMA', /missing required top-level key "frontends"/]]);

test(
  'bad names and addresses of servers',
  rejects,
  lines(...BASE.slice(0, 8), '      -s1: { address: 127.0.0.1 }', '      s2: { address: ":80" }', '      s3: {}'),
  [
    ['9:7', 'CONFIG_SCHEMA', /a server name must match/],
    ['10:22', 'CONFIG_SCHEMA', /servers\.s2\.address: ":80" needs a host/],
    ['11:7', 'CONFIG_SCHEMA', /servers\.s3: missing required key "address"/],
  ],
);

test(
  'bad weights',
  rejects,
  lines(
    ...BASE.slice(0, 8),
    '      s1: { address: a:1, weight: 257 }',
    '      s2: { address: a:1, weight: 1.5 }',
    '      s3: { address: a:1, weight: "" }',
  ),
  [
    ['9:35', 'CONFIG_SCHEMA', /weight: must be from 0 to 256, not 257/],
    ['10:35', 'CONFIG_SCHEMA', /weight: expected a whole number from 0 to 256, got the number 1\.5/],
    ['11:35', 'CONFIG_SCHEMA', /weight: must not be empty/],
  ],
);

test(
  'every error is reported at once, in file order',
  rejects,
  lines(
    'flags: { rescan: soon }',
    'frontends:',
    '  web:',
    '    listen: ":0"',
    '    rules: [{ use: nope }, { when: x }]',
    'backends:',
    '  app: { servers: {}, colour: blue }',
    'extra: 1',
  ),
  [
    ['1:18', 'CONFIG_SCHEMA', /flags\.rescan: "soon" is not a duration/],
    ['5:20', 'CONFIG_REF', /no backend named "nope"/],
    ['5:28', 'CONFIG_SCHEMA', /rules\[1\]: missing required key "use"/],
    ['7:23', 'CONFIG_SCHEMA', /unknown key "colour" in backends\.app/],
    ['8:1', 'CONFIG_SCHEMA', /unknown key "extra" at the top level/],
  ],
);

test('health: http with a status or a range, tcp, and exec with its command resolved against the config folder', (t) => {
  const health = (...l) => parseConfigText(lines(...BASE, ...l), '/etc/flagman/flagman.yaml').backends[0].health;
  t.like(health('    health: { status: 204 }'), { type: 'http', path: '/healthz', status: { min: 204, max: 204 } });
  t.like(health('    health: { type: http, path: /up, status: 200-299, interval: 100ms, timeout: 50ms, rise: 1, fall: 1 }'), {
    type: 'http',
    path: '/up',
    status: { min: 200, max: 299 },
    interval: 100,
    timeout: 50,
    rise: 1,
    fall: 1,
  });
  t.deepEqual(health('    health: { type: tcp, interval: 1s }'), { type: 'tcp', interval: 1000, timeout: 1000, rise: 2, fall: 3 });
  t.like(health('    health: { type: exec, command: ./checks/app.sh --quick }'), {
    type: 'exec',
    command: ['/etc/flagman/checks/app.sh', '--quick'],
    cwd: '/etc/flagman',
    commandAt: { line: 10, col: 36 },
  });
  t.like(health('    health:', '      type: exec', '      command: [check-app, "two words", /abs/x]'), {
    type: 'exec',
    command: ['check-app', 'two words', '/abs/x'],
  });
});

test(
  'health: keys of another check type, a missing command, bad statuses',
  rejects,
  lines(
    ...BASE,
    '    health: { type: tcp, path: /x, status: 200 }',
    '  b:',
    '    health: { type: exec }',
    '    servers: {}',
    '  c:',
    '    health: { type: grpc, command: x }',
    '    servers: {}',
    '  d:',
    '    health: { status: 399-200 }',
    '    servers: {}',
    '  e:',
    '    health: { status: 600 }',
    '    servers: {}',
    '  f:',
    '    health: { status: [200], command: "" }',
    '    servers: {}',
  ),
  [
    ['10:26', 'CONFIG_SCHEMA', /health\.path: only a check of type http takes path \(this one is tcp\)/],
    ['10:36', 'CONFIG_SCHEMA', /health\.status: only a check of type http takes status/],
    ['12:5', 'CONFIG_SCHEMA', /backends\.b\.health: missing required key "command": an exec check runs it/],
    ['15:21', 'CONFIG_SCHEMA', /health\.type: expected one of http, tcp, exec, got the string "grpc"/],
    ['15:27', 'CONFIG_SCHEMA', /health\.command: only a check of type exec takes command \(this one is http\)/],
    ['18:23', 'CONFIG_SCHEMA', /health\.status: "399-200": the range ends before it starts/],
    ['21:23', 'CONFIG_SCHEMA', /health\.status: "600": HTTP statuses are from 100 to 599/],
    ['24:23', 'CONFIG_SCHEMA', /health\.status: expected a status such as 200, or a range such as 200-399, got a list/],
    ['24:30', 'CONFIG_SCHEMA', /health\.command: only a check of type exec takes command/],
  ],
);

test('aliases read like the anchored value', (t) => {
  const c = parseConfigText(lines(...BASE, '    timeouts: &fast { connect: 1s }', '  b:', '    timeouts: *fast', '    servers: {}'), F);
  t.is(c.backends[1].timeouts.connect, 1000);
});

test('underscoreHeaders: allow by default; refuse and drop; anything else names the place', (t) => {
  t.is(parseConfigText(lines(...BASE), F).frontends[0].underscoreHeaders, 'allow');
  const at = (v) => lines(...BASE.slice(0, 3), `    underscoreHeaders: ${v}`, ...BASE.slice(3));
  t.is(parseConfigText(at('refuse'), F).frontends[0].underscoreHeaders, 'refuse');
  t.is(parseConfigText(at('drop'), F).frontends[0].underscoreHeaders, 'drop');
  const got = errorsOf(t, at('deny'));
  t.is(got.length, 1);
  t.is(got[0], '4:24 CONFIG_SCHEMA frontends.web.underscoreHeaders: expected one of allow, refuse, drop, got the string "deny"');
});

test('every key table is documented', (t) => {
  t.deepEqual(Object.keys(CONFIG_KEYS['']), Object.keys(TOP_LEVEL_KEYS));
  for (const [path, table] of Object.entries(CONFIG_KEYS)) {
    for (const [key, summary] of Object.entries(table)) t.true(summary.length > 5, `${path}.${key}`);
  }
});

// A reload reads in two steps, the requests waiting meanwhile served between them: the text is read
// and its YAML parsed before the pause, checked after it, and the result is what loadConfig gives.
test('loadConfigInSteps: the YAML read before the pause, checked after it, the same config as loadConfig', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flagman-steps-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, F);
  writeFileSync(file, FULL_EXAMPLE);
  let pauses = 0;
  // What is written during the pause is not read: the text was read before it.
  const config = await loadConfigInSteps(file, async () => {
    pauses++;
    writeFileSync(file, 'frontends: {}\n');
  });
  t.is(pauses, 1);
  writeFileSync(file, FULL_EXAMPLE);
  t.deepEqual(config, loadConfig(file));
  t.true(Object.isFrozen(config) && Object.isFrozen(config.backends[0]));
  // A YAML error is found before the pause; a schema error after it, with its place either way.
  writeFileSync(file, 'frontends: [\n');
  const yaml = await t.throwsAsync(
    loadConfigInSteps(file, async () => pauses++),
    { instanceOf: FlagmanErrors },
  );
  t.is(pauses, 1);
  t.deepEqual(
    yaml.errors.map((e) => e.code),
    ['CONFIG_YAML'],
  );
  writeFileSync(file, lines('frontends:', '  web: { listen: [":8080"], nope: 1 }'));
  const schema = await t.throwsAsync(
    loadConfigInSteps(file, async () => pauses++),
    { instanceOf: FlagmanErrors },
  );
  t.is(pauses, 2);
  t.deepEqual(
    schema.errors.map((e) => e.code),
    ['CONFIG_SCHEMA'],
  );
  t.regex(schema.message, /nope/);
  await t.throwsAsync(
    loadConfigInSteps(join(dir, 'none.yaml'), async () => pauses++),
    { instanceOf: FlagmanError, message: /no such file/ },
  );
  t.is(pauses, 2);
});
