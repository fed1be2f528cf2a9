// Cidr: block parsing (at load) and the allocation-free address parsing behind containsIP (per
// request), checked against node:net's own idea of a valid address.
import test from 'ava';
import net from 'node:net';
import { Cidr } from '../../dist/expr/ip.js';

const block = (text) => {
  const c = Cidr.parse(text);
  if (typeof c === 'string') throw new Error(`${text}: ${c}`);
  return c;
};

test('block syntax errors say why', (t) => {
  t.is(Cidr.parse('10.0.0.0/33'), 'an IPv4 prefix length is at most 32');
  t.is(Cidr.parse('::/129'), 'an IPv6 prefix length is at most 128');
  t.is(Cidr.parse('10.0.0.0/'), 'the prefix length is not a number');
  t.is(Cidr.parse('10.0.0.0/08'), 'the prefix length is not a number');
  t.is(Cidr.parse('10.0.0.0/-1'), 'the prefix length is not a number');
  for (const bad of ['', '/8', '10.0.0/8', '10.0.0.256/8', 'fe80::1%eth0/64', 'example.com/8', '1::2::3/64']) {
    t.is(Cidr.parse(bad), 'not an IPv4 or IPv6 address or CIDR block', bad);
  }
});

test('host bits in a block are masked off', (t) => {
  t.true(block('10.1.2.3/8').containsIP('10.200.0.1'));
  t.true(block('2001:db8::1/32').containsIP('2001:db8:1::'));
  t.is(block('10.1.2.3/8').bits, 8);
  t.is(String(block('10.1.2.3/8')), '10.1.2.3/8');
});

// Addresses containsIP must read exactly like node:net does: a /0 block contains every valid
// address of its family (mapped IPv4 counts for IPv4) and none of the invalid ones.
const addresses = [
  '0.0.0.0',
  '255.255.255.255',
  '1.2.3.4',
  '01.2.3.4',
  '1.2.3',
  '1.2.3.4.5',
  '1.2.3.256',
  '1..3.4',
  '1.2.3.4 ',
  '::',
  '::1',
  '1::',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:7::',
  '::2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7::8',
  ':::1',
  '1::2::3',
  '12345::',
  'g::1',
  '1:',
  ':1',
  '1:2:3:4:5:6:1.2.3.4',
  '::ffff:1.2.3.4',
  '::ffff:1.2.3',
  '::1.2.3.4',
  'fe80::1%eth0',
  'ABCD:EF01::',
  '',
  'localhost',
];

for (const ip of addresses) {
  test(`containsIP reads ${JSON.stringify(ip)} as node:net does`, (t) => {
    const family = net.isIP(ip.replace(/%.*/, ''));
    const v4 = block('0.0.0.0/0').containsIP(ip);
    const v6 = block('::/0').containsIP(ip);
    // An IPv6 block also sees a plain IPv4 address as its mapped form.
    t.is(v6, family !== 0, 'in ::/0');
    const mapped = family === 6 && /^::ffff:/i.test(ip);
    t.is(v4, family === 4 || mapped, 'in 0.0.0.0/0');
  });
}
