// Direct residuals (expr/direct.ts): a residual of string tests runs as a closure instead of through
// cel-js. It must agree with cel-js on every request: one table of expressions × one table of
// requests, each answer compared with cel-js evaluating the same expression.
import test from 'ava';
import { compileCondition } from '../../dist/expr/compile.js';
import { specialize } from '../../dist/expr/specialize.js';
import { env } from '../../dist/expr/environment.js';
import { withRequest } from '../../dist/expr/request.js';
import { makeSnapshot } from '../../dist/flags/snapshot.js';

const at = { file: 'flagman.yaml', line: 1, col: 1 };
const residualOf = (source, values = {}) => {
  const map = new Map(Object.entries(values).map(([name, value]) => [name, { value, note: null, changedAt: null, problem: null }]));
  return specialize(compileCondition({ source, at }), makeSnapshot(1, map));
};

// [source, runs as a closure]
const EXPRESSIONS = [
  ['request.method == "GET"', true],
  ['"GET" != request.method', true],
  ['request.method in ["GET", "HEAD", "POST"]', true],
  ['request.path.startsWith("/admin/")', true],
  ['request.path.endsWith(".css") || request.host == "static.example.com"', true],
  ['request.path.contains("//")', true],
  ['request.query.contains("debug=1")', true],
  ['request.query == ""', true],
  ['request.scheme == "https"', true],
  ['request.host == "www.example.com" && !request.path.startsWith("/api")', true],
  ['header("X-Canary") == "always" || cookie("canary") == "1"', true],
  ['header("accept-language").startsWith("de")', true],
  ['header("x-a") == header("x-b")', true],
  ['request.path.startsWith(header("x-prefix"))', true],
  ['cookie("session") != ""', true],
  ['!cidr("127.0.0.0/8").containsIP(client.ip)', true],
  ['cidr("10.0.0.0/8").containsIP(client.ip) || cidr("2001:db8::/32").containsIP(client.ip)', true],
  ['cidr("::ffff:0:0/96").containsIP(header("x-real-ip"))', true],
  ['client.ip == "203.0.113.9"', true],
  ['request.peer == client.ip', true],
  ['cidr("10.0.0.0/8").containsIP(request.peer) && !cidr("10.0.0.0/8").containsIP(client.ip)', true],
  ['flag("MAINT") > 0 && !cidr("127.0.0.0/8").containsIP(client.ip)', true],
  // Outside the subset: evaluated by cel-js.
  ['request.path.matches("^/v[0-9]+/")', false],
  ['size(request.path) > 10', false],
  ['request.method == "GET" && size(header("x-a")) == 0', false],
  ['request.path.startsWith("/a") ? request.method == "GET" : request.method == "POST"', false],
];

const REQUESTS = [
  { method: 'GET', url: '/', host: 'www.example.com', clientIp: '127.0.0.1', headers: {} },
  {
    method: 'POST',
    url: '/admin/users?debug=1#top',
    host: 'WWW.Example.COM:8080',
    clientIp: '10.1.2.3',
    headers: { 'x-canary': 'always' },
  },
  {
    method: 'HEAD',
    url: 'http://other.example/app.css?v=2',
    host: 'static.example.com',
    clientIp: '::ffff:10.9.9.9',
    headers: { cookie: 'a=1; canary=1; session=abc' },
  },
  {
    method: 'DELETE',
    url: '*',
    host: undefined,
    clientIp: '2001:db8::7',
    headers: { 'x-real-ip': '::ffff:192.0.2.1', 'x-a': 'same', 'x-b': 'same' },
  },
  {
    method: 'GET',
    url: '//double/slash',
    host: '[2001:db8::1]:443',
    clientIp: '203.0.113.9',
    headers: { 'accept-language': 'de-CH, en', 'x-prefix': '//double', cookie: ['canary=0', 'session='] },
  },
  {
    method: 'PUT',
    url: '/api/x?',
    host: 'www.example.com',
    clientIp: 'not-an-ip',
    headers: { 'x-a': 'one', 'x-b': 'two', cookie: 'canary = 1 ;session=z' },
  },
  {
    method: 'OPTIONS',
    url: '/v2/thing',
    host: 'www.example.com:80',
    clientIp: '192.0.2.200',
    headers: { 'x-real-ip': '192.0.2.1', 'x-prefix': '' },
  },
  {
    method: 'GET',
    url: '/',
    host: 'www.example.com',
    clientIp: '198.51.100.9',
    peer: '10.0.0.5',
    headers: { 'x-forwarded-for': '198.51.100.9' },
  },
];

// The connection's address is the client's unless a request says otherwise (a trusted proxy's X-Forwarded-For).
const input = (r, scheme) => ({ scheme, peer: r.clientIp, ...r });

test('each expression runs as a closure exactly when it is made of string tests', (t) => {
  for (const [source, direct] of EXPRESSIONS) {
    const residual = residualOf(source, { MAINT: 1 });
    t.is(residual.kind, 'dynamic', source);
    t.is(residual.direct, direct, source);
  }
});

test('a closure answers what cel-js answers, for every expression and request', (t) => {
  let compared = 0;
  for (const [source] of EXPRESSIONS) {
    const residual = residualOf(source, { MAINT: 1 });
    const whole = env.parse(source.replace('flag("MAINT")', '1'));
    for (const r of REQUESTS) {
      for (const scheme of ['http', 'https']) {
        const expected = withRequest(input(r, scheme), (ctx) => whole(ctx));
        t.is(residual.test(input(r, scheme)), expected, `${source} on ${JSON.stringify(input(r, scheme))}`);
        compared++;
      }
    }
  }
  t.is(compared, EXPRESSIONS.length * REQUESTS.length * 2);
});

test('one request through every rule: path, query and host are derived once and stay right', (t) => {
  for (const r of REQUESTS) {
    const shared = input(r, 'http');
    for (const [source] of EXPRESSIONS) {
      const residual = residualOf(source, { MAINT: 1 });
      const expected = withRequest(input(r, 'http'), (ctx) => env.parse(source.replace('flag("MAINT")', '1'))(ctx));
      t.is(residual.test(shared), expected, `${source} on a shared input ${JSON.stringify(r)}`);
    }
  }
});
