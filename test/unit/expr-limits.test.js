// A rate limit's expressions under a flag snapshot: the rate (flags only, clamped to 1–1,000,000,
// no limit when it fails) and the key (`by`: a closure for the plain cases, cel-js for the rest,
// "" when it fails).
import test from 'ava';
import { compileKey, compileRate } from '../../dist/expr/compile.js';
import { specializeKey, specializeRate } from '../../dist/expr/specialize.js';
import { makeSnapshot } from '../../dist/flags/snapshot.js';

const at = { file: 'flagman.yaml', line: 1, col: 1 };
let version = 0;
function flags(values = {}) {
  const map = new Map(Object.entries(values).map(([name, value]) => [name, { value, note: null, changedAt: null, problem: null }]));
  return makeSnapshot(++version, map);
}
const req = (over = {}) => ({
  method: 'GET',
  url: '/api/x?k=1',
  host: 'api.example.com',
  scheme: 'https',
  clientIp: '203.0.113.9',
  headers: { 'x-key': 'abc' },
  ...over,
});

const rates = [
  // [source, flags, value, problem]
  ['10', {}, 10, null],
  ['flag("API_RATE", 100)', {}, 100, null],
  ['flag("API_RATE", 100)', { API_RATE: 7 }, 7, null],
  ['flag("API_RATE", 100) * 2', { API_RATE: 7 }, 14, null],
  ['flag("API_RATE")', {}, 1, /the rate is 0, below 1: using 1/],
  ['flag("API_RATE")', { API_RATE: -5 }, 1, /below 1/],
  ['flag("API_RATE")', { API_RATE: 2_000_000 }, 1_000_000, /above 1000000: using 1000000/],
  ['1000 / flag("DIV")', {}, null, /the rate could not be computed \(.*\): requests are not limited/],
];
for (const [source, values, value, problem] of rates) {
  test(`rate ${source} with ${JSON.stringify(values)} = ${value}`, (t) => {
    const r = specializeRate(compileRate({ source, at }), flags(values));
    t.is(r.value, value);
    if (problem === null) t.is(r.problem, null);
    else t.regex(r.problem, problem);
  });
}

const keys = [
  // [source, flags, request, key, direct]
  ['client.ip', {}, req(), '203.0.113.9', true],
  ['header("X-Key")', {}, req(), 'abc', true],
  ['header("X-Key")', {}, req({ headers: {} }), '', true],
  ['cookie("session")', {}, req({ headers: { cookie: 'a=1; session=s3' } }), 's3', true],
  ['request.host + "/" + client.ip', {}, req(), 'api.example.com/203.0.113.9', false],
  ['flag("PER_HOST") > 0 ? request.host : client.ip', { PER_HOST: 1 }, req(), 'api.example.com', true],
  ['flag("PER_HOST") > 0 ? request.host : client.ip', {}, req(), '203.0.113.9', true],
];
for (const [source, values, request, key, direct] of keys) {
  test(`key ${source} with ${JSON.stringify(values)} = ${JSON.stringify(key)}`, (t) => {
    const k = specializeKey(compileKey({ source, at }), flags(values));
    t.is(k.kind, 'dynamic');
    t.is(k.key(request), key);
    t.is(k.direct, direct, 'a closure when the residual is a plain string of the request');
    t.is(k.problem, null);
  });
}

test('a key the flags make constant needs no request; one that fails counts every request under ""', (t) => {
  const k = specializeKey(compileKey({ source: 'flag("ZONE") > 0 ? "eu" : "us"', at }), flags({ ZONE: 1 }));
  t.deepEqual([k.kind, k.value], ['const', 'eu']);
  const failing = specializeKey(compileKey({ source: 'string(1 / flag("X"))', at }), flags());
  t.deepEqual([failing.kind, failing.value], ['const', '']);
  t.regex(failing.problem, /the key fails: .*; every request is counted under one key/);
  const perRequest = specializeKey(compileKey({ source: 'string(size(request.path) / flag("X"))', at }), flags());
  t.is(perRequest.key(req()), '', 'a failure per request is the key ""');
});
