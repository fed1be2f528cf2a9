// A frontend's trustedProxies in flagman.yaml: what it reads to, and each mistake as an error at
// its file:line:col — from loading (the wrong kind, a tcp frontend) and from compiling (not an
// address or a block), as `flagman check` reports them.
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
  t.deepEqual(list.config.frontends[0].trustedProxies.map((p) => p.text), ['10.0.0.0/8', '192.0.2.1', '2001:db8::/32', '::1']);
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
  t.deepEqual(errorsOf(t, config('    trustedProxies: ["2001:db8::/129"]')), ['4:22 CONFIG_SCHEMA frontends.web.trustedProxies[0]: "2001:db8::/129": an IPv6 prefix length is at most 128']);
  t.deepEqual(errorsOf(t, config('    trustedProxies: [8, { a: 1 }]')), [
    '4:22 CONFIG_SCHEMA frontends.web.trustedProxies[0]: expected an address or CIDR block such as 10.0.0.0/8 or 2001:db8::/32, got the number 8',
    '4:25 CONFIG_SCHEMA frontends.web.trustedProxies[1]: expected an address or CIDR block such as 10.0.0.0/8 or 2001:db8::/32, got a map',
  ]);
});

test('trustedProxies on a tcp frontend is an error at the key', (t) => {
  t.deepEqual(errorsOf(t, config('    mode: tcp', '    trustedProxies: ["10.0.0.0/8"]').replace('s1: { address', 's1: { address').replace('  app:\n', '  app:\n    mode: tcp\n')), [
    '5:5 CONFIG_SCHEMA frontends.web.trustedProxies: a tcp frontend passes bytes through without reading requests; only an http frontend takes trustedProxies (X-Forwarded-For is an HTTP header)',
  ]);
});
