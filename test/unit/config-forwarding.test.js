// A frontend's trustedProxies and requestId in flagman.yaml: what they read to, and each mistake as
// an error at its file:line:col — from loading (the wrong kind, a tcp frontend, a header flagman
// manages) and from compiling (not an address or a block), as `flagman check` reports them.
import test from 'ava';
import { parseConfigText } from '../../dist/config/load.js';
import { compileProgram } from '../../dist/runtime/compile.js';
import { FlagmanErrors } from '../../dist/errors.js';

const F = 'flagman.yaml';
const lines = (...l) => `${l.join('\n')}\n`;
const config = (...frontend) =>
  lines(
    'frontends:', //                            1
    '  web:', //                                2
    '    listen: ":0"', //                      3
    ...frontend, //                             4…
    '    rules:',
    '      - use: app',
    'backends:',
    '  app:',
    '    servers:',
    '      s1: { address: 127.0.0.1:9001 }',
  );

/** Every error of loading and compiling `text`, as "line:col CODE reason". */
function errorsOf(t, text) {
  const err = t.throws(() => compileProgram(parseConfigText(text, F)), { instanceOf: FlagmanErrors });
  return err.errors.map((e) => `${e.at.line}:${e.at.col} ${e.code} ${e.reason}`);
}

test('trustedProxies: none by default; a list of addresses and blocks, or one', (t) => {
  const none = compileProgram(parseConfigText(config(), F));
  t.deepEqual(none.config.frontends[0].trustedProxies, []);
  t.deepEqual(none.trusted, [null]);
  const list = compileProgram(parseConfigText(config('    trustedProxies: ["10.0.0.0/8", 192.0.2.1, "2001:db8::/32", "::1"]'), F));
  t.deepEqual(
    list.config.frontends[0].trustedProxies.map((p) => p.text),
    ['10.0.0.0/8', '192.0.2.1', '2001:db8::/32', '::1'],
  );
  t.true(list.trusted[0].contains('10.1.2.3'));
  t.true(list.trusted[0].contains('2001:db8::5'));
  t.false(list.trusted[0].contains('192.0.2.2'));
  const one = compileProgram(parseConfigText(config('    trustedProxies: 10.0.0.0/8'), F));
  t.true(one.trusted[0].contains('10.9.9.9'));
  t.deepEqual(compileProgram(parseConfigText(config('    trustedProxies: []'), F)).trusted, [null]);
});

test('trustedProxies: an entry that is not an address or block is an error where it is written', (t) => {
  t.deepEqual(errorsOf(t, config('    trustedProxies:', '      - 10.0.0.0/8', '      - 10.0.0.0/33', '      - lb.example.com')), [
    '6:9 CONFIG_SCHEMA frontends.web.trustedProxies[1]: "10.0.0.0/33": an IPv4 prefix length is at most 32',
    '7:9 CONFIG_SCHEMA frontends.web.trustedProxies[2]: "lb.example.com": not an IPv4 or IPv6 address or CIDR block',
  ]);
  t.deepEqual(errorsOf(t, config('    trustedProxies: ["2001:db8::/129"]')), [
    '4:22 CONFIG_SCHEMA frontends.web.trustedProxies[0]: "2001:db8::/129": an IPv6 prefix length is at most 128',
  ]);
  t.deepEqual(errorsOf(t, config('    trustedProxies: [8, { a: 1 }]')), [
    '4:22 CONFIG_SCHEMA frontends.web.trustedProxies[0]: expected an address or CIDR block such as 10.0.0.0/8 or 2001:db8::/32, got the number 8',
    '4:25 CONFIG_SCHEMA frontends.web.trustedProxies[1]: expected an address or CIDR block such as 10.0.0.0/8 or 2001:db8::/32, got a map',
  ]);
});

test('trustedProxies on a tcp frontend is an error at the key', (t) => {
  t.deepEqual(errorsOf(t, config('    mode: tcp', '    trustedProxies: ["10.0.0.0/8"]').replace('  app:\n', '  app:\n    mode: tcp\n')), [
    '5:5 CONFIG_SCHEMA frontends.web.trustedProxies: a tcp frontend passes bytes through without reading requests; only an http frontend takes trustedProxies (X-Forwarded-For is an HTTP header)',
  ]);
});

test('requestId: off by default; true or on for X-Request-Id; a header of its own', (t) => {
  const id = (...lines) => parseConfigText(config(...lines), F).frontends[0].requestId;
  t.is(id(), null);
  t.is(id('    requestId: false'), null);
  t.is(id('    requestId: off'), null);
  t.deepEqual(id('    requestId: true'), { header: 'X-Request-Id' });
  t.deepEqual(id('    requestId: on'), { header: 'X-Request-Id' });
  t.deepEqual(id('    requestId: {}'), { header: 'X-Request-Id' });
  t.deepEqual(id('    requestId: { header: X-Correlation-ID }'), { header: 'X-Correlation-ID' });
  t.notThrows(() => compileProgram(parseConfigText(config('    requestId: true', '    trustedProxies: ["10.0.0.0/8"]'), F)));
});

test('requestId: each mistake is an error at its place', (t) => {
  t.deepEqual(errorsOf(t, config('    requestId: yes')), [
    '4:16 CONFIG_SCHEMA frontends.web.requestId: expected true, false, on or off, got the string "yes"',
  ]);
  t.deepEqual(errorsOf(t, config('    requestId: { name: X-Id }')), [
    '4:18 CONFIG_SCHEMA unknown key "name" in frontends.web.requestId (known: header)',
  ]);
  t.deepEqual(errorsOf(t, config('    requestId: { header: "X Id" }')), [
    '4:26 CONFIG_SCHEMA frontends.web.requestId.header: "X Id" is not a header name (letters, digits and !#$%&\'*+-.^_`|~)',
  ]);
  t.deepEqual(errorsOf(t, config('    requestId: { header: X-Forwarded-For }')), [
    '4:26 CONFIG_SCHEMA frontends.web.requestId.header: X-Forwarded-For is a header flagman sets or removes itself; name another, such as X-Request-Id',
  ]);
  t.deepEqual(errorsOf(t, config('    requestId: { header: x-real-ip }')), [
    '4:26 CONFIG_SCHEMA frontends.web.requestId.header: x-real-ip is a header flagman sets or removes itself; name another, such as X-Request-Id',
  ]);
  t.deepEqual(errorsOf(t, config('    requestId: { header: "" }')), [
    '4:26 CONFIG_SCHEMA frontends.web.requestId.header: must not be empty',
  ]);
});

test('requestId on a tcp frontend is an error at the key', (t) => {
  t.deepEqual(errorsOf(t, config('    mode: tcp', '    requestId: true').replace('  app:\n', '  app:\n    mode: tcp\n')), [
    '5:5 CONFIG_SCHEMA frontends.web.requestId: a tcp frontend passes bytes through without reading requests; only an http frontend takes requestId',
  ]);
});
