// The per-protocol tables of the one request handler (src/proxy/handler.ts): HTTP/1.1 over TCP and
// TLS, and HTTP/2, differ only in their data, never in which steps they have.
import test from 'ava';
import { HTTP1, HTTPS1 } from '../../dist/proxy/frontend.js';
import { HTTP2 } from '../../dist/proxy/h2.js';

test('every protocol has the same members, in the same order: one object shape where the handler reads them', (t) => {
  const keys = Object.keys(HTTP1);
  t.deepEqual(Object.keys(HTTPS1), keys);
  t.deepEqual(Object.keys(HTTP2), keys);
});

test('what tells the protocols apart', (t) => {
  t.deepEqual(
    [HTTP1, HTTPS1, HTTP2].map((p) => [p.scheme, p.http1, p.rawHeaderEntries, p.connectionHeader]),
    [
      ['http', true, 200, true],
      ['https', true, 200, true],
      // Four pseudo-headers on top of the 100 headers; no Connection header in HTTP/2.
      ['https', false, 208, false],
    ],
  );
});

test('HTTP/1.1 takes an absolute-form target that agrees with Host in origin form; HTTP/2 wants origin form', (t) => {
  const h1 = (url, host) => ({ url, headers: { host } });
  const abs = h1('http://example.test/a?b', 'example.test');
  t.true(HTTP1.target(abs));
  t.is(abs.url, '/a?b');
  t.false(HTTP1.target(h1('http://other.test/a', 'example.test')));
  t.true(HTTP2.target({ url: '/a', headers: {} }));
  t.true(HTTP2.target({ url: '*', headers: {} }));
  t.false(HTTP2.target({ url: 'http://example.test/a', headers: {} }));
  t.false(HTTP2.target({ url: undefined, headers: {} }));
});
