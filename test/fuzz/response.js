// The differential property over the upstream response parser (src/upstream/response.ts): raw
// HTTP/1.1 responses, valid and hostile, fed to flagman's ResponseParser and to llhttp (Node's own
// parser, the one its http client runs). Wherever flagman accepts a response, llhttp must accept it
// too and agree on the status, Content-Length, the exact body bytes and the byte where the response
// ends (where the next one on the connection starts); flagman keeping a connection alive implies
// llhttp would. Nor may flagman take on a response (pass its head and body on) that llhttp refuses
// before the bytes run out. flagman may refuse more than llhttp: a proxy refuses whatever another parser could
// read differently. Deliberate extra refusals (llhttp, as Node's client runs it, accepts these):
// - a 101 to a request that asked for no upgrade (upgrades take their own path);
// - Transfer-Encoding other than exactly `chunked` (a response read until close in llhttp);
// - Content-Length with Transfer-Encoding (llhttp lets chunked win);
// - a chunk size over 2^48 - 1 or longer than 16 digits;
// - obs-fold, and a bare CR or LF in a header line;
// - a control character but HTAB anywhere in the head (which llhttp refuses in most places too);
// - an interim (1xx) response that does not keep the connection.
// - a status line other than `HTTP/1.0` or `HTTP/1.1`, a status of 100–999 and a space before a
//   reason (llhttp takes HTTP/2.0, HTTP/1.2 and other digits);
// - a Content-Length of over 15 digits;
// - a head over 16 KiB counted whole, status line to blank line (Node's llhttp binding counts only
//   the status, field names and values against the same limit, so it reads heads a little larger).
// Deliberate acceptances (strict llhttp refuses them; neither changes where the response ends):
// - chunk extensions are skipped up to their CRLF, whatever their grammar (inChunkExtension);
// - trailer fields are dropped unread, only where the section ends matters (inTrailers);
// - several equal Content-Length values, in one field or several, are one (RFC 9110 §8.6); an HTAB
//   around the value is whitespace (Node 20's llhttp refuses one after it);
// - Node's client does not keep a connection after a HEAD response without a length; flagman does.
// Also checked: flagman's result does not depend on where the bytes are cut into reads.
//
// Not a test file: scripts/fuzz.js runs it for a while with a printed seed (`npm run fuzz`), and
// test/unit/fuzz-response.test.js runs it briefly with a fixed seed.
// Node's own binding of llhttp, driven as its http client drives it (an internal module, there since
// Node 0.x). Directly, not through an http.ClientRequest over a Duplex: one parse of a small chunked
// response took 1/17,000 s against 1/4,500 s that way (Node 26, loaded 2-core machine), and finding
// where a response ends takes several parses of prefixes.
import { HTTPParser } from 'node:_http_common';
import fc from 'fast-check';
import { BadResponse, ResponseParser } from '../../dist/upstream/response.js';

// Both parsers get Node's default head limit; a few generated heads are padded to within bytes of it.
const MAX_HEAD = 16384;
const [major, minor] = process.versions.llhttp.split('.').map(Number);
const OLD_LLHTTP = major < 9 || (major === 9 && minor < 4);
// The one-byte buffer llhttp is fed from, a byte at a time (llhttpParse): a view per byte made a
// tenth of the work.
const one = Buffer.alloc(1);

/** What flagman's parser makes of `buf`, fed one byte at a time: the responses and where each ends. */
function flagmanByBytes(buf, head, upgrade) {
  const msgs = [];
  let cur = null;
  let ended = false;
  const parser = new ResponseParser(
    {
      onHead: (status, _statusText, headers, bodyLength) => (cur = { status, headers, bodyLength, body: [] }),
      onBody: (chunk) => cur.body.push(Buffer.from(chunk)),
      onEnd: () => (ended = true),
    },
    MAX_HEAD,
  );
  parser.expect(head, upgrade);
  let start = 0;
  let error = null;
  const done = () => {
    cur.start = start;
    cur.body = Buffer.concat(cur.body);
    cur.keepAlive = parser.keepAlive;
    msgs.push(cur);
    cur = null;
    ended = false;
  };
  try {
    for (let i = 0; i < buf.length; i++) {
      parser.execute(buf.subarray(i, i + 1));
      // A 101 to an upgrade: HTTP ends with its head; the bytes after are the tunnel's.
      if (cur?.status === 101) {
        cur.end = i + 1;
        done();
        return { msgs, error, pending: null };
      }
      if (ended) {
        cur.end = i + 1;
        const keep = parser.keepAlive;
        done();
        start = i + 1;
        // A connection flagman does not keep carries no second response.
        if (!keep) return { msgs, error, pending: null };
        parser.expect(false);
      }
    }
    if (parser.finish()) {
      cur.end = buf.length;
      done();
    }
  } catch (e) {
    if (!(e instanceof BadResponse)) throw e;
    error = e.message;
  }
  // A response whose head was taken and whose body was being passed on when the bytes ran out.
  const pending = error === null && cur !== null ? { ...cur, start } : null;
  return { msgs, error, pending };
}

/** flagman's parser over `buf` from `from`, cut at `cuts`: the first response, or an error. */
function flagmanByCuts(buf, from, cuts, head, upgrade) {
  let cur = null;
  let ended = false;
  const parser = new ResponseParser(
    {
      onHead: (status, _statusText, headers, bodyLength) => {
        cur = { status, headers, bodyLength, body: [] };
        if (status === 101) ended = true;
      },
      onBody: (chunk) => cur.body.push(Buffer.from(chunk)),
      onEnd: () => (ended = true),
    },
    MAX_HEAD,
  );
  parser.expect(head, upgrade);
  let httpEnd = -1;
  const points = [...new Set(cuts.map((c) => from + (c % Math.max(1, buf.length - from))))].sort((a, b) => a - b);
  let at = from;
  try {
    for (const p of [...points, buf.length]) {
      if (p <= at) continue;
      // How many bytes were HTTP: after a 101 to an upgrade, the rest are the tunnel's.
      const used = parser.execute(buf.subarray(at, p));
      if (ended && cur.status === 101) httpEnd = at + used;
      at = p;
      if (ended) break;
    }
    if (!ended && parser.finish()) ended = true;
  } catch (e) {
    if (!(e instanceof BadResponse)) throw e;
    return { error: e.message };
  }
  return ended ? { msg: { ...cur, body: Buffer.concat(cur.body), httpEnd } } : { msg: null };
}

/**
 * What llhttp makes of `buf`'s first `len` bytes, given in one piece as Node's client gives a
 * socket's read; 1xx heads left out; at the end of `buf`, also what it makes of the close.
 */
function llhttpParse(buf, head, len, bytewise = false, upgrade = false) {
  const msgs = [];
  let cur = null;
  let rawHeaders = [];
  let first = true;
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEAD, HTTPParser.kLenientNone ?? 0);
  parser[HTTPParser.kOnHeaders] = (h) => rawHeaders.push(...h);
  parser[HTTPParser.kOnHeadersComplete] = (_major, _minor, headers, _method, _url, status, _statusMessage, upgrade, keepAlive) => {
    if (headers !== undefined) rawHeaders.push(...headers);
    cur = { status, headers: rawHeaders, body: [], keepAlive, upgrade };
    rawHeaders = [];
    // As Node's client: no body after a 1xx head, nor after the head of a response to HEAD; a 101
    // to the upgrade (the first request) ends HTTP on the connection (llhttp stops after any 101's head).
    if (status === 101 && upgrade && msgs.length === 0) return 2;
    if (status >= 100 && status < 200 && status !== 101) return 1;
    const skip = first && head;
    first = false;
    return skip ? 1 : 0;
  };
  parser[HTTPParser.kOnBody] = (b) => cur.body.push(Buffer.from(b));
  let at = len;
  // HTTP ends with a 101's head when the request asked for an upgrade.
  const switched = () => upgrade && msgs.length === 1 && msgs[0].status === 101;
  parser[HTTPParser.kOnMessageComplete] = () => {
    if (cur.status >= 100 && cur.status < 200 && cur.status !== 101) return;
    cur.body = Buffer.concat(cur.body);
    cur.end = at;
    msgs.push(cur);
  };
  let error = null;
  let errorAt = -1;
  if (bytewise) {
    for (at = 1; at <= len && error === null && !switched(); at++) {
      one[0] = buf[at - 1];
      const r = parser.execute(one);
      if (r instanceof Error) [error, errorAt] = [`${r.code} (${r.reason})`, at - 1];
    }
    at = len;
  } else {
    const r = len === 0 ? 0 : parser.execute(buf.subarray(0, len));
    if (r instanceof Error) error = `${r.code} (${r.reason})`;
  }
  let closed = false;
  if (error === null && len === buf.length && !switched()) {
    const before = msgs.length;
    const f = parser.finish();
    if (f instanceof Error) [error, errorAt] = [`${f.code} (${f.reason}) at the close`, len - 1];
    closed = msgs.length > before;
  }
  return { msgs, error, errorAt, closed };
}

/** The shortest prefix of `buf` for which `holds` (monotone in the length) is true, or -1. */
function shortest(buf, holds) {
  if (!holds(buf.length)) return -1;
  let lo = 0;
  let hi = buf.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (holds(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * What llhttp makes of `buf`, and where each response ends and where it refused: the shortest
 * prefix that completes it, or that it refuses (the close ends the last one when nothing shorter
 * does). Each parse gets its prefix whole, as Node's client gives llhttp a socket's read.
 */
function llhttpByPrefixes(buf, head, upgrade) {
  const all = llhttpParse(buf, head, buf.length, false, upgrade);
  // llhttp is incremental: fed a byte at a time, it completes and refuses at the same bytes as the
  // shortest whole prefixes do, in one parse rather than a binary search of them per response
  // (3× fewer parses; the same ends and refusals on 40,000 cases, Node 20 and 26; FUZZ_PREFIXES=1
  // searches always). Used only when it reads the same responses and refusal; else the search.
  const stream = llhttpParse(buf, head, buf.length, true, upgrade);
  if (stream.msgs.length === all.msgs.length && stream.error === all.error && !process.env.FUZZ_PREFIXES) {
    all.msgs.forEach((m, k) => (m.end = stream.msgs[k].end));
    all.errorAt = stream.errorAt;
    return all;
  }
  all.msgs.forEach((m, k) => {
    m.end = shortest(buf, (len) => len === buf.length || llhttpParse(buf, head, len, false, upgrade).msgs.length > k);
  });
  all.errorAt = all.error === null ? -1 : shortest(buf, (len) => llhttpParse(buf, head, len, false, upgrade).error !== null) - 1;
  return all;
}

/**
 * Whether llhttp refused at `at`, inside a chunk-size line after its digits, of the response that
 * starts at `start`: flagman skips a chunk extension up to its CRLF, taking any byte but CR, LF and
 * NUL (RFC 9112 §7.1.1 lets a recipient ignore extensions, and allows whitespace around `;`, which
 * strict llhttp refuses); where the line ends, the two agree.
 */
function inChunkExtension(buf, at, start) {
  if (at < 0) return false;
  const headEnd = buf.indexOf('\r\n\r\n', start, 'latin1');
  const lineStart = buf.lastIndexOf(10, at - 1) + 1;
  if (headEnd < 0 || lineStart <= headEnd + 3) return false;
  return /^[0-9a-fA-F]+[ \t;]/.test(buf.toString('latin1', lineStart, at + 1));
}

/**
 * Whether llhttp refused at `at`, in the trailer section of the chunked response `m`: flagman drops
 * trailer fields unread but for the CRLFs and NULs that would end or spoil a line; llhttp parses
 * them as header fields (a token name, no Content-Length). Where the section ends, the two agree.
 */
function inTrailers(buf, at, m) {
  if (at < m.start || at >= m.end || m.bodyLength >= 0) return false;
  const text = buf.toString('latin1', m.start, at);
  const body = text.indexOf('\r\n\r\n');
  return body >= 0 && /\r\n0+(?:[;\t ][^\r\n]*)?\r\n(?:[^\r\n]+\r\n)*[^\r\n]*$/.test(text.slice(body + 2));
}

/**
 * Whether llhttp takes the connection as closing after `prev`, a chunked response with trailers:
 * framing fields there (Transfer-Encoding: gzip) change its mind; flagman drops them unread.
 */
function closedByTrailers(buf, theirs, prev) {
  if (prev === undefined || prev.bodyLength >= 0 || !theirs.error?.startsWith('HPE_CLOSED_CONNECTION')) return false;
  return inTrailers(buf, prev.end - 4, prev);
}

/**
 * Whether llhttp refused at `at`, on a Content-Length line of a head that has several values, in one
 * field or several: flagman accepted them, so they are equal, and it takes them as one (RFC 9110
 * §8.6); llhttp refuses any second value. The head may be an interim one.
 */
function equalLengths(buf, at) {
  if (at < 0) return false;
  const lineStart = buf.lastIndexOf(10, at - 1) + 1;
  const headStart = buf.lastIndexOf('\r\n\r\n', at, 'latin1');
  const head = buf.toString('latin1', headStart < 0 ? 0 : headStart + 4, buf.indexOf('\r\n\r\n', at, 'latin1'));
  const line = buf.toString('latin1', lineStart, buf.indexOf('\r\n', at, 'latin1'));
  // Node 20's llhttp (not Node 26's) refuses an HTAB after the value, which is whitespace (RFC 9110 §5.6.3).
  return (
    /^content-length:/i.test(line) &&
    (line.includes(',') ||
      line.includes('\t') ||
      head.match(/\ncontent-length:/gi)?.length > 1 ||
      (/^content-length:/i.test(head) && /\ncontent-length:/i.test(head)))
  );
}

/**
 * Whether the response `seg` (its bytes as llhttp reads them, interim heads included) has something
 * flagman deliberately refuses though llhttp reads it (the list at the top of this file). Loose on
 * purpose where it looks at bodies: it may excuse a refusal it should not, never blame a listed one.
 */
function listedRefusal(seg, upgrade = false) {
  const heads = [];
  for (let pos = 0; ; ) {
    const end = seg.indexOf('\r\n\r\n', pos);
    const head = end < 0 ? seg.slice(pos) : seg.slice(pos, end + 2);
    heads.push(head);
    const interim = /^HTTP\/1\.[01] 1\d\d/.test(head) && !/^HTTP\/1\.[01] 101/.test(head);
    if (end < 0 || !interim) break;
    pos = end + 4;
  }
  const bodyFrom = heads.reduce((n, h) => n + h.length + 2, 0);
  for (const head of heads) {
    if (head.length + 2 > MAX_HEAD) return 'a head over 16 KiB, counted whole';
    if (!/^HTTP\/1\.[01] [1-9]\d\d(?: [^\r\n]*)?\r\n/.test(head))
      return 'a status line other than HTTP/1.0 or HTTP/1.1 and a status of 100–999';
    if (/^HTTP\/1\.[01] 101/.test(head) && !upgrade) return 'a 101 to a request that asked for no upgrade';
    if (/[\0-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(head)) return 'a control character in the head';
    if (/[\r\n]/.test(head.replaceAll('\r\n', ''))) return 'a bare CR or LF in the head';
    if (/\r\n[ \t]/.test(head)) return 'obs-fold';
    const te = [...head.matchAll(/\r\ntransfer-encoding:([^\r\n]*)/gi)].map((m) => m[1]);
    if (te.length > 1 || te.some((v) => v.includes('\t') || v.trim().toLowerCase() !== 'chunked'))
      return 'Transfer-Encoding other than exactly chunked';
    const cl = [...head.matchAll(/\r\ncontent-length:([^\r\n]*)/gi)].map((m) => m[1]);
    if (te.length > 0 && cl.length > 0) return 'Content-Length with Transfer-Encoding';
    if (cl.some((v) => /\d{16}/.test(v))) return 'a Content-Length of over 15 digits';
    const interim = /^HTTP\/1\.[01] 1\d\d/.test(head);
    const connection = [...head.matchAll(/\r\nconnection:([^\r\n]*)/gi)].map((m) => m[1]).join(',');
    if (interim && (/close/i.test(connection) || (head.startsWith('HTTP/1.0') && !/keep-alive/i.test(connection))))
      return 'an interim response that closes the connection';
  }
  for (const m of seg.slice(bodyFrom).matchAll(/(?:^|\n)([0-9a-fA-F]+)/g))
    if (m[1].length > 16 || parseInt(m[1], 16) > 2 ** 48 - 1) return 'a chunk size over 2^48 - 1 or of over 16 digits';
  return null;
}

const contentLength = (headers) => {
  const values = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i].toLowerCase() === 'content-length') values.push(headers[i + 1]);
  return values;
};

/** The property: throws with what differs. `text`: the raw bytes as a latin-1 string. */
export function check({ text, head, cuts, upgrade = false }) {
  // Node 20's llhttp (9.3) does not take `Keep-Alive` or `close` followed by an HTAB as the token,
  // which is whitespace (RFC 9110 §5.6.3); 9.4 (Node 22 on) does, as flagman does. Such cases are
  // left to the newer lines.
  if (OLD_LLHTTP && /\r\nconnection:[^\r\n]*\t/i.test(text)) return;
  const buf = Buffer.from(text, 'latin1');
  const ours = flagmanByBytes(buf, head, upgrade);
  const theirs = llhttpByPrefixes(buf, head, upgrade);
  for (let k = 0; k < ours.msgs.length; k++) {
    const m = ours.msgs[k];
    const n = theirs.msgs[k];
    const where = `response ${k + 1} (flagman: status ${m.status}, ends at byte ${m.end}; llhttp ${n === undefined ? `refused: ${theirs.error}` : `status ${n.status}, ends at byte ${n.end}`})`;
    if (
      n === undefined &&
      !inChunkExtension(buf, theirs.errorAt, m.start) &&
      !equalLengths(buf, theirs.errorAt) &&
      !inTrailers(buf, theirs.errorAt, m) &&
      !closedByTrailers(buf, theirs, ours.msgs[k - 1])
    )
      throw new Error(`flagman accepts ${where}`);
    if (n === undefined) return;
    if (m.status !== n.status) throw new Error(`status differs in ${where}`);
    if (m.end !== n.end) throw new Error(`end differs in ${where}`);
    if (!m.body.equals(n.body))
      throw new Error(
        `body differs in ${where}: ${JSON.stringify(m.body.toString('latin1'))} vs ${JSON.stringify(n.body.toString('latin1'))}`,
      );
    // Node's client tells keep-alive before it says the body is skipped: a HEAD response without a
    // length is to it one that ends at close. It ends at its head (RFC 9112 §6.3), as flagman keeps it.
    if (m.keepAlive && !n.keepAlive && !(head && k === 0)) throw new Error(`flagman keeps the connection, llhttp would not, in ${where}`);
    if (n.upgrade && !(upgrade && k === 0 && m.status === 101)) throw new Error(`llhttp sees an upgrade in ${where}`);
    const ourLength = contentLength(m.headers);
    if (JSON.stringify(ourLength) !== JSON.stringify(contentLength(n.headers))) throw new Error(`Content-Length differs in ${where}`);
    if (m.bodyLength >= 0 && m.bodyLength !== m.body.length)
      throw new Error(`flagman's bodyLength ${m.bodyLength} is not its body's ${m.body.length} in ${where}`);
    // Cut anywhere, flagman reads the same response.
    const cut = flagmanByCuts(buf, m.start, cuts, head && k === 0, upgrade && k === 0);
    if (cut.error !== undefined || cut.msg === null) throw new Error(`cut at ${cuts}, flagman ${cut.error ?? 'ends nothing'} in ${where}`);
    if (cut.msg.status !== m.status || !cut.msg.body.equals(m.body) || cut.msg.bodyLength !== m.bodyLength)
      throw new Error(`cut at ${cuts}, flagman reads another response in ${where}`);
    if (m.status === 101 && cut.msg.httpEnd !== m.end)
      throw new Error(`cut at ${cuts}, flagman hands the tunnel the bytes from ${cut.msg.httpEnd}, not ${m.end}, in ${where}`);
  }
  // Nor does flagman refuse a response llhttp reads whole, but for a listed reason.
  const k = ours.msgs.length;
  if (ours.error !== null && theirs.msgs.length > k) {
    const seg = text.slice(k === 0 ? 0 : ours.msgs[k - 1].end, theirs.msgs[k].end);
    if (listedRefusal(seg, upgrade && k === 0) === null)
      throw new Error(
        `flagman refuses response ${k + 1} (${ours.error}), which llhttp reads whole (status ${theirs.msgs[k].status}), for no listed reason`,
      );
  }
  // Nor does flagman take on, and pass on the body of, a response llhttp refuses before the bytes run out.
  const p = ours.pending;
  if (
    p !== null &&
    theirs.error !== null &&
    !theirs.error.endsWith('at the close') &&
    theirs.errorAt >= p.start &&
    theirs.msgs.length === ours.msgs.length
  ) {
    const m = { ...p, end: buf.length + 1 };
    if (
      !inChunkExtension(buf, theirs.errorAt, p.start) &&
      !equalLengths(buf, theirs.errorAt) &&
      !inTrailers(buf, theirs.errorAt, m) &&
      !closedByTrailers(buf, theirs, ours.msgs.at(-1))
    ) {
      throw new Error(
        `flagman takes on response ${ours.msgs.length + 1} (status ${p.status}, body so far ${JSON.stringify(Buffer.concat(p.body).toString('latin1'))}); llhttp refused: ${theirs.error} at byte ${theirs.errorAt}`,
      );
    }
  }
  // A refusal is a refusal however the bytes are cut.
  if (ours.error !== null) {
    const last = ours.msgs.at(-1);
    const cut = flagmanByCuts(buf, last === undefined ? 0 : last.end, cuts, head && last === undefined, upgrade && last === undefined);
    if (cut.error === undefined) throw new Error(`flagman refuses byte by byte (${ours.error}) but not cut at ${cuts}`);
  }
}

// ---- generators ----

const pick = (...xs) => fc.constantFrom(...xs);
const bodyText = fc.string({ unit: pick('a', 'b', '0', '1', 'f', '\r', '\n', ' ', ';', ':', 'H', '\0', '\xff'), maxLength: 24 });
const ws = pick('', '', ' ', '  ', '\t');
const clName = pick('Content-Length', 'Content-Length', 'content-length', 'CONTENT-LENGTH', 'Content-length');
const teName = pick('Transfer-Encoding', 'Transfer-Encoding', 'transfer-encoding', 'TRANSFER-ENCODING');
const otherHeader = pick(
  'Content-Type: text/plain',
  'X-A: 1',
  'Connection: keep-alive',
  'Connection: close',
  'Connection: Keep-Alive',
  'Keep-Alive: timeout=5',
  'Connection: x-a',
  'Server: s',
  'X-Empty:',
  'Set-Cookie: a=b; Path=/',
);
const status = fc.oneof(
  { weight: 6, arbitrary: pick(200, 200, 201, 204, 206, 301, 304, 404, 500) },
  { weight: 2, arbitrary: pick(100, 102, 103, 101, 199) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 1000 }) },
);
const statusLine = fc
  .record({
    version: fc.oneof(
      { weight: 8, arbitrary: fc.constant('HTTP/1.1') },
      { weight: 3, arbitrary: fc.constant('HTTP/1.0') },
      { weight: 1, arbitrary: pick('HTTP/1.2', 'HTTP/2.0', 'http/1.1', 'HTTP/0.9') },
    ),
    status,
    reason: pick(' OK', ' OK', '', ' ', ' Some Reason', ' \xe9'),
  })
  .map(({ version, status: s, reason }) => `${version} ${String(s).padStart(3, '0')}${reason}\r\n`);
const chunkExt = pick('', '', ';a=1', ';a="b c"', ' ;a', '; a', ';', '\t;x');
// Chunk data: short and hostile, or long enough for sizes of two and three hex digits in either case.
const chunkData = fc.oneof(
  { weight: 3, arbitrary: bodyText.filter((s) => s.length > 0) },
  {
    weight: 2,
    arbitrary: fc
      .record({ n: fc.integer({ min: 1, max: 300 }), unit: pick('q', 'xy', '\r\n', '0\r\n\r\n') })
      .map(({ n, unit }) => unit.repeat(n).slice(0, n)),
  },
);
// A chunk's size as written: mostly right; else empty, one off, or spoiled (the chunk-size parser's edge cases).
const sizeTamper = fc.oneof(
  { weight: 12, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: pick('empty', 'empty', 'empty', 'plus', 'minus', 'space', 'g', 'x', 'sign') },
);
function sizeText(n, hexCase, zeros, tamper) {
  const hex = (v) => (hexCase ? v.toString(16).toUpperCase() : v.toString(16));
  switch (tamper) {
    case 'empty':
      return '';
    case 'plus':
      return zeros + hex(n + 1);
    case 'minus':
      return zeros + hex(Math.max(0, n - 1));
    case 'space':
      return ` ${zeros}${hex(n)}`;
    case 'g':
      return `${zeros}${hex(n)}g`;
    case 'x':
      return `0x${hex(n)}`;
    case 'sign':
      return `+${hex(n)}`;
    default:
      return zeros + hex(n);
  }
}
const chunk = fc.record({ data: chunkData, ext: chunkExt, hexCase: fc.boolean(), zeros: pick('', '', '0', '00'), tamper: sizeTamper });
const trailers = fc.array(pick('X-T: 1', 'Content-Length: 5', 'x: y'), { maxLength: 2 });

/** A framing and the headers and body it takes. */
const framing = fc.oneof(
  fc.record({ kind: fc.constant('length'), body: bodyText, name: clName, before: ws, after: ws }).map(({ body, name, before, after }) => ({
    headers: [`${name}:${before}${body.length}${after}`],
    body,
  })),
  fc
    .record({
      kind: fc.constant('chunked'),
      chunks: fc.array(chunk, { maxLength: 3 }),
      name: teName,
      value: pick('chunked', 'chunked', 'Chunked', 'CHUNKED'),
      before: ws,
      after: ws,
      lastExt: chunkExt,
      lastTamper: sizeTamper,
      trailers,
    })
    .map(({ chunks, name, value, before, after, lastExt, lastTamper, trailers: tr }) => ({
      headers: [`${name}:${before}${value}${after}`],
      body:
        chunks
          .map((c) => `${sizeText(c.data.length, c.hexCase, c.zeros, c.tamper)}${c.tamper === 'empty' ? '' : c.ext}\r\n${c.data}\r\n`)
          .join('') +
        `${sizeText(0, false, '', lastTamper)}${lastTamper === 'empty' ? '' : lastExt}\r\n${tr.map((t) => `${t}\r\n`).join('')}\r\n`,
    })),
  bodyText.map((body) => ({ headers: [], body })), // until close
  fc.constant({ headers: [], body: '' }),
);

/** One response, well formed unless its status or framing headers say otherwise. */
// Now and then a head padded to within a few bytes of the 16 KiB limit, either side: where the two
// parsers count the limit from, and whether a head that fits exactly is taken.
const padding = fc.oneof(
  { weight: 250, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_HEAD - 40, max: MAX_HEAD + 8 }) },
);
const response = fc
  .record({
    line: statusLine,
    framing,
    before: fc.array(otherHeader, { maxLength: 2 }),
    after: fc.array(otherHeader, { maxLength: 2 }),
    padding,
  })
  .map(({ line, framing: f, before, after, padding: pad }) => {
    const fields = [...before, ...f.headers, ...after];
    if (pad > 0) {
      const used = line.length + fields.reduce((n, h) => n + h.length + 2, 0) + 2 + 'X-Pad: \r\n'.length;
      fields.push(`X-Pad: ${'p'.repeat(Math.max(0, pad - used))}`);
    }
    return `${line}${fields.map((h) => `${h}\r\n`).join('')}\r\n${f.body}`;
  });

/** Hostile edits to framing, applied to the text where they fit. */
const hostile = pick(
  ['\r\n\r\n', '\r\nContent-Length: 3\r\n\r\n'],
  ['\r\n\r\n', '\r\nContent-Length: 0\r\n\r\n'],
  ['\r\n\r\n', '\r\nTransfer-Encoding: chunked\r\n\r\n'],
  ['\r\n\r\n', '\r\nTransfer-Encoding: gzip\r\n\r\n'],
  ['\r\n\r\n', '\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'],
  ['\r\n\r\n', '\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'],
  ['\r\n\r\n', '\r\nTransfer-Encoding: identity\r\n\r\n'],
  ['\r\n\r\n', '\r\nTransfer-Encoding: \r\n\r\n'],
  ['\r\n\r\n', '\r\nContent-Length: 1, 1\r\n\r\n'],
  ['\r\n\r\n', '\r\nContent-Length:\r\n\r\n'],
  ['\r\n\r\n', '\r\n Transfer-Encoding: chunked\r\n\r\n'],
  ['\r\n\r\n', '\r\nX-A: 1\r\n\tTransfer-Encoding: chunked\r\n\r\n'],
  ['\r\n\r\n', '\r\nTransfer-Encoding : chunked\r\n\r\n'],
  ['\r\n\r\n', '\r\nTransfer-Encoding:\x0bchunked\r\n\r\n'],
  ['\r\n\r\n', '\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n'],
  ['\r\n\r\n', '\r\nContent-Length: 0x1\r\n\r\n'],
  ['\r\n\r\n', '\r\nContent-Length: 99999999999999999999\r\n\r\n'],
  ['\r\n\r\n', '\r\nContent-Length: -1\r\n\r\n'],
  ['chunked', 'chunked\r\n chunked'],
  ['chunked', 'chunked\r\nContent-Length: 2'],
  ['chunked', 'chunked,'],
  ['chunked', 'chunked , chunked'],
  ['chunked', 'chunkedx'],
  ['Length: ', 'Length: +'],
  ['Length: ', 'Length: 1'],
  ['Length: ', 'Length:\r\n '],
  ['Length:', 'Length\0:'],
  ['\r\n0', '\r\nfffffffffffffffff'],
  ['\r\n0', '\r\n10000000000000'],
  ['\r\n0', '\r\nffffffffffff'],
  ['\r\n0', '\r\n-0'],
  ['\r\n0\r\n', '\r\n\r\n'],
  ['\r\n1', '\r\n;'],
  ['\r\na', '\r\nA'],
  ['\r\nA', '\r\na'],
  ['\r\n0', '\r\n0x0'],
  ['\r\n0', '\r\n 0'],
  ['\r\n0', '\r\n0 '],
  ['\r\n0', '\r\ng'],
  ['\r\n1', '\r\n1 '],
  ['\r\n1', '\r\n01'],
  ['\r\n1', '\r\n2'],
  ['\r\n1', '\r\n0'],
  [';', ';\0'],
  [';', ';\n'],
  ['\r\n', '\n'],
  ['\r\n', '\r'],
  ['\r\n', '\r\r\n'],
  [': ', ':'],
  [': ', '\t: '],
  [':', ': \0'],
  ['HTTP/1.1 ', 'HTTP/1.1  '],
  ['HTTP/1.1 ', 'HTTP/1.1\t'],
);
const edit = fc.oneof(
  { weight: 3, arbitrary: fc.record({ at: fc.nat(), rule: hostile }) },
  {
    weight: 2,
    arbitrary: fc.record({ at: fc.nat(), insert: pick('\0', '\r', '\n', ' ', '\t', '\r\n', '\x7f', '\xff', ':', ',', '0', 'f', 'z', ';') }),
  },
  { weight: 1, arbitrary: fc.record({ at: fc.nat(), drop: fc.integer({ min: 1, max: 3 }) }) },
);

/** Applies an edit: a rule replaces the occurrence of its pattern nearest after `at` (wrapping). */
function apply(text, e) {
  if (text.length === 0) return text;
  const at = e.at % text.length;
  if (e.rule !== undefined) {
    const [from, to] = e.rule;
    let i = text.indexOf(from, at);
    if (i < 0) i = text.indexOf(from);
    return i < 0 ? text : text.slice(0, i) + to + text.slice(i + from.length);
  }
  if (e.insert !== undefined) return text.slice(0, at) + e.insert + text.slice(at);
  return text.slice(0, at) + text.slice(at + e.drop);
}

// The answer to an upgrade: a 101 (perhaps after a 100) with some of the fields it should have and
// some framing it should not, then the tunnel's bytes, made to look like HTTP.
const switching = fc
  .record({
    interim: pick('', '', 'HTTP/1.1 100 Continue\r\n\r\n'),
    version: pick('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'),
    fields: fc.subarray([
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Accept: x',
      'Content-Length: 3',
      'Transfer-Encoding: chunked',
      'Connection: close',
    ]),
  })
  .map(({ interim, version, fields }) => `${interim}${version} 101 Switching Protocols\r\n${fields.map((f) => `${f}\r\n`).join('')}\r\n`);

/**
 * One or two responses back to back, edits on the first, a HEAD request or not, an upgrade asked
 * for or not (then often answered by a 101, the tunnel's bytes after it), and where reads cut.
 */
export const cases = fc
  .record({
    first: response,
    second: fc.option(response, { nil: '' }),
    edits: fc.array(edit, { maxLength: 3 }),
    head: fc.boolean(),
    upgrade: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    switching: fc.option(switching, { freq: 2, nil: null }),
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
  })
  .map(({ first, second, edits, head, upgrade, switching: sw, cuts }) =>
    upgrade && sw !== null
      ? { text: edits.reduce(apply, sw) + first, head: false, upgrade, cuts }
      : { text: edits.reduce(apply, first) + second, head, upgrade, cuts },
  );

/** The target scripts/fuzz.js runs. */
export const target = {
  name: 'response',
  what: 'upstream response parser vs llhttp',
  cases,
  check,
};
