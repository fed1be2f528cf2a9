// Header rewriting, as a table of raw header lists in and out.
import test from 'ava';
import { upstreamRequestHeaders } from '../../dist/proxy/headers.js';

// From an untrusted peer unless a case says `trusted` (docs/proxying.md, "Behind a load balancer").
// client.ip is the peer's unless a case says (a trusted peer's X-Forwarded-For named another).
const fwd = { peer: '192.0.2.1', clientIp: '192.0.2.1', trusted: false, proto: 'http' };
const tail = (host) => ['X-Forwarded-For', '192.0.2.1', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', host, 'X-Real-IP', '192.0.2.1'];

const cases = [
  {
    title: 'keeps ordinary headers in order and spelling',
    raw: ['Host', 'a', 'Accept', '*/*', 'x-Custom', '1'],
    out: ['Host', 'a', 'Accept', '*/*', 'x-Custom', '1', ...tail('a')],
  },
  {
    title: 'drops hop-by-hop headers',
    raw: [
      'Host',
      'a',
      'Connection',
      'keep-alive',
      'Keep-Alive',
      '5',
      'TE',
      'trailers',
      'Upgrade',
      'x',
      'Proxy-Connection',
      'x',
      'Trailer',
      'x',
    ],
    connection: 'keep-alive',
    out: ['Host', 'a', ...tail('a')],
  },
  {
    title: 'drops headers named in Connection',
    raw: ['Host', 'a', 'Connection', 'X-Foo, close', 'X-Foo', '1', 'X-Bar', '2'],
    connection: 'X-Foo, close',
    out: ['Host', 'a', 'X-Bar', '2', ...tail('a')],
  },
  {
    title: 'a trusted peer: appends it to X-Forwarded-For, joining repeats',
    trusted: true,
    raw: ['Host', 'a', 'X-Forwarded-For', '10.0.0.1', 'x-forwarded-for', '10.0.0.2'],
    clientIp: '10.0.0.2',
    out: [
      'Host',
      'a',
      'X-Forwarded-For',
      '10.0.0.1, 10.0.0.2, 192.0.2.1',
      'X-Forwarded-Proto',
      'http',
      'X-Forwarded-Host',
      'a',
      'X-Real-IP',
      '10.0.0.2',
    ],
  },
  {
    title: 'an untrusted peer: X-Forwarded-For is the peer alone',
    raw: ['Host', 'a', 'X-Forwarded-For', '10.0.0.1', 'x-forwarded-for', '10.0.0.2'],
    out: ['Host', 'a', ...tail('a')],
  },
  {
    title: 'an untrusted peer: its X-Forwarded-Proto/-Host replaced',
    raw: ['Host', 'a:8080', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'evil'],
    out: ['Host', 'a:8080', ...tail('a:8080')],
  },
  {
    title: 'a trusted peer: its X-Forwarded-Proto/-Host kept (the first of each)',
    trusted: true,
    raw: ['Host', 'a:8080', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'shop.example', 'X-Forwarded-Proto', 'http'],
    out: [
      'Host',
      'a:8080',
      'X-Forwarded-For',
      '192.0.2.1',
      'X-Forwarded-Proto',
      'https',
      'X-Forwarded-Host',
      'shop.example',
      'X-Real-IP',
      '192.0.2.1',
    ],
  },
  {
    title: 'an untrusted peer: its X-Real-IP replaced with client.ip',
    raw: ['Host', 'a', 'X-Real-IP', '10.0.0.1', 'Accept', '*/*'],
    out: ['Host', 'a', 'Accept', '*/*', ...tail('a')],
  },
  {
    title: 'a trusted peer: its X-Real-IP replaced too, with the client its X-Forwarded-For names',
    trusted: true,
    clientIp: '198.51.100.9',
    raw: ['Host', 'a', 'x-real-ip', '10.0.0.1', 'X-Forwarded-For', '198.51.100.9', 'X-Real-IP', '10.0.0.2'],
    out: [
      'Host',
      'a',
      'X-Forwarded-For',
      '198.51.100.9, 192.0.2.1',
      'X-Forwarded-Proto',
      'http',
      'X-Forwarded-Host',
      'a',
      'X-Real-IP',
      '198.51.100.9',
    ],
  },
  {
    title: 'an untrusted peer: Forwarded dropped',
    raw: ['Host', 'a', 'Forwarded', 'for=10.0.0.1', 'Accept', '*/*'],
    out: ['Host', 'a', 'Accept', '*/*', ...tail('a')],
  },
  {
    title: 'a trusted peer: Forwarded passed on as it came',
    trusted: true,
    raw: ['Host', 'a', 'Forwarded', 'for=198.51.100.9', 'Accept', '*/*'],
    out: ['Host', 'a', 'Forwarded', 'for=198.51.100.9', 'Accept', '*/*', ...tail('a')],
  },
  {
    title: 'keeps chunked framing',
    raw: ['Host', 'a', 'Transfer-Encoding', 'chunked'],
    out: ['Host', 'a', 'Transfer-Encoding', 'chunked', ...tail('a')],
  },
  { title: 'refuses a duplicate Host', raw: ['Host', 'a', 'host', 'b'], out: 'duplicate Host header' },
  { title: 'refuses a missing Host', raw: ['Accept', '*/*'], out: 'missing Host header' },
  { title: 'refuses an invalid Host', raw: ['Host', 'a b'], out: 'invalid Host header' },
  {
    title: 'refuses Transfer-Encoding other than chunked',
    raw: ['Host', 'a', 'Transfer-Encoding', 'gzip, chunked'],
    out: 'Transfer-Encoding other than chunked',
  },
  {
    title: 'refuses a repeated Transfer-Encoding',
    raw: ['Host', 'a', 'Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked'],
    out: 'Transfer-Encoding other than chunked',
  },
];

for (const c of cases) {
  test(`request headers: ${c.title}`, (t) => {
    t.deepEqual(
      upstreamRequestHeaders(c.raw, c.connection, { ...fwd, trusted: c.trusted === true, clientIp: c.clientIp ?? fwd.clientIp }),
      c.out,
    );
  });
}

test('request headers with "_" in a name: forwarded by default, refused or dropped as configured', (t) => {
  const raw = ['Host', 'a', 'X_User', 'forged', 'X-User', 'ok'];
  t.deepEqual(upstreamRequestHeaders(raw, undefined, fwd), ['Host', 'a', 'X_User', 'forged', 'X-User', 'ok', ...tail('a')]);
  t.deepEqual(upstreamRequestHeaders(raw, undefined, { ...fwd, underscores: 'allow' }), upstreamRequestHeaders(raw, undefined, fwd));
  t.is(upstreamRequestHeaders(raw, undefined, { ...fwd, underscores: 'refuse' }), 'header name with "_": X_User');
  t.deepEqual(upstreamRequestHeaders(raw, undefined, { ...fwd, underscores: 'drop' }), ['Host', 'a', 'X-User', 'ok', ...tail('a')]);
});
