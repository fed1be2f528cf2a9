import fs from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import {
  AccessRecord,
  clfLine,
  clfQuoted,
  clfTime,
  fieldWriters,
  jsonMembers,
  jsonText,
  msText,
  tlsVersionOf,
} from '../../dist/access-line.js';
import { ACCESS_FIELDS } from '../../dist/config/sections.js';

function request(over = {}) {
  return { method: 'GET', url: '/cart?id=1', httpVersion: '1.1', httpVersionMajor: 1, headers: {}, ...over };
}

function record(over = {}) {
  const r = new AccessRecord();
  Object.assign(
    r,
    {
      frontend: 'web',
      backend: 'app',
      server: 'app1',
      req: request(),
      status: 200,
      bytesIn: 0,
      bytesOut: 5,
      ms: 12.3456789,
      ttfbMs: 10,
      connectMs: 0.25,
      tries: 1,
      ip: '203.0.113.7',
      peer: '203.0.113.7',
    },
    over,
  );
  return r;
}

const line = (r, fields) => JSON.parse(`{${jsonMembers(r, fields).slice(1)}}`);

test('a JSON line has every field that applies, in the documented order, and leaves out the rest', (t) => {
  const got = line(record());
  t.deepEqual(Object.keys(got), [
    'frontend',
    'backend',
    'server',
    'method',
    'path',
    'proto',
    'status',
    'bytesIn',
    'bytes',
    'connectMs',
    'ttfbMs',
    'ms',
    'tries',
    'ip',
  ]);
  t.like(got, { proto: 'HTTP/1.1', ms: 12.346, ttfbMs: 10, connectMs: 0.25 });
  const more = line(
    record({
      peer: '10.0.0.5',
      id: 'abc',
      queueMs: 3,
      headMs: 0.5,
      tls: 'TLSv1.3',
      reason: 'client closed',
      req: request({ httpVersion: '2.0', httpVersionMajor: 2 }),
    }),
  );
  t.like(more, { peer: '10.0.0.5', id: 'abc', queueMs: 3, headMs: 0.5, tls: 'TLSv1.3', reason: 'client closed', proto: 'h2' });
  const tcp = line(record({ tcp: true, req: null, bytesIn: 7, bytesOut: 9 }));
  t.like(tcp, { mode: 'tcp', bytesIn: 7, bytesOut: 9 });
  for (const absent of ['method', 'path', 'status', 'bytes', 'proto']) t.false(absent in tcp, absent);
  const head = line(record({ req: null, status: 408, tries: 0 }));
  t.like(head, { method: null, path: null, status: 408, tries: 0 });
});

test('every field at once is every field one by one, in the order of the config table', (t) => {
  const every = fieldWriters(Object.keys(ACCESS_FIELDS));
  const records = [
    record(),
    record({
      peer: '10.0.0.5',
      id: 'a"b',
      queueMs: 3,
      headMs: 0.5,
      tls: 'TLSv1.3',
      reason: 'client closed',
      upgrade: 'websocket',
      bytesIn: -1,
    }),
    record({ tcp: true, req: null, bytesIn: 7, bytesOut: 9, reason: 'idle timeout' }),
    record({ req: null, status: 408, tries: 0, backend: null, server: null }),
  ];
  for (const r of records) t.is(jsonMembers(r), jsonMembers(r, every));
});

test('log.access.fields: exactly those fields, in that order', (t) => {
  const got = line(record({ queueMs: 2 }), fieldWriters(['ms', 'status', 'ip', 'queueMs', 'peer']));
  t.deepEqual(Object.keys(got), ['ms', 'status', 'ip', 'queueMs']);
});

test('every field is in the docs table, and the table lists no other', (t) => {
  const docs = fs.readFileSync(new URL('../../docs/logs.md', import.meta.url), 'utf8');
  const section = docs.slice(docs.indexOf('## The access log'), docs.indexOf('## Events'));
  const listed = [...section.matchAll(/^\| (`[^|]+`) \|/gm)].flatMap((m) => [...m[1].matchAll(/`(\w+)`/g)].map((x) => x[1]));
  t.deepEqual(new Set(listed), new Set(['time', ...Object.keys(ACCESS_FIELDS)]));
});

test('any path, header or name gives a line that parses back to what was sent', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (path, name) => {
      const got = line(record({ req: request({ url: path }), frontend: name, reason: name }));
      return got.path === path && got.frontend === name && got.reason === name;
    }),
  );
  t.pass();
});

test('a string is quoted exactly as JSON.stringify quotes it, lone surrogates, controls and all', (t) => {
  for (const s of ['app1', '', '/a"b', 'a\\b', '\u0000\u001f', '\ud800', 'x\udfffy', '\ud83d\ude00', '\u2028', '\u00e9\u007f'])
    t.is(jsonText(s), JSON.stringify(s), JSON.stringify(s));
  t.is(jsonText(null), 'null');
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) })),
      (s) => jsonText(s) === JSON.stringify(s),
    ),
  );
});

test('a time is written to the microsecond exactly as the number rounded to 3 decimals prints', (t) => {
  const slow = (ms) => String(Math.round(ms * 1000) / 1000);
  for (const ms of [
    0,
    0.0004,
    0.0005,
    0.001,
    0.01,
    0.05,
    0.1,
    1,
    1.1,
    13.208,
    13.2,
    99.999,
    100.05,
    1e6 + 0.007,
    8.9e12,
    9.1e12,
    1e300,
    Number.NaN,
  ])
    t.is(msText(ms), slow(ms), String(ms));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.double({ min: 0, max: 1e7, noNaN: true }),
        fc.double({ min: 0, noNaN: true }),
        fc.integer({ min: 0, max: 1e9 }).map((us) => us / 1000),
      ),
      (ms) => msText(ms) === slow(ms),
    ),
  );
});

test("a connection's TLS version is asked of OpenSSL once, and not kept while it is not known", (t) => {
  let asked = 0;
  let version = null;
  const socket = {
    encrypted: true,
    getProtocol: () => {
      asked++;
      return version;
    },
  };
  t.is(tlsVersionOf(socket), null); // closed before it was asked
  version = 'TLSv1.3';
  t.is(tlsVersionOf(socket), 'TLSv1.3');
  version = null;
  t.is(tlsVersionOf(socket), 'TLSv1.3');
  t.is(asked, 2);
  t.is(tlsVersionOf({ encrypted: false }), null);
  t.is(tlsVersionOf(null), null);
});

test('combined log format: the fields Apache and nginx write, the time in UTC', (t) => {
  const r = record({ req: request({ headers: { referer: 'https://shop.example/', 'user-agent': 'curl/8.5.0' } }), bytesOut: 5120 });
  const when = Date.UTC(2026, 11, 6, 14, 39, 3, 120);
  t.is(
    clfLine(r, when),
    '203.0.113.7 - - [06/Dec/2026:14:39:03 +0000] "GET /cart?id=1 HTTP/1.1" 200 5120 "https://shop.example/" "curl/8.5.0"\n',
  );
  t.is(clfLine(record({ tcp: true, req: null, bytesOut: 9 }), when), '203.0.113.7 - - [06/Dec/2026:14:39:03 +0000] "-" - 9 "-" "-"\n');
  t.is(clfTime(Date.UTC(2027, 0, 1, 0, 0, 0)), '[01/Jan/2027:00:00:00 +0000]');
});

test('combined log format: a quote, a backslash, a control or a non-ASCII byte cannot break a line or a field', (t) => {
  t.is(clfQuoted('a"b\\c\nd\x7f\xe9'), 'a\\x22b\\x5cc\\x0ad\\x7f\\xe9');
  t.is(clfQuoted(''), '-');
  t.is(clfQuoted(undefined), '-');
  fc.assert(
    fc.property(
      fc.string({ unit: 'binary' }).map((s) => Buffer.from(s).toString('latin1')),
      fc.string({ unit: 'binary' }).map((s) => Buffer.from(s).toString('latin1')),
      (path, agent) => {
        const out = clfLine(record({ req: request({ url: path, headers: { 'user-agent': agent } }) }), 0);
        // One line, and exactly six quotes: the request line's, the Referer's and the User-Agent's.
        return out.indexOf('\n') === out.length - 1 && (out.match(/"/g) ?? []).length === 6 && /^[\x20-\x7e]*\n$/.test(out);
      },
    ),
  );
  t.pass();
});
