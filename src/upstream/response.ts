// An HTTP/1.x response parser for the upstream side (RFC 9112): the head, then the body by its
// framing (Content-Length, chunked, until close, or none), fed the socket's buffers as they come.
// Written for the proxy's case, not in general: the head's headers come out already as writeHead
// wants them (strings, hop-by-hop ones dropped) with the framing facts beside them, and body bytes
// go out as views of the socket's own buffers, never copied. Anything ambiguous about where the
// response ends is refused, as a proxy must (a response smuggled into the next one is the risk):
// Content-Length with Transfer-Encoding, two different lengths, codings other than chunked,
// folded or malformed header lines, a head over the size limit.
import { dropConnectionListed, HeaderKind, responseHeaderKind } from './hop-by-hop.js';

/** The server sent something that is not a response flagman passes on (the detail says what). */
export class BadResponse extends Error {
  override name = 'BadResponse';
}

/** What the parser tells as it goes: one head (1xx interim heads are skipped), body views, the end. */
export interface ResponseSink {
  /**
   * The head. `headers` is flat [name, value, …] without hop-by-hop headers (a 101 to an upgrade:
   * with all of them); `bodyLength` is the Content-Length the body will have, or -1 when it is
   * chunked or runs until close (or there is no body: a 101 is followed by another protocol).
   */
  onHead(status: number, statusText: string, headers: string[], bodyLength: number): void;
  /** A piece of the body: a view of the buffer given to execute(), never a copy. */
  onBody(chunk: Buffer): void;
  /** The response is complete. */
  onEnd(): void;
}

// The parser's states: small integers, compared in the byte loops.
const State = {
  Idle: 0,
  Head: 1,
  Length: 2,
  ChunkSize: 3,
  ChunkExt: 4,
  ChunkSizeLf: 5,
  ChunkData: 6,
  ChunkDataCr: 7,
  ChunkDataLf: 8,
  Trailer: 9,
  TrailerLf: 10,
  UntilClose: 11,
  Done: 12,
  /** A 101 to an upgrade: what follows is no longer HTTP, and not the parser's. */
  Upgraded: 13,
} as const;
type State = (typeof State)[keyof typeof State];

/** RFC 9110 §5.6.2 token characters, for header names: 1 in this table (the request side's too, proxy/simple-head.ts). */
export const TOKEN_CHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN_CHAR[c.charCodeAt(0)] = 1;
/** A Connection header value naming `close` among its tokens. */
export const CLOSE_TOKEN = /(?:^|,)\s*close\s*(?:,|$)/i;
const KEEP_ALIVE_TOKEN = /(?:^|,)\s*keep-alive\s*(?:,|$)/i;
const KEEP_ALIVE_TIMEOUT = /(?:^|[,;\s])timeout\s*=\s*(\d{1,9})/i;
const DIGITS = /^\d{1,15}$/;
const CONTROL = /[\0-\x08\x0b\x0c\x0e-\x1f\x7f]/;
// A chunk-size line with extensions, and a trailer section, are bounded like a head.
const MAX_CHUNK_LINE = 4096;
// Chunk sizes up to 2^48 - 1 (256 TiB, 12 hex digits): far past any real chunk, and far below 2^53,
// where a size held as a double stops being exact (RFC 9112 §7.1: guard against that overflow). A
// size over 2^44 - 1 cannot take another digit, checked before the digit is added, so the size
// never goes past the limit. Leading zeros do not grow it: a limit of 16 digits bounds the line.
const MAX_CHUNK_SIZE_BEFORE_DIGIT = 2 ** 44 - 1;
const MAX_CHUNK_SIZE_DIGITS = 16;

const CR = 13;
const LF = 10;

/** `HTTP/1.0` or `HTTP/1.1`, a status of 100–999, then the end or a space and a reason; `eol` at the CR. */
function statusLine(s: string, eol: number): boolean {
  const v = s.charCodeAt(7);
  if ((v !== 48 && v !== 49) || s.charCodeAt(8) !== 32) return false;
  for (let i = 9; i < 12; i++) {
    const d = s.charCodeAt(i);
    if (d < 48 || d > 57) return false;
  }
  if (s.charCodeAt(9) === 48) return false;
  return eol === 12 || s.charCodeAt(12) === 32;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Strips optional whitespace (SP, HTAB) around a header value; nothing else counts as OWS. */
function ows(s: string, from: number, to: number): string {
  while (from < to && (s.charCodeAt(from) === 32 || s.charCodeAt(from) === 9)) from++;
  while (to > from && (s.charCodeAt(to - 1) === 32 || s.charCodeAt(to - 1) === 9)) to--;
  return s.slice(from, to);
}

export class ResponseParser {
  readonly #sink: ResponseSink;
  readonly #maxHead: number;
  #state: State = State.Idle;
  #noBody = false;
  /** The request asked for an upgrade: a 101 ends the parse, its head passed on whole. */
  #upgrade = false;
  /**
   * Head bytes of earlier buffers, while the head is incomplete: the first #partialLength bytes of
   * a buffer that grows by doubling. A server that trickles its head a byte per read then costs
   * O(n) copying, not O(n²): concatenating on every read copied 134 MB for a 16 KiB head.
   */
  #partial: Buffer | null = null;
  #partialLength = 0;
  #remaining = 0;
  #lineBytes = 0;
  #sizeDigits = 0;
  /** Inside a trailer field line (not at the start of one). */
  #inLine = false;
  /** Whether the connection may carry another request once this response is complete. */
  keepAlive = false;
  /** The server's `Keep-Alive: timeout=N`, in ms, or -1. */
  keepAliveMs = -1;
  /** Bytes came after the end of the response: the connection cannot be trusted with another request. */
  trailingBytes = false;

  /** `maxHead`: the largest head accepted, in bytes. */
  constructor(sink: ResponseSink, maxHead: number) {
    this.#sink = sink;
    this.#maxHead = maxHead;
  }

  /**
   * Expects a new response, to a request of which only whether it was a HEAD matters, and whether
   * it asked for an upgrade (proxy/tunnel.ts): only then is a 101 an answer, not a bad response.
   */
  expect(head: boolean, upgrade = false): void {
    this.#state = State.Head;
    this.#noBody = head;
    this.#upgrade = upgrade;
    this.#partial = null;
    this.keepAlive = false;
    this.keepAliveMs = -1;
    this.trailingBytes = false;
  }

  /**
   * The server closed its side: ends a body that runs until close and returns true; false when
   * no response was waiting for the close (one cut short, or none under way).
   */
  finish(): boolean {
    if (this.#state !== State.UntilClose) return false;
    this.#state = State.Done;
    this.#sink.onEnd();
    return true;
  }

  /**
   * Parses `buf`; throws BadResponse. Returns how many of its bytes were HTTP: all of them, but
   * after a 101 to an upgrade, where the bytes after its head are the new protocol's.
   */
  execute(buf: Buffer): number {
    let at = 0;
    const end = buf.length;
    while (at < end) {
      switch (this.#state) {
        case State.Head: {
          const used = this.#head(buf, at);
          if (used < 0) return end; // the head goes on in the next buffer
          at = used;
          break;
        }
        case State.Length: {
          const n = Math.min(this.#remaining, end - at);
          this.#remaining -= n;
          const last = this.#remaining === 0;
          if (last) this.#state = State.Done;
          this.#sink.onBody(at === 0 && n === end ? buf : buf.subarray(at, at + n));
          at += n;
          if (last) this.#sink.onEnd();
          break;
        }
        case State.UntilClose:
          this.#sink.onBody(at === 0 ? buf : buf.subarray(at));
          return end;
        case State.ChunkData: {
          const n = Math.min(this.#remaining, end - at);
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = State.ChunkDataCr;
          this.#sink.onBody(buf.subarray(at, at + n));
          at += n;
          break;
        }
        case State.Done:
        case State.Idle:
          // More than the one response asked for: nothing that follows can be trusted.
          this.trailingBytes = true;
          this.keepAlive = false;
          return end;
        case State.Upgraded:
          return at;
        default:
          at = this.#chunkFraming(buf, at);
      }
    }
    return end;
  }

  /** The byte-at-a-time states of chunked framing: size line, CRLFs, trailers. */
  #chunkFraming(buf: Buffer, at: number): number {
    const c = buf[at]!;
    switch (this.#state) {
      case State.ChunkSize: {
        const v = hexValue(c);
        if (v >= 0) {
          if (++this.#sizeDigits > MAX_CHUNK_SIZE_DIGITS) throw new BadResponse('chunk size too long');
          if (this.#remaining > MAX_CHUNK_SIZE_BEFORE_DIGIT) throw new BadResponse('chunk size too large');
          this.#remaining = this.#remaining * 16 + v;
        } else if (this.#sizeDigits > 0 && (c === 59 /* ; */ || c === 32 || c === 9)) {
          this.#state = State.ChunkExt;
        } else if (this.#sizeDigits > 0 && c === CR) {
          this.#state = State.ChunkSizeLf;
        } else {
          throw new BadResponse('invalid chunk size');
        }
        break;
      }
      case State.ChunkExt:
        if (++this.#lineBytes > MAX_CHUNK_LINE) throw new BadResponse('chunk extension too long');
        if (c === CR) this.#state = State.ChunkSizeLf;
        else if (c === LF || c === 0) throw new BadResponse('invalid chunk extension');
        break;
      case State.ChunkSizeLf:
        if (c !== LF) throw new BadResponse('chunk size line not ended by CRLF');
        if (this.#remaining === 0) {
          this.#state = State.Trailer;
          this.#lineBytes = 0;
          this.#inLine = false;
        } else {
          this.#state = State.ChunkData;
        }
        break;
      case State.ChunkDataCr:
        if (c !== CR) throw new BadResponse('chunk data not ended by CRLF');
        this.#state = State.ChunkDataLf;
        break;
      case State.ChunkDataLf:
        if (c !== LF) throw new BadResponse('chunk data not ended by CRLF');
        this.#nextChunk();
        break;
      case State.Trailer:
        // Trailer fields are not passed on (the client's response is chunked by Node, without them);
        // only their end matters: an empty line.
        if (++this.#lineBytes > this.#maxHead) throw new BadResponse('trailer section too large');
        if (c === CR) this.#state = State.TrailerLf;
        else if (c === LF || c === 0) throw new BadResponse('invalid trailer line');
        else this.#inLine = true;
        break;
      case State.TrailerLf:
        if (c !== LF) throw new BadResponse('trailer line not ended by CRLF');
        if (this.#inLine) {
          this.#inLine = false;
          this.#state = State.Trailer;
        } else {
          this.#state = State.Done;
          this.#sink.onEnd();
        }
        break;
    }
    return at + 1;
  }

  /** Expects a chunk-size line. */
  #nextChunk(): void {
    this.#state = State.ChunkSize;
    this.#remaining = 0;
    this.#sizeDigits = 0;
    this.#lineBytes = 0;
  }

  /** Parses a head that starts at `at` (or in #partial); returns where it ended, or -1 for more. */
  #head(buf: Buffer, at: number): number {
    let src = buf;
    let from = at;
    let searchFrom = at;
    let before = 0;
    if (this.#partial !== null) {
      before = this.#partialLength;
      src = this.#append(buf, at);
      from = 0;
      searchFrom = Math.max(0, before - 3);
    }
    const blank = src.indexOf('\r\n\r\n', searchFrom, 'latin1');
    if (blank < 0) {
      if (src.length - from > this.#maxHead) throw new BadResponse(`response head over ${this.#maxHead} bytes`);
      if (src === buf) this.#keep(buf, from);
      return -1;
    }
    if (blank + 4 - from > this.#maxHead) throw new BadResponse(`response head over ${this.#maxHead} bytes`);
    this.#partial = null;
    this.#parseHead(src.toString('latin1', from, blank + 2));
    // Where the head ended in `buf`: the concatenation began with #partial's bytes, then buf from `at`.
    return src === buf ? blank + 4 : at + blank + 4 - before;
  }

  /** Starts #partial with `buf` from `from`: room for twice as much, the head's next reads. */
  #keep(buf: Buffer, from: number): void {
    const n = buf.length - from;
    this.#partial = Buffer.allocUnsafe(Math.max(256, 2 * n));
    buf.copy(this.#partial, 0, from);
    this.#partialLength = n;
  }

  /** Appends `buf` from `at` to #partial (growing it by doubling); the head's bytes so far. */
  #append(buf: Buffer, at: number): Buffer {
    const partial = this.#partial!;
    const length = this.#partialLength + buf.length - at;
    let into = partial;
    if (length > partial.length) {
      into = Buffer.allocUnsafe(Math.max(length, 2 * partial.length));
      partial.copy(into, 0, 0, this.#partialLength);
      this.#partial = into;
    }
    buf.copy(into, this.#partialLength, at);
    this.#partialLength = length;
    return into.subarray(0, length);
  }

  /** `s`: the head through the CRLF of its last line, without the blank line. */
  #parseHead(s: string): void {
    // NUL, DEL and the other controls but HTAB (CR and LF end lines, checked below) are in no valid
    // field value or reason phrase (RFC 9110 §5.5), llhttp refuses them, and Node's writeHead throws on them.
    if (CONTROL.test(s)) throw new BadResponse('a control character in the response head');
    // Written out with indexOf and char codes, not regular expressions and splits: this runs once
    // per proxied response (bench/RESULTS.md).
    let nl = s.indexOf('\n');
    let eol = nl - 1;
    // A bare CR in the reason phrase would end the status line early for another parser.
    if (!s.startsWith('HTTP/1.') || s.charCodeAt(eol) !== CR || s.indexOf('\r') !== eol || eol < 12 || !statusLine(s, eol)) {
      throw new BadResponse(`invalid status line: ${JSON.stringify(s.slice(0, Math.min(Math.max(eol, 0), 80)))}`);
    }
    const http10 = s.charCodeAt(7) === 48;
    const status = (s.charCodeAt(9) - 48) * 100 + (s.charCodeAt(10) - 48) * 10 + (s.charCodeAt(11) - 48);
    const statusText = eol > 13 ? s.slice(13, eol) : '';
    const headers: string[] = [];
    // An upgrade's 101 goes to the client with every header it has, its Connection and Upgrade too.
    const all: string[] | null = this.#upgrade ? [] : null;
    let connection: string | null = null;
    let length = -1;
    let chunked = false;
    let keepAliveHeader: string | null = null;
    for (let pos = nl + 1; pos < s.length; pos = nl + 1) {
      nl = s.indexOf('\n', pos);
      eol = nl - 1;
      // Every line ends in CRLF; a bare CR or LF inside one would end it differently for another parser.
      if (s.charCodeAt(eol) !== CR || s.indexOf('\r', pos) !== eol) throw new BadResponse('header line with a bare CR or LF');
      const first = s.charCodeAt(pos);
      if (first === 32 || first === 9) throw new BadResponse('folded header line');
      let colon = pos;
      while (colon < eol && TOKEN_CHAR[s.charCodeAt(colon)] === 1) colon++;
      if (colon === pos || colon === eol || s.charCodeAt(colon) !== 58 /* : */) {
        throw new BadResponse(`invalid header line: ${JSON.stringify(s.slice(pos, Math.min(eol, pos + 80)))}`);
      }
      const name = s.slice(pos, colon);
      const value = ows(s, colon + 1, eol);
      all?.push(name, value);
      const kind = responseHeaderKind(name);
      if (kind === HeaderKind.EndToEnd) {
        headers.push(name, value);
      } else if (kind === HeaderKind.ContentLength) {
        // Kept for the client; a list of equal values is one value (RFC 9110 §8.6).
        const parts = value.includes(',') ? value.split(',') : [value];
        for (const part of parts) {
          const v = parts.length === 1 ? part : ows(part, 0, part.length);
          if (!DIGITS.test(v)) throw new BadResponse(`invalid Content-Length: ${JSON.stringify(value.slice(0, 40))}`);
          const n = Number(v);
          if (length >= 0 && n !== length) throw new BadResponse('two different Content-Length values');
          length = n;
        }
        headers.push(name, value);
      } else if (kind === HeaderKind.Connection) {
        connection = connection === null ? value : `${connection}, ${value}`;
      } else if (kind === HeaderKind.KeepAlive) {
        keepAliveHeader = value;
      } else if (kind === HeaderKind.TransferEncoding) {
        if (chunked) throw new BadResponse('chunked applied twice');
        // An HTAB around `chunked` is OWS to RFC 9110 but not to llhttp, which then reads until close:
        // two readings of where the response ends.
        if (value.includes(',') || value.toLowerCase() !== 'chunked' || s.lastIndexOf('\t', eol) > colon)
          throw new BadResponse(`Transfer-Encoding other than chunked: ${JSON.stringify(value.slice(0, 40))}`);
        chunked = true;
      }
    }
    if (chunked && length >= 0) throw new BadResponse('both Content-Length and Transfer-Encoding');

    // What nearly every server says is answered without a regular expression.
    if (connection === null || connection === 'keep-alive') this.keepAlive = !http10 || connection !== null;
    else this.keepAlive = !CLOSE_TOKEN.test(connection) && (!http10 || KEEP_ALIVE_TOKEN.test(connection));
    if (keepAliveHeader !== null) {
      if (keepAliveHeader === 'timeout=5')
        this.keepAliveMs = 5000; // Node's default
      else {
        const t = KEEP_ALIVE_TIMEOUT.exec(keepAliveHeader);
        if (t !== null) this.keepAliveMs = Number(t[1]) * 1000;
      }
    }

    if (status < 200) {
      // 100 Continue, 103 Early Hints …: interim, not passed on; the real head follows. A 101 is an
      // answer only to an upgrade (proxy/tunnel.ts): the end of HTTP on the connection.
      if (status === 101) {
        if (all === null) throw new BadResponse('101 Switching Protocols to a request that asked for no upgrade');
        this.#state = State.Upgraded;
        this.keepAlive = false;
        this.#sink.onHead(status, statusText, all, -1);
        return;
      }
      // llhttp takes an interim head that does not keep the connection (HTTP/1.0, Connection: close)
      // as the last thing on it, and refuses what follows: refused here too, not read two ways.
      if (!this.keepAlive) throw new BadResponse('an interim response that closes the connection');
      this.#state = State.Head;
      return;
    }
    const kept = connection === null ? headers : dropConnectionListed(headers, connection);
    if (this.#noBody || status === 204 || status === 304) {
      this.#state = State.Done;
      this.#sink.onHead(status, statusText, kept, -1);
      if (this.#state === State.Done) this.#sink.onEnd();
      return;
    }
    if (chunked) {
      this.#nextChunk();
    } else if (length >= 0) {
      this.#state = length === 0 ? State.Done : State.Length;
      this.#remaining = length;
    } else {
      // No framing: the body is whatever comes until the server closes, and the connection ends with it.
      this.#state = State.UntilClose;
      this.keepAlive = false;
    }
    this.#sink.onHead(status, statusText, kept, chunked ? -1 : length);
    if (length === 0 && this.#state === State.Done) this.#sink.onEnd();
  }
}
