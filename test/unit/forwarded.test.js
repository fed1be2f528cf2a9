// The client behind trusted proxies (expr/forwarded.ts): the X-Forwarded-For walk as a table, then
// properties over any header (fast-check) — it never throws, never answers anything but the peer or
// one of the header's own addresses, and agrees with a plain model built on node:net.
import net from 'node:net';
import test from 'ava';
import fc from 'fast-check';
import { TrustedProxies, forwardedClient, forwardedHostOf, schemeOf } from '../../dist/expr/forwarded.js';
import { FlagmanErrors } from '../../dist/errors.js';

const at = { file: 'flagman.yaml', line: 1, col: 1 };
const proxies = (...texts) => TrustedProxies.parse(texts.map((text, i) => ({ text, path: `frontends.web.trustedProxies[${i}]`, at })));

const PEER = '10.0.0.9';
const LAN = proxies('10.0.0.0/8', '2001:db8::/32');

// [X-Forwarded-For, client.ip] for a request from PEER (trusted: in 10.0.0.0/8).
const WALKS = [
  [undefined, PEER],
  ['198.51.100.9', '198.51.100.9'],
  ['198.51.100.9, 10.0.0.5', '198.51.100.9'], // a balancer in 10/8 appended its own client
  ['203.0.113.7, 198.51.100.9, 10.0.0.5', '198.51.100.9'], // the client wrote the left one itself
  ['10.1.2.3', '10.1.2.3'], // every hop trusted: the left-most
  ['10.1.2.3, 10.0.0.5', '10.1.2.3'],
  ['unknown, 10.0.0.5', '10.0.0.5'], // malformed: the last good hop
  ['198.51.100.9, unknown', PEER], // the right-most malformed: the peer
  ['198.51.100.9, _hidden, 10.0.0.5', '10.0.0.5'],
  ['', PEER],
  ['   ', PEER],
  [',', PEER],
  ['198.51.100.9,', PEER],
  ['198.51.100.9,,10.0.0.5', '10.0.0.5'],
  ['\t198.51.100.9 ,\t10.0.0.5 ', '198.51.100.9'],
  ['198.51.100.9:4711', '198.51.100.9'], // a port, as some balancers write it
  ['[2001:db8:cafe::17]:4711, 10.0.0.5', '2001:db8:cafe::17'],
  ['[2001:db8:cafe::17]', '2001:db8:cafe::17'],
  ['2001:db9::1, 2001:db8::5', '2001:db9::1'],
  ['2001:db8::1, 2001:db8::5', '2001:db8::1'],
  ['198.51.100.9:99999', PEER],
  ['198.51.100.9:', PEER],
  ['[2001:db8::1', PEER],
  ['[2001:db8::1]x', PEER],
  ['fe80::1%eth0', PEER], // a zone says nothing about a client elsewhere
  ['01.2.3.4', PEER], // a leading zero is ambiguous (octal to some)
  ['198.51.100.9"', PEER],
  ['198.51.100.9 10.0.0.5', PEER],
  ['::ffff:198.51.100.9', '::ffff:198.51.100.9'],
  [['198.51.100.9', '10.0.0.5'], '198.51.100.9'], // repeated headers, not joined
];

for (const [header, client] of WALKS) {
  test(`X-Forwarded-For ${JSON.stringify(header)} from a trusted peer: client.ip ${client}`, (t) => {
    t.is(forwardedClient(header, PEER, LAN), client);
  });
}

test('trustedProxies: addresses and blocks, IPv4 and IPv6; none is null', (t) => {
  const p = proxies('192.0.2.1', '10.0.0.0/8', '2001:db8::/32', '::1');
  t.true(p.contains('192.0.2.1'));
  t.false(p.contains('192.0.2.2'));
  t.true(p.contains('10.200.0.1'));
  t.true(p.contains('::ffff:10.1.1.1'), 'a dual-stack socket reports IPv4 mapped');
  t.true(p.contains('2001:db8:ffff::1'));
  t.true(p.contains('::1'));
  t.false(p.contains('2001:db9::1'));
  t.false(p.contains('junk'));
  t.is(proxies(), null);
});

test('trustedProxies: each entry that is not an address or block is an error at its place', (t) => {
  const err = t.throws(() => proxies('10.0.0.0/8', '10.0.0.0/33', 'lb.example', 'fe80::1%eth0'), { instanceOf: FlagmanErrors });
  t.deepEqual(
    err.errors.map((e) => `${e.code} ${e.message}`),
    [
      'CONFIG_SCHEMA flagman.yaml:1:1: frontends.web.trustedProxies[1]: "10.0.0.0/33": an IPv4 prefix length is at most 32',
      'CONFIG_SCHEMA flagman.yaml:1:1: frontends.web.trustedProxies[2]: "lb.example": not an IPv4 or IPv6 address or CIDR block',
      'CONFIG_SCHEMA flagman.yaml:1:1: frontends.web.trustedProxies[3]: "fe80::1%eth0": not an IPv4 or IPv6 address or CIDR block',
    ],
  );
});

// Any header: a few kinds of entries and separators, or any text at all.
const entry = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `10.${a}.${b}.${c}`),
  fc.nat(0xffff).map((g) => `2001:db8::${g.toString(16)}`),
  fc.tuple(fc.ipV4(), fc.nat(70000)).map(([ip, port]) => `${ip}:${port}`),
  fc.tuple(fc.ipV6(), fc.nat(70000)).map(([ip, port]) => `[${ip}]:${port}`),
  fc.constantFrom('', ' ', 'unknown', '_hidden', '1.2.3', '01.2.3.4', 'fe80::1%eth0', '[::1', '"', '10.0.0.1"'),
  fc.string({ maxLength: 12 }),
);
const separator = fc.constantFrom(',', ', ', ' , ', ',\t', ',,');
const built = fc.tuple(fc.array(entry, { maxLength: 8 }), separator).map(([entries, sep]) => entries.join(sep));
const header = fc.oneof(built, fc.string({ unit: 'binary', maxLength: 60 }), fc.array(built, { maxLength: 3 }), fc.constant(undefined));
const peer = fc.oneof(fc.constant('10.0.0.9'), fc.constant('2001:db8::9'), fc.ipV4());

/** The header's entries, trimmed of blanks, as text. */
const entriesOf = (h) =>
  h === undefined
    ? []
    : [h]
        .flat()
        .join(',')
        .split(',')
        .map((e) => e.replace(/^[ \t]+|[ \t]+$/g, ''));

test('property: never throws; answers the peer or an address that is one of the header’s entries', (t) => {
  fc.assert(
    fc.property(header, peer, (h, p) => {
      const client = forwardedClient(h, p, LAN);
      if (client === p) return true;
      // A syntactically valid address (as node:net reads one), written in the header as it is, or with a port.
      if (net.isIP(client) === 0 || !/^[0-9A-Fa-f:.]+$/.test(client)) return false;
      return entriesOf(h).some((e) => e === client || e.startsWith(`${client}:`) || e.startsWith(`[${client}]`));
    }),
    { numRuns: 5000 },
  );
  t.pass();
});

// The walk, written plainly: node:net decides what an address is, a BlockList what is trusted.
const blocks = new net.BlockList();
blocks.addSubnet('10.0.0.0', 8, 'ipv4');
blocks.addSubnet('2001:db8::', 32, 'ipv6');
function model(h, p) {
  const entries = entriesOf(h);
  let client = p;
  if (h === undefined) return client;
  for (let i = entries.length - 1; i >= 0; i--) {
    const family = net.isIP(entries[i]);
    if (family === 0 || entries[i].includes('%') || (entries[i].includes('.') && family === 6)) return client;
    client = entries[i];
    if (!blocks.check(client, family === 4 ? 'ipv4' : 'ipv6')) return client;
  }
  return client;
}

test('property: on headers of bare addresses and garbage, the walk is the plain model', (t) => {
  const plain = fc.oneof(
    fc.ipV4(),
    fc.ipV6().filter((ip) => !ip.includes('.')),
    fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `10.${a}.${b}.${c}`),
    fc.nat(0xffff).map((g) => `2001:db8::${g.toString(16)}`),
    fc.constantFrom('', 'unknown', '_hidden', '1.2.3', 'fe80::1%eth0'),
  );
  const headers = fc.tuple(fc.array(plain, { minLength: 1, maxLength: 8 }), separator).map(([entries, sep]) => entries.join(sep));
  fc.assert(
    fc.property(headers, peer, (h, p) => forwardedClient(h, p, LAN) === model(h, p)),
    { numRuns: 5000 },
  );
  t.pass();
});

test('request.scheme: a trusted proxy’s X-Forwarded-Proto when it is http or https in any case; else, and from anyone else, the listener’s', (t) => {
  const scheme = (trusted, value, listener = 'http') =>
    schemeOf(trusted, listener, value === undefined ? {} : { 'x-forwarded-proto': value });
  t.is(scheme(true, 'https'), 'https');
  t.is(scheme(true, 'HTTPS'), 'https');
  t.is(scheme(true, 'http', 'https'), 'http');
  t.is(scheme(true, 'Http', 'https'), 'http');
  for (const bad of [undefined, '', 'wss', 'ftp', 'https, http', ' https', 'httpss', 'htt'])
    t.is(scheme(true, bad), 'http', JSON.stringify(bad));
  t.is(scheme(true, ['https']), 'http', 'not a string: not one value');
  t.is(scheme(false, 'https'), 'http');
  t.is(scheme(false, 'http', 'https'), 'https');
});

test('request.host: a trusted proxy’s X-Forwarded-Host when it would pass as a Host header; null otherwise, and from anyone else', (t) => {
  const host = (trusted, value) =>
    forwardedHostOf(trusted, value === undefined ? { host: 'internal' } : { host: 'internal', 'x-forwarded-host': value });
  t.is(host(true, 'shop.example'), 'shop.example');
  t.is(host(true, 'Shop.Example:8443'), 'Shop.Example:8443');
  t.is(host(true, '[2001:db8::1]:443'), '[2001:db8::1]:443');
  for (const bad of [undefined, '', 'a b', 'shop.example, internal', 'evil/path', 'user@evil', 'a\\b'])
    t.is(host(true, bad), null, JSON.stringify(bad));
  t.is(host(false, 'shop.example'), null);
});
