// The differential property over the fast path's request-head reader (src/proxy/simple-head.ts):
// generated request heads, ordinary and hostile, read by readSimpleHead and by llhttp as Node's
// HTTP/1.1 server drives it. Wherever the reader takes a head, llhttp must take it too, as one
// request that ends at the same byte, with the same method, target, raw headers (values trimmed as
// Node trims them), the same headers object as Node's IncomingMessage makes of them, the same
// keep-alive, no upgrade, and a Content-Length equal to the body length the reader gives. The reader
// may decline anything (null): the connection then goes to Node's server, which reads the head
// itself. It must also decline every head Node's server refuses after its parser: an HTTP/1.1
// request without Host.
//
// Not a test file: scripts/fuzz.js runs it for a while with a printed seed (`npm run fuzz`), and
// test/unit/fuzz-request-head.test.js runs it briefly with a fixed seed.
import { HTTPParser, methods } from 'node:_http_common';
import { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { readSimpleHead } from '../../dist/proxy/simple-head.js';

const MAX_HEAD = 16384;

/** What llhttp, as Node's server drives it, makes of `head` + CRLF CRLF; null: it refused it, or read no whole request. */
function llhttpRead(text) {
  const buf = Buffer.from(text, 'latin1');
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {}, MAX_HEAD, HTTPParser.kLenientNone ?? 0);
  let raw = [];
  let url = '';
  let got = null;
  let complete = 0;
  parser[HTTPParser.kOnHeaders] = (h, u) => {
    raw.push(...h);
    url += u;
  };
  parser[HTTPParser.kOnHeadersComplete] = (major, minor, headers, method, u, _s, _m, upgrade, keepAlive) => {
    if (headers !== undefined) raw.push(...headers);
    if (u !== undefined) url += u;
    got = { major, minor, method: methods[method], url, rawHeaders: raw, upgrade, keepAlive };
    raw = [];
    return 0;
  };
  parser[HTTPParser.kOnBody] = () => {};
  parser[HTTPParser.kOnMessageComplete] = () => {
    complete++;
  };
  const r = parser.execute(buf);
  if (r instanceof Error) return { error: `${r.code} (${r.reason})` };
  return { got, consumed: r, complete };
}

const pick = (xs) => fc.constantFrom(...xs);
const METHOD = fc.oneof(
  pick(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']),
  pick(['get', 'CONNECT', 'TRACE', 'PURGE', 'G ET', '']),
);
const CHARS = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(..."abcxyzABC019/-._~?=&%:@!$'()*+,;".split('')) },
  { weight: 1, arbitrary: fc.constantFrom(' ', '\t', '"', '<', '>', '\\', '^', '`', '{', '|', '}', '#', '[', ']') },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) },
);
const text = (max) => fc.array(CHARS, { maxLength: max }).map((a) => a.join(''));
const TARGET = fc.oneof(
  { weight: 4, arbitrary: text(20).map((s) => `/${s}`) },
  { weight: 1, arbitrary: pick(['*', 'http://a.test/x', 'a.test:443', '//x', '/%00', '/a b']) },
  { weight: 1, arbitrary: text(10) },
);
const VERSION = fc.oneof(
  { weight: 8, arbitrary: fc.constant('HTTP/1.1') },
  { weight: 1, arbitrary: pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.10', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1.2']) },
);
const NAME = fc.oneof(
  {
    weight: 6,
    arbitrary: pick([
      'Host',
      'host',
      'HOST',
      'User-Agent',
      'Accept',
      'Cookie',
      'cookie',
      'X-A',
      'x-a',
      'Set-Cookie',
      'Content-Type',
      'Authorization',
      'X-Forwarded-For',
    ]),
  },
  {
    weight: 3,
    arbitrary: pick([
      'Content-Length',
      'content-length',
      'Transfer-Encoding',
      'Connection',
      'connection',
      'Upgrade',
      'Expect',
      'Keep-Alive',
      'Proxy-Connection',
    ]),
  },
  { weight: 1, arbitrary: text(8) },
  { weight: 1, arbitrary: pick(['Host ', ' Host', 'Ho st', 'Content-Length\t', '', 'X\u00e9']) },
);
const VALUE = fc.oneof(
  { weight: 4, arbitrary: text(16) },
  {
    weight: 3,
    arbitrary: pick([
      'a.test',
      'close',
      'Close',
      'keep-alive',
      'Keep-Alive',
      'x, close',
      'closed',
      'close, upgrade',
      'upgrade',
      'chunked',
      '100-continue',
      'websocket',
    ]),
  },
  { weight: 3, arbitrary: pick(['0', '5', '12', '007', '-1', '1 2', '+3', '1,1', '0x10', '99999999999999999', '', ' ', '4 ']) },
  { weight: 1, arbitrary: pick(['\u00e9t\u00e9', 'a\u0000b', 'a\rb', 'a\nb', 'a\u007fb']) },
);
const OWS = pick(['', ' ', '  ', '\t', ' \t']);
const FIELD = fc.tuple(NAME, OWS, VALUE, OWS).map(([n, a, v, b]) => `${n}:${a}${v}${b}`);
const EOL = fc.oneof({ weight: 12, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: pick(['\n', '\r', '\r\n ', '\r\n\t']) });
const HOST_FIRST = fc.boolean();

const TOKEN_TEXT = fc.array(fc.constantFrom(...'abcxyzABCXYZ0189-_.!~'.split('')), { minLength: 1, maxLength: 10 }).map((a) => a.join(''));
const VISIBLE_TEXT = fc
  .array(
    fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    { maxLength: 16 },
  )
  .map((a) => a.join(''));
/** Fields a client sends every day: the reader should take most heads made of these. */
const COMMON_FIELD = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(fc.oneof(NAME, TOKEN_TEXT), OWS, fc.oneof(VISIBLE_TEXT, VALUE), OWS).map(([n, a, v, b]) => `${n}:${a}${v}${b}`),
  },
  { weight: 1, arbitrary: fc.nat({ max: 100000 }).map((n) => `Content-Length: ${n}`) },
  { weight: 1, arbitrary: pick(['Connection: close', 'Connection: keep-alive', 'connection: Keep-Alive, close', 'Connection: x, close ']) },
);

/** A head as a client could send it, without its final CRLF CRLF: mostly well formed, some hostile. */
const HEAD = fc.oneof(
  {
    weight: 2,
    arbitrary: fc
      .record({
        method: METHOD,
        target: TARGET,
        version: VERSION,
        host: HOST_FIRST,
        fields: fc.array(fc.tuple(FIELD, EOL), { maxLength: 8 }),
        sp: pick([' ', ' ', ' ', '  ', '\t']),
      })
      .map(({ method, target, version, host, fields, sp }) => {
        let head = `${method}${sp}${target} ${version}`;
        if (host) head += '\r\nHost: a.test';
        for (const [f, eol] of fields) head += `${eol}${f}`;
        return head;
      }),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({
        method: pick(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']),
        path: VISIBLE_TEXT.map((t) => `/${t.replaceAll(' ', '')}`),
        before: fc.array(COMMON_FIELD, { maxLength: 6 }),
        after: fc.array(COMMON_FIELD, { maxLength: 6 }),
      })
      .map(({ method, path, before, after }) => [`${method} ${path} HTTP/1.1`, ...before, 'Host: a.test', ...after].join('\r\n')),
  },
);

function same(a, b, what) {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  if (x !== y) throw new Error(`${what} differ: reader ${x}, llhttp ${y}`);
}

export const target = {
  name: 'request-head',
  what: 'the fast path request-head reader against llhttp',
  cases: HEAD,
  check(head) {
    const mine = readSimpleHead(head);
    if (mine === null) return;
    const node = llhttpRead(`${head}\r\n\r\n`);
    if (node.error !== undefined) throw new Error(`the reader took a head llhttp refuses (${node.error}): ${JSON.stringify(head)}`);
    const got = node.got;
    if (got === null) throw new Error(`the reader took a head llhttp did not finish: ${JSON.stringify(head)}`);
    if (node.consumed !== head.length + 4) throw new Error(`llhttp ended the head elsewhere (${node.consumed} of ${head.length + 4})`);
    same(mine.method, got.method, 'methods');
    same(mine.url, got.url, 'targets');
    same([got.major, got.minor], [1, 1], 'versions');
    same(mine.rawHeaders, got.rawHeaders, 'raw headers');
    same(mine.keepAlive, got.keepAlive, 'keep-alive');
    if (got.upgrade) throw new Error('llhttp reads an upgrade');
    const msg = new IncomingMessage(null);
    msg._addHeaderLines(got.rawHeaders, got.rawHeaders.length);
    same(mine.headers, msg.headers, 'headers objects');
    if (msg.headers.host === undefined) throw new Error('no Host: Node refuses the request');
    same(mine.bodyLength, msg.headers['content-length'] === undefined ? 0 : Number(msg.headers['content-length']), 'body lengths');
    // With no body, llhttp ends the request at the head; with one, it is waiting for it.
    same(node.complete, mine.bodyLength === 0 ? 1 : 0, 'requests completed');
  },
};
