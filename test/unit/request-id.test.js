// Request IDs (proxy/request-id.ts): new ones are unique and well-formed; an incoming one is kept
// only from a trusted proxy and only when valid; the header servers get carries the request's ID.
import test from 'ava';
import { MAX_REQUEST_ID, isRequestId, newRequestId, requestIdOf } from '../../dist/proxy/request-id.js';
import { upstreamRequestHeaders } from '../../dist/proxy/headers.js';

test('100,000 new IDs: all different, each 32 hex digits', (t) => {
  const seen = new Set();
  for (let i = 0; i < 100_000; i++) {
    const id = newRequestId();
    if (!/^[0-9a-f]{32}$/.test(id)) return t.fail(`not 32 hex digits: ${id}`);
    seen.add(id);
  }
  t.is(seen.size, 100_000);
});

const VALID = [
  'a',
  'req-1',
  '4bf92f3577b34da6a3ce929d0e0e4736',
  '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  '!"#~',
  'x'.repeat(MAX_REQUEST_ID),
];
const INVALID = ['', 'a b', 'a\tb', 'id\r\nX-Evil: 1', 'é', 'x'.repeat(MAX_REQUEST_ID + 1), 'one, two', '\u007f'];

test('an incoming ID is valid when it is 1–128 visible ASCII characters', (t) => {
  for (const id of VALID) t.true(isRequestId(id), JSON.stringify(id));
  for (const id of INVALID) t.false(isRequestId(id), JSON.stringify(id));
});

const SETTING = { header: 'X-Request-Id', lower: 'x-request-id' };

test('a trusted proxy’s valid ID is kept; an invalid one, or anyone else’s, is replaced', (t) => {
  for (const id of VALID) {
    t.is(requestIdOf(SETTING, { 'x-request-id': id }, true), id);
    const replaced = requestIdOf(SETTING, { 'x-request-id': id }, false);
    t.regex(replaced, /^[0-9a-f]{32}$/);
    t.not(replaced, id);
  }
  for (const id of INVALID) t.regex(requestIdOf(SETTING, { 'x-request-id': id }, true), /^[0-9a-f]{32}$/, JSON.stringify(id));
  t.regex(requestIdOf(SETTING, {}, true), /^[0-9a-f]{32}$/);
  t.is(
    requestIdOf({ header: 'X-Correlation-ID', lower: 'x-correlation-id' }, { 'x-correlation-id': 'c-1', 'x-request-id': 'r-1' }, true),
    'c-1',
  );
});

test('servers get the request’s ID in the configured header, in place of every one the request had', (t) => {
  const raw = ['Host', 'a', 'x-request-id', 'forged', 'Accept', '*/*', 'X-Request-ID', 'again'];
  const out = upstreamRequestHeaders(raw, undefined, {
    peer: '192.0.2.1',
    clientIp: '192.0.2.1',
    trusted: false,
    proto: 'http',
    idHeader: SETTING,
    id: 'r-1',
  });
  t.deepEqual(out, [
    'Host',
    'a',
    'Accept',
    '*/*',
    'X-Forwarded-For',
    '192.0.2.1',
    'X-Forwarded-Proto',
    'http',
    'X-Forwarded-Host',
    'a',
    'X-Real-IP',
    '192.0.2.1',
    'X-Request-Id',
    'r-1',
  ]);
  const off = upstreamRequestHeaders(raw, undefined, { peer: '192.0.2.1', clientIp: '192.0.2.1', trusted: false, proto: 'http' });
  t.deepEqual(off.slice(0, 8), raw, 'without requestId the header passes as it came');
});
