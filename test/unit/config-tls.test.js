// config: `frontends.NAME.tls` and `redirect` backends, read with defaults and rejected with the
// exact file:line:col of what is wrong; the SNI lookup of tls/pair.ts as a table.
import test from 'ava';
import { parseConfigText } from '../../dist/config/load.js';
import { FlagmanErrors } from '../../dist/errors.js';
import { CertSet } from '../../dist/tls/pair.js';

const F = '/etc/flagman/flagman.yaml';
const lines = (...l) => `${l.join('\n')}\n`;

// The smallest valid config with a TLS frontend; cases replace its tls line (4) or add backends.
const base = (tls = '    tls: { cert: ./site.crt, key: ./site.key }', ...backends) =>
  lines(
    'frontends:', //                  1
    '  web:', //                      2
    '    listen: ":0"', //            3
    tls, //                           4
    '    rules:', //                  5
    '      - use: app', //            6
    'backends:', //                   7
    '  app:', //                      8
    '    servers:', //                9
    '      s1: { address: 127.0.0.1:9001 }', // 10
    ...backends,
  );

const rejects = test.macro((t, text, expected) => {
  const err = t.throws(() => parseConfigText(text, F), { instanceOf: FlagmanErrors });
  const got = err.errors.map((e) => `${e.at.line}:${e.at.col} ${e.code} ${e.reason}`);
  t.is(got.length, expected.length, got.join('\n'));
  expected.forEach(([pos, code, reason], i) => {
    t.true(got[i]?.startsWith(`${pos} ${code} `), `expected ${pos} ${code}, got: ${got[i]}`);
    t.regex(got[i] ?? '', reason);
    t.true(err.errors[i].message.startsWith(`${F}:${pos}: `));
  });
});

test('tls: one pair as a map, paths resolved against the config folder', (t) => {
  const c = parseConfigText(base(), F);
  t.deepEqual(
    c.frontends[0].tls.certificates.map(({ cert, key }) => ({ cert, key })),
    [{ cert: '/etc/flagman/site.crt', key: '/etc/flagman/site.key' }],
  );
  t.is(parseConfigText(base('    # plain'), F).frontends[0].tls, null);
});

test('tls: a list of pairs, in order (the first is the default)', (t) => {
  const c = parseConfigText(
    base(lines('    tls:', '      - { cert: a.crt, key: a.key }', '      - cert: /certs/b.crt', '        key: /certs/b.key').trimEnd()),
    F,
  );
  t.deepEqual(
    c.frontends[0].tls.certificates.map((p) => p.cert),
    ['/etc/flagman/a.crt', '/certs/b.crt'],
  );
});

test('tls: unknown key', rejects, base('    tls: { cert: a.crt, key: a.key, ca: x.crt }'), [
  ['4:37', 'CONFIG_SCHEMA', /unknown key "ca" in frontends\.web\.tls \(known: cert, key\)/],
]);

test(
  'tls: a pair without its key, and a list item that is not a pair',
  rejects,
  base(lines('    tls:', '      - { cert: a.crt }', '      - a.crt').trimEnd()),
  [
    ['5:9', 'CONFIG_SCHEMA', /frontends\.web\.tls\[0\]: missing required key "key"/],
    ['6:9', 'CONFIG_SCHEMA', /frontends\.web\.tls\[1\]: expected a map, got the string "a\.crt"/],
  ],
);

test('tls: an empty list', rejects, base('    tls: []'), [
  ['4:10', 'CONFIG_SCHEMA', /frontends\.web\.tls: needs at least one \{cert, key\} pair/],
]);

test('tls: an empty path', rejects, base('    tls: { cert: "", key: k }'), [
  ['4:18', 'CONFIG_SCHEMA', /frontends\.web\.tls\.cert: must not be empty/],
]);

test(
  'tls: not on a tcp frontend',
  rejects,
  base('    mode: tcp\n    tls: { cert: a.crt, key: a.key }').replace('      - use: app', '      - use: db') +
    lines('  db:', '    mode: tcp', '    servers: { d1: { address: 127.0.0.1:5432 } }'),
  [['5:5', 'CONFIG_SCHEMA', /frontends\.web\.tls: TLS is for http frontends; a tcp frontend passes its bytes through untouched/]],
);

test('redirect: an http backend, not for a tcp frontend', (t) => {
  const text = base('    mode: tcp').replace('      - use: app', '      - use: r') + lines('  r:', '    redirect: {}');
  const err = t.throws(() => parseConfigText(text, F), { instanceOf: FlagmanErrors });
  t.regex(err.message, /tcp.*(http|redirect)|(http|redirect).*tcp/i);
});

test("redirect: defaults are https, the scheme's own port, 301", (t) => {
  const c = parseConfigText(
    base(undefined, '  to-https:', '    redirect: {}', '  moved:', '    redirect: { scheme: http, port: 8080, status: 308 }'),
    F,
  );
  const [, toHttps, moved] = c.backends;
  t.like(toHttps, { kind: 'redirect', scheme: 'https', port: null, status: 301 });
  t.like(moved, { kind: 'redirect', scheme: 'http', port: 8080, status: 308 });
});

test(
  'redirect: bad scheme, port and status, unknown key',
  rejects,
  base(undefined, '  r:', '    redirect: { scheme: ftp, port: 0, status: 305, host: x }'),
  [
    ['12:25', 'CONFIG_SCHEMA', /backends\.r\.redirect\.scheme: expected one of http, https, got the string "ftp"/],
    ['12:36', 'CONFIG_SCHEMA', /backends\.r\.redirect\.port: must be from 1 to 65535, not 0/],
    ['12:47', 'CONFIG_SCHEMA', /backends\.r\.redirect\.status: a redirect status is one of 301, 302, 303, 307, 308, not 305/],
    ['12:52', 'CONFIG_SCHEMA', /unknown key "host" in backends\.r\.redirect/],
  ],
);

test(
  'redirect: with servers, or with proxy-only keys',
  rejects,
  base(undefined, '    redirect: {}', '  r:', '    balance: leastconn', '    redirect: {}'),
  [
    ['11:5', 'CONFIG_SCHEMA', /backends\.app: has both servers and redirect/],
    ['13:5', 'CONFIG_SCHEMA', /backends\.r\.balance: only a backend with servers takes balance/],
  ],
);

// SNI lookup (tls/pair.ts): exact names first, then a wildcard one label up, else the first pair.
const set = new CertSet([
  { names: ['a.test', 'www.a.test'], context: 'A' },
  { names: ['*.b.test', 'a.test'], context: 'B' },
  { names: ['c.test'], context: 'C' },
]);
for (const [name, want] of [
  ['a.test', 'A'], // named by two pairs: the first wins
  ['WWW.A.test', 'A'],
  ['x.b.test', 'B'],
  ['b.test', 'A'], // a wildcard does not match the bare domain
  ['y.x.b.test', 'A'], // nor two labels down
  ['c.test', 'C'],
  ['unknown.test', 'A'],
  ['', 'A'],
]) {
  test(`SNI: ${JSON.stringify(name)} gets ${want}`, (t) => t.is(set.pick(name), want));
}
