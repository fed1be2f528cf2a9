// The upstream response parser (src/upstream/response.ts): heads and bodies split anywhere across
// reads come out the same; every framing; what a proxy must refuse.
import test from 'ava';
import { BadResponse, ResponseParser } from '../../dist/upstream/response.js';

/** Parses `text` fed as the given pieces; returns what the sink saw and the parser's verdicts. */
function parse(pieces, { head = false, max = 16384, eof = false } = {}) {
  const seen = { heads: [], body: '', ends: 0 };
  const parser = new ResponseParser(
    {
      onHead: (status, statusText, headers, bodyLength) => seen.heads.push({ status, statusText, headers, bodyLength }),
      onBody: (chunk) => (seen.body += chunk.toString('latin1')),
      onEnd: () => seen.ends++,
    },
    max,
  );
  parser.expect(head);
  for (const p of pieces) parser.execute(Buffer.from(p, 'latin1'));
  if (eof) seen.finished = parser.finish();
  return { ...seen, keepAlive: parser.keepAlive, keepAliveMs: parser.keepAliveMs, trailing: parser.trailingBytes };
}

/** Every way to cut `text` in two, plus byte by byte. */
function splits(text) {
  const out = [[text], [...text]];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

const SIZED =
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nhello world';
const CHUNKED =
  'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n';

test('a sized response, cut anywhere: one head without hop-by-hop headers, the body whole, one end', (t) => {
  for (const pieces of splits(SIZED)) {
    const r = parse(pieces);
    t.deepEqual(r.heads, [
      { status: 200, statusText: 'OK', headers: ['Content-Type', 'text/plain', 'Content-Length', '11'], bodyLength: 11 },
    ]);
    t.is(r.body, 'hello world');
    t.is(r.ends, 1);
    t.true(r.keepAlive);
    t.is(r.keepAliveMs, 5000);
    t.false(r.trailing);
  }
});

test('a chunked response, cut anywhere: extensions and trailers skipped, the data whole', (t) => {
  for (const pieces of splits(CHUNKED)) {
    const r = parse(pieces);
    t.deepEqual(r.heads, [{ status: 201, statusText: 'Created', headers: ['X-A', '1'], bodyLength: -1 }]);
    t.is(r.body, 'hello world');
    t.is(r.ends, 1, pieces.join('|'));
    t.true(r.keepAlive);
  }
});

test('no body for HEAD, 204 and 304, whatever the length says; 1xx heads are skipped', (t) => {
  const h = parse(['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'], { head: true });
  t.is(h.heads[0].bodyLength, -1);
  t.deepEqual(h.heads[0].headers, ['Content-Length', '5']);
  t.is(h.ends, 1);
  t.is(parse(['HTTP/1.1 204 No Content\r\n\r\n']).ends, 1);
  t.is(parse(['HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n']).ends, 1);
  const early = parse([
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  ]);
  t.is(early.heads.length, 1);
  t.is(early.heads[0].status, 200);
  t.is(early.body, 'ok');
  t.is(early.ends, 1);
});

test('no framing: the body runs until the server closes, and the connection is not kept', (t) => {
  const r = parse(['HTTP/1.1 200 OK\r\n\r\nsome', ' more'], { eof: true });
  t.is(r.body, 'some more');
  t.is(r.ends, 1);
  t.true(r.finished);
  t.false(r.keepAlive);
  const cut = parse(['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'], { eof: true });
  t.false(cut.finished, 'EOF before the declared length is a cut response');
  t.is(cut.ends, 0);
});

test('keep-alive: HTTP/1.0 only when asked, Connection: close never; bytes after the end spoil the connection', (t) => {
  t.false(parse(['HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n']).keepAlive);
  t.true(parse(['HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n']).keepAlive);
  t.false(parse(['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n']).keepAlive);
  const extra = parse(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n']);
  t.is(extra.body, 'ok');
  t.true(extra.trailing);
  t.false(extra.keepAlive);
});

test('headers a Connection header lists are dropped with the hop-by-hop ones; values keep inner spaces and latin-1 bytes', (t) => {
  const r = parse([
    'HTTP/1.1 200 OK\r\nConnection: X-Private, keep-alive\r\nX-Private: 1\r\nUpgrade: h2c\r\nTE: trailers\r\nX-Name:  a  b \t\r\nX-Latin: caf\xe9\xa0\r\nContent-Length: 0\r\n\r\n',
  ]);
  t.deepEqual(r.heads[0].headers, ['X-Name', 'a  b', 'X-Latin', 'caf\xe9\xa0', 'Content-Length', '0']);
});

test('what a proxy must refuse: ambiguous framing, malformed lines, oversized heads', (t) => {
  const bad = {
    'both Content-Length and Transfer-Encoding': 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
    'two different lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n',
    'a length list that disagrees': 'HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n',
    'a signed length': 'HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n',
    'a coding other than chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n',
    'chunked, then another coding': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
    'a folded line': 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\n\r\n',
    'a space before the colon': 'HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n',
    'a bare LF inside a line': 'HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\n\r\n',
    'a bare CR inside a line': 'HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\n\r\n',
    'a NUL in a value': 'HTTP/1.1 200 OK\r\nX-A: 1\0\r\n\r\n',
    'a line without a colon': 'HTTP/1.1 200 OK\r\nnonsense\r\n\r\n',
    'a bad status line': 'HTTP/1.1 20 OK\r\n\r\n',
    'a bare CR in the reason phrase': 'HTTP/1.1 200 \rOK\r\n\r\n',
    'a DEL in a value': 'HTTP/1.1 200 OK\r\nSet-Cookie: a=\x7fb\r\nContent-Length: 0\r\n\r\n',
    'a control character in the reason phrase': 'HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n',
    'an HTAB after chunked (llhttp reads until close)': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n',
    'an interim response with Connection: close':
      'HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    'an HTTP/1.0 interim response': 'HTTP/1.0 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    'an HTAB before chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n',
    'another protocol': 'HTTP/2 200\r\n\r\n',
    'an unasked-for 101': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n',
    'a bad chunk size': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'a chunk not ended by CRLF': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX',
    'a chunk size over 12 hex digits': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000\r\n',
  };
  for (const [why, text] of Object.entries(bad)) t.throws(() => parse([text]), { instanceOf: BadResponse }, why);
  t.throws(() => parse(['HTTP/1.1 200 OK\r\n', `X-Big: ${'x'.repeat(200)}\r\n`, '\r\n'], { max: 100 }), {
    instanceOf: BadResponse,
    message: /over 100 bytes/,
  });
  t.throws(
    () => parse([`HTTP/1.1 200 OK\r\nX-Big: ${'x'.repeat(200)}`], { max: 100 }),
    { instanceOf: BadResponse },
    'refused before the head is complete',
  );
});

test('chunk sizes: hex digits only, at most 2^48 - 1, at most 16 digits with leading zeros; cut anywhere', (t) => {
  const HEAD = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  const refused = {
    zz: 'invalid chunk size',
    '5z': 'invalid chunk size',
    '-5': 'invalid chunk size',
    '0x5': 'invalid chunk size',
    '': 'invalid chunk size',
    ' 5': 'invalid chunk size',
    1000000000000: 'chunk size too large', // 2^48, one over the limit
    20000000000000: 'chunk size too large', // 2^53, where doubles stop being exact
    ffffffffffffffffff: 'chunk size too large',
    '00000000000000005': 'chunk size too long', // 17 digits
  };
  for (const [size, message] of Object.entries(refused)) {
    for (const pieces of splits(`${HEAD}${size}\r\n`)) {
      t.throws(() => parse(pieces), { instanceOf: BadResponse, message }, JSON.stringify(pieces));
    }
  }
  // The largest size taken: its data passes until the body is cut.
  for (const pieces of splits(`${HEAD}ffffffffffff\r\nsome`)) {
    const r = parse(pieces, { eof: true });
    t.is(r.body, 'some');
    t.false(r.finished, 'a chunk short of its size is a cut response');
    t.is(r.ends, 0);
  }
  for (const pieces of splits(`${HEAD}FFFFFFFFFFFF;x=1\r\nsome`)) t.is(parse(pieces).body, 'some', 'upper case, with an extension');
  // Leading zeros do not count towards the size: 16 digits are fine.
  for (const pieces of splits(`${HEAD}0000000000000005\r\nhello\r\n0000000000000000\r\n\r\n`)) {
    const r = parse(pieces);
    t.is(r.body, 'hello');
    t.is(r.ends, 1);
  }
});

test('a head trickled a byte per read is copied O(n) times, not O(n²): 16 KiB costs under 8× its size in new buffers', (t) => {
  const head = `HTTP/1.1 200 OK\r\nX-Pad: ${'p'.repeat(16_000)}\r\nContent-Length: 2\r\n\r\n`;
  const bytes = Buffer.from(`${head}ok`, 'latin1');
  let allocated = 0;
  const { concat, allocUnsafe, alloc } = Buffer;
  // Every way the parser could make a buffer to hold the head so far.
  Buffer.concat = (list, n) => {
    const b = concat(list, n);
    allocated += b.length;
    return b;
  };
  Buffer.allocUnsafe = (n) => ((allocated += n), allocUnsafe(n));
  Buffer.alloc = (n, ...rest) => ((allocated += n), alloc(n, ...rest));
  let seen;
  try {
    const pieces = [];
    for (let i = 0; i < bytes.length; i++) pieces.push(bytes.subarray(i, i + 1));
    seen = { heads: [], body: '' };
    const parser = new ResponseParser(
      { onHead: (status) => seen.heads.push(status), onBody: (c) => (seen.body += c.toString('latin1')), onEnd: () => {} },
      16384,
    );
    parser.expect(false);
    for (const p of pieces) parser.execute(p);
  } finally {
    Object.assign(Buffer, { concat, allocUnsafe, alloc });
  }
  t.deepEqual(seen, { heads: [200], body: 'ok' });
  t.true(allocated < 8 * head.length, `${allocated} bytes allocated for a head of ${head.length}`);
});
