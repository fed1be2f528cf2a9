// The PROXY protocol header (src/proxy/proxy-header.ts): each valid form, each malformed one, and
// properties over random and hostile bytes — nothing throws, no address comes out of anything but
// a valid header, every strict prefix of a valid header asks for more, and what is built parses
// back to what it was built from, whatever follows it.
import net from 'node:net';
import test from 'ava';
import fc from 'fast-check';
import {
  MAX_V2_BYTES,
  V1_MAX_BYTES,
  V2_SIGNATURE,
  buildProxyHeader,
  localHeader,
  parseProxyHeader,
} from '../../dist/proxy/proxy-header.js';

const SIG = [...V2_SIGNATURE];
const b = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const len16 = (n) => [n >> 8, n & 0xff];

test("v1: TCP4 and TCP6, the header's length, the bytes after it left alone", (t) => {
  const r = parseProxyHeader(b('PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\nGET / HTTP/1.1\r\n'));
  t.deepEqual(r, {
    kind: 'proxy',
    version: 1,
    family: 'IPv4',
    source: { address: '203.0.113.7', port: 56324 },
    destination: { address: '192.0.2.1', port: 443 },
    length: 44,
  });
  // IPv6 comes out as Node writes a socket's address: lower case, compressed.
  t.like(parseProxyHeader(b('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::FFFF:192.0.2.1 1 65535\r\n')), {
    kind: 'proxy',
    family: 'IPv6',
    source: { address: '2001:db8::1', port: 1 },
    destination: { address: '::ffff:192.0.2.1', port: 65535 },
  });
  t.deepEqual(parseProxyHeader(b('PROXY UNKNOWN\r\n')), { kind: 'local', version: 1, length: 15 });
  t.deepEqual(parseProxyHeader(b('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nx')), { kind: 'local', version: 1, length: 35 });
});

test("v2: PROXY over IPv4 and IPv6, LOCAL, TLVs skipped, other families keep the connection's address", (t) => {
  const v4 = b(SIG, [0x21, 0x11, ...len16(12), 203, 0, 113, 7, 192, 0, 2, 1, ...len16(56324), ...len16(443)], 'rest');
  t.deepEqual(parseProxyHeader(v4), {
    kind: 'proxy',
    version: 2,
    family: 'IPv4',
    source: { address: '203.0.113.7', port: 56324 },
    destination: { address: '192.0.2.1', port: 443 },
    length: 28,
  });
  const six = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1];
  const v6 = b(SIG, [0x21, 0x21, ...len16(36), ...six, ...new Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1, 0, 80, 1, 187]);
  t.like(parseProxyHeader(v6), {
    kind: 'proxy',
    family: 'IPv6',
    source: { address: '2001:db8::1', port: 80 },
    destination: { address: '::ffff:10.0.0.1', port: 443 },
    length: 52,
  });
  // A TLV (type 0x04, NOOP... any) after the addresses: counted in the length, skipped.
  const tlv = b(SIG, [0x21, 0x11, ...len16(12 + 7), 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2, 0xea, 0, 4, 0x61, 0x62, 0x63, 0x64], 'GET');
  t.like(parseProxyHeader(tlv), { kind: 'proxy', source: { address: '1.2.3.4', port: 1 }, length: 16 + 19 });
  t.deepEqual(parseProxyHeader(b(SIG, [0x20, 0x00, 0, 0])), { kind: 'local', version: 2, length: 16 });
  // LOCAL with an address block (some balancers send one): skipped too.
  t.deepEqual(parseProxyHeader(b(SIG, [0x20, 0x11, ...len16(12), ...new Array(12).fill(9)])), { kind: 'local', version: 2, length: 28 });
  // PROXY over UNSPEC, UNIX or UDP names no TCP client: the connection's own address stays (HAProxy's way).
  t.deepEqual(parseProxyHeader(b(SIG, [0x21, 0x00, 0, 0])), { kind: 'local', version: 2, length: 16 });
  t.deepEqual(parseProxyHeader(b(SIG, [0x21, 0x12, ...len16(12), ...new Array(12).fill(1)])), { kind: 'local', version: 2, length: 28 });
  t.deepEqual(parseProxyHeader(b(SIG, [0x21, 0x31, ...len16(216), ...new Array(216).fill(0x2f)])), {
    kind: 'local',
    version: 2,
    length: 232,
  });
});

test('what is refused, each at once', (t) => {
  const cases = [
    ['GET / HTTP/1.1\r\n', 'no PROXY header'],
    ['\x16\x03\x01', 'no PROXY header'],
    ['P', null],
    ['PRXY ', 'no PROXY header'],
    ['PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n', 'v1 header with protocol "TCP5"'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n', 'v1 header not ended by CRLF'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\r\n', 'v1 header not ended by CRLF'],
    ['PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n', 'v1 header without its four fields'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n', 'v1 header without its four fields'],
    ['PROXY TCP4 ::1 1.2.3.4 1 2\r\n', 'v1 TCP4 header with an address that is not IPv4'],
    ['PROXY TCP6 1.2.3.4 ::1 1 2\r\n', 'v1 TCP6 header with an address that is not IPv6'],
    ['PROXY TCP4 1.2.3.04 1.2.3.4 1 2\r\n', 'v1 TCP4 header with an address that is not IPv4'],
    ['PROXY TCP4 1.2.3.256 1.2.3.4 1 2\r\n', 'v1 TCP4 header with an address that is not IPv4'],
    ['PROXY TCP6 1::2::3 ::1 1 2\r\n', 'v1 TCP6 header with an address that is not IPv6'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n', 'v1 header with a port that is not 0–65535'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n', 'v1 header with a port that is not 0–65535'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n', 'v1 header with a port that is not 0–65535'],
    ['PROXY TCP4 1.2.3.4\x00', 'v1 header with a byte that is not text'],
    [`PROXY UNKNOWN ${'x'.repeat(V1_MAX_BYTES)}`, `v1 header longer than ${V1_MAX_BYTES} bytes`],
  ];
  for (const [text, reason] of cases) {
    const r = parseProxyHeader(b(text));
    t.deepEqual(r, reason === null ? { kind: 'more' } : { kind: 'invalid', reason }, JSON.stringify(text));
  }
  const v2 = [
    [[...SIG.slice(0, 11), 0x0b], 'v2 header with a bad signature'],
    [[...SIG, 0x11], 'v2 header with version 1'],
    [[...SIG, 0x22, 0x11, 0, 12], 'v2 header with command 2'],
    [[...SIG, 0x21, 0x41, 0, 12], 'v2 header with address family 4'],
    [[...SIG, 0x21, 0x13, 0, 12], 'v2 header with transport 3'],
    [[...SIG, 0x21, 0x11, 0, 11], 'v2 header length 11 too short for its addresses (12)'],
    [[...SIG, 0x21, 0x21, 0, 12], 'v2 header length 12 too short for its addresses (36)'],
    [[...SIG, 0x20, 0x31, 0, 0], 'v2 header length 0 too short for its addresses (216)'],
    [[...SIG, 0x21, 0x11, ...len16(MAX_V2_BYTES)], `v2 header of ${16 + MAX_V2_BYTES} bytes, over ${MAX_V2_BYTES}`],
  ];
  for (const [bytes, reason] of v2) t.deepEqual(parseProxyHeader(Buffer.from(bytes)), { kind: 'invalid', reason }, reason);
});

test('building: TCP4 when both ends are IPv4 (mapped ones too), TCP6 otherwise; LOCAL and UNKNOWN for checks', (t) => {
  const src = { address: '203.0.113.7', port: 56324 };
  const dst = { address: '192.0.2.1', port: 443 };
  t.is(buildProxyHeader(1, src, dst).toString(), 'PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n');
  t.is(
    buildProxyHeader(1, { address: '::ffff:203.0.113.7', port: 1 }, { address: '::ffff:192.0.2.1', port: 2 }).toString(),
    'PROXY TCP4 203.0.113.7 192.0.2.1 1 2\r\n',
  );
  t.is(
    buildProxyHeader(1, { address: '2001:db8::1', port: 1 }, { address: '192.0.2.1', port: 2 }).toString(),
    'PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 1 2\r\n',
  );
  t.deepEqual([...buildProxyHeader(2, src, dst)], [...SIG, 0x21, 0x11, 0, 12, 203, 0, 113, 7, 192, 0, 2, 1, 0xdc, 0x04, 0x01, 0xbb]);
  t.is(localHeader(1).toString(), 'PROXY UNKNOWN\r\n');
  t.deepEqual([...localHeader(2)], [...SIG, 0x20, 0x00, 0, 0]);
  // A socket with no IP address to tell (none at all): a header that says so.
  t.is(buildProxyHeader(1, { address: '', port: 0 }, dst).toString(), 'PROXY UNKNOWN\r\n');
});

// Endpoints as they come from sockets: IPv4, IPv6 in Node's form, IPv4-mapped IPv6.
const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((q) => q.join('.'));
const v6 = fc
  .ipV6()
  .map((a) => parseProxyHeader(Buffer.from(`PROXY TCP6 ${a} ::1 1 1\r\n`)).source?.address)
  .filter((a) => a !== undefined);
const endpoint = (address) => fc.record({ address, port: fc.nat(65535) });
const pair = fc.oneof(fc.tuple(endpoint(v4), endpoint(v4)), fc.tuple(endpoint(v6), endpoint(v6)), fc.tuple(endpoint(v4), endpoint(v6)));
const version = fc.constantFrom(1, 2);
// What a mixed pair becomes: IPv4 written IPv4-mapped beside an IPv6 address.
const expected = ([s, d]) => {
  const both4 = net.isIPv4(s.address) && net.isIPv4(d.address);
  const map = (e) => (both4 || !net.isIPv4(e.address) ? e : { address: `::ffff:${e.address}`, port: e.port });
  return { family: both4 ? 'IPv4' : 'IPv6', source: map(s), destination: map(d) };
};

test("property: build, then parse, gives back the endpoints and the header's length, whatever follows", (t) => {
  fc.assert(
    fc.property(version, pair, fc.uint8Array({ maxLength: 64 }), (ver, ends, rest) => {
      const header = buildProxyHeader(ver, ends[0], ends[1]);
      const r = parseProxyHeader(Buffer.concat([header, rest]));
      t.deepEqual(r, { kind: 'proxy', version: ver, ...expected(ends), length: header.length });
    }),
  );
});

test('property: every strict prefix of a valid header asks for more, fed byte by byte', (t) => {
  fc.assert(
    fc.property(version, pair, fc.uint8Array({ maxLength: 40 }), (ver, ends, tlvs) => {
      let header = buildProxyHeader(ver, ends[0], ends[1]);
      // v2 with TLV bytes after the addresses (a balancer's own): counted in the length.
      if (ver === 2) {
        header = Buffer.concat([header, tlvs]);
        header.writeUInt16BE(header.length - 16, 14);
      }
      for (let n = 0; n < header.length; n++) t.deepEqual(parseProxyHeader(header.subarray(0, n)), { kind: 'more' });
      t.is(parseProxyHeader(header).length, header.length);
    }),
  );
});

/** What parse says of `bytes`, checked: it never throws, and an address comes only out of a valid header. */
function checked(bytes) {
  const r = parseProxyHeader(bytes);
  if (r.kind === 'proxy') {
    if (!(r.length <= bytes.length && r.length > 0)) return false;
    const isFamily = r.family === 'IPv4' ? net.isIPv4 : net.isIPv6;
    if (!isFamily(r.source.address) || !isFamily(r.destination.address)) return false;
    if (![r.source.port, r.destination.port].every((p) => Number.isInteger(p) && p >= 0 && p <= 65535)) return false;
    // The header it came from is one: rebuilt, a v1 one is the same bytes; a v2 one has its fixed part.
    const rebuilt = buildProxyHeader(r.version, r.source, r.destination);
    if (r.version === 1) return rebuilt.equals(bytes.subarray(0, r.length)) || /^PROXY TCP6 /.test(bytes.toString('latin1'));
    return rebuilt.subarray(16).equals(bytes.subarray(16, 16 + rebuilt.length - 16)) && bytes[12] === 0x21;
  }
  if (r.kind === 'local')
    return (
      r.length <= bytes.length &&
      (bytes.subarray(0, 12).equals(V2_SIGNATURE) || bytes.subarray(0, 14).toString('latin1') === 'PROXY UNKNOWN')
    );
  return r.kind === 'more' || (r.kind === 'invalid' && typeof r.reason === 'string');
}

test('property: random bytes never throw and never name a client', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const r = parseProxyHeader(Buffer.from(bytes));
      return checked(Buffer.from(bytes)) && r.kind !== 'proxy';
    }),
    { numRuns: 5000 },
  );
  // Random bytes after each signature: the parser gets past the first byte.
  fc.assert(
    fc.property(
      fc.constantFrom(V2_SIGNATURE, Buffer.from('PROXY '), Buffer.from('PROXY TCP4 '), Buffer.from('PROXY TCP6 ')),
      fc.uint8Array({ maxLength: 300 }),
      (head, bytes) => checked(Buffer.concat([head, bytes])),
    ),
    { numRuns: 5000 },
  );
  t.pass();
});

test('property: a valid header with bytes flipped, cut or repeated never throws, and anything it names is valid', (t) => {
  const hostile = fc
    .tuple(version, pair, fc.array(fc.tuple(fc.nat(120), fc.nat(255)), { maxLength: 4 }), fc.nat(130), fc.boolean())
    .map(([ver, ends, flips, cut, twice]) => {
      const header = Buffer.from(buildProxyHeader(ver, ends[0], ends[1]));
      for (const [i, v] of flips) if (i < header.length) header[i] = v;
      const bytes = twice ? Buffer.concat([header, header]) : header;
      return bytes.subarray(0, Math.min(bytes.length, cut + 1));
    });
  fc.assert(fc.property(hostile, checked), { numRuns: 5000 });
  // A length field anywhere up to 65535: refused past MAX_V2_BYTES, never read past the buffer.
  fc.assert(
    fc.property(fc.nat(65535), fc.nat(0xff), fc.uint8Array({ maxLength: 300 }), (len, famProto, body) => {
      const bytes = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, famProto, ...len16(len)]), body]);
      const r = parseProxyHeader(bytes);
      if (16 + len > MAX_V2_BYTES && r.kind !== 'invalid') return false;
      return checked(bytes);
    }),
    { numRuns: 5000 },
  );
  t.pass();
});
