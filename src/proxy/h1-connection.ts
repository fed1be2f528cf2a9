// flagman's HTTP/1.1 fast path: a frontend's client connections, plain or TLS, read by flagman's
// own code while their requests are the common kind (simple-head.ts), and handed to Node's HTTP/1.1
// server for the rest of their life at the first request that is not — with every byte read so far
// put back, so Node's server reads that request from its first byte and answers it as it always
// did: malformed heads, heads cut in two reads (a slow client included), chunked bodies, upgrades,
// `Expect`, HTTP/1.0, with Node's errors, limits and timeouts.
//
// Why: Node's server costs a request 10-28 µs of CPU that a proxy answering from memory does not
// need (bench/RESULTS.md, "Node's HTTP/1.1 server against a bare socket server"), and from Node 24
// on it holds a 10 KB parser object for each open connection, idle ones included ("Idle
// connections on Node 24 and 26: the HTTP parser object"). A connection on this path holds none.
//
// What Node's server did for these requests, this does the same way, and the request path
// (handler.ts, exchange.ts, upstream.ts) sees the same members: the request is a Readable with
// method, url, headers, rawHeaders, complete, socket; the response has writeHead (a flat header
// list or an object, an optional reason), write, end, headersSent, statusCode, shouldKeepAlive,
// writableFinished, writableLength, destroy, and its 'finish', 'close' and 'drain' events. It adds
// the headers Node adds: Date, Connection (keep-alive with Keep-Alive: timeout=N, or close), and
// Transfer-Encoding: chunked when a body has no length. Requests are served one at a time, in
// order: a request pipelined behind another is read once the one ahead is answered, which is the
// order Node's server answers them in too. Requests reach the server's 'request' listeners, so a
// drain's (lifecycle/listeners.ts) sees them as it sees Node's.
import type net from 'node:net';
import { nodeHttp } from '../node-http.js';
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { readSimpleHead } from './simple-head.js';
import { CLOSE_TOKEN } from '../upstream/response.js';

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** A head longer than this is Node's to read (it answers 431 over 16 KiB). */
const MAX_HEAD = 8192;

/** Pipelined bytes kept while a request is answered; over it the socket is not read until then. */
const MAX_AHEAD = 65536;

// Node's server keeps an idle kept-alive socket this much longer than keepAliveTimeout (measured on
// Node 20 and 26: a 1.5 s keepAliveTimeout closes the socket after 2.5 s).
const KEEP_ALIVE_SLACK_MS = 1000;

/** What a server of the fast path is: Node's server for the connections it hands over, and its settings. */
export interface FastServer {
  /** The server whose 'request' and 'clientError' listeners serve this path's requests. */
  readonly server: net.Server;
  /** Takes a connection over into Node's HTTP/1.1 server, its unread bytes put back first. */
  readonly toNode: (socket: net.Socket) => void;
  /** Node's keepAliveTimeout and headersTimeout, as applied now. */
  readonly timeouts: { readonly keepAliveTimeout: number; readonly headersTimeout: number };
  /** The connections on this path now. */
  readonly open: Set<H1Connection>;
  /** The server is draining: answers say Connection: close, idle connections are closed. */
  closing: boolean;
}

/** A request on the fast path: Node's IncomingMessage as the request path uses it. */
export class FastRequest extends Readable {
  readonly method: string;
  url: string;
  readonly headers: Record<string, string | string[]>;
  readonly rawHeaders: string[];
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  readonly socket: net.Socket;
  complete = false;
  readonly #conn: H1Connection;
  constructor(conn: H1Connection, method: string, url: string, headers: Record<string, string | string[]>, raw: string[]) {
    super();
    this.#conn = conn;
    this.socket = conn.socket;
    this.method = method;
    this.url = url;
    this.headers = headers;
    this.rawHeaders = raw;
  }
  override _read(): void {
    this.#conn.bodyWanted();
  }
}

let dateLine = '';
let dateUntil = 0;
/** The Date header, made once a second. */
function dateHeader(): string {
  const now = Date.now();
  if (now >= dateUntil) {
    dateLine = `Date: ${new Date(now).toUTCString()}\r\n`;
    dateUntil = now - (now % 1000) + 1000;
  }
  return dateLine;
}

const STATUS_LINES: string[] = [];
function statusLine(status: number, text: string | undefined): string {
  if (text !== undefined) return `HTTP/1.1 ${status} ${text}\r\n`;
  let line = STATUS_LINES[status];
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${nodeHttp.STATUS_CODES[status] ?? 'unknown'}\r\n`;
    STATUS_LINES[status] = line;
  }
  return line;
}

/** A response on the fast path: Node's ServerResponse as the request path uses it. */
export class FastResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  shouldKeepAlive: boolean;
  readonly socket: net.Socket;
  readonly #conn: H1Connection;
  /** The head, until the first write sends it with the body's first bytes. */
  #head: string | null = null;
  #chunked = false;
  #noBody: boolean;
  constructor(conn: H1Connection, keepAlive: boolean, head: boolean) {
    super();
    this.#conn = conn;
    this.socket = conn.socket;
    this.shouldKeepAlive = keepAlive;
    this.#noBody = head;
  }
  get writableLength(): number {
    return this.socket.writableLength;
  }
  /** The response corks nothing of its own: every write goes to the socket as it is made. */
  get writableCorked(): number {
    return 0;
  }
  cork(): void {
    this.socket.cork();
  }
  uncork(): void {
    this.socket.uncork();
  }
  setTimeout(ms: number): this {
    this.socket.setTimeout(ms);
    return this;
  }
  writeContinue(): void {
    this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
  }
  writeHead(status: number, text?: unknown, headers?: unknown): this {
    let reason: string | undefined;
    if (typeof text === 'string') reason = text;
    else headers = text;
    this.statusCode = status;
    let head = statusLine(status, reason);
    let length = false;
    let date = false;
    const add = (name: string, value: string): void => {
      head += `${name}: ${value}\r\n`;
      switch (name.length) {
        case 4:
          if (name.toLowerCase() === 'date') date = true;
          break;
        case 10:
          if (name.toLowerCase() === 'connection' && CLOSE_TOKEN.test(value)) this.shouldKeepAlive = false;
          break;
        case 14:
          if (name.toLowerCase() === 'content-length') length = true;
          break;
      }
    };
    if (Array.isArray(headers)) {
      for (let i = 0; i < headers.length; i += 2) add(headers[i] as string, String(headers[i + 1]));
    } else if (headers !== undefined && headers !== null) {
      for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
        if (Array.isArray(value)) for (const v of value) add(name, String(v));
        else if (value !== undefined) add(name, String(value));
      }
    }
    if (!date) head += dateHeader();
    if (status === 204 || status === 304 || status < 200) this.#noBody = true;
    if (!this.#noBody && !length) {
      head += 'Transfer-Encoding: chunked\r\n';
      this.#chunked = true;
    }
    if (this.#conn.closing) this.shouldKeepAlive = false;
    if (!this.shouldKeepAlive) head += 'Connection: close\r\n\r\n';
    else {
      const ms = this.#conn.keepAliveMs();
      head += ms > 0 ? `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(ms / 1000)}\r\n\r\n` : 'Connection: keep-alive\r\n\r\n';
    }
    this.#head = head;
    this.headersSent = true;
    return this;
  }
  write(chunk: string | Buffer, encoding?: BufferEncoding): boolean {
    if (this.writableEnded) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    return this.#send(chunk, encoding, false);
  }
  end(chunk?: string | Buffer | (() => void)): this {
    if (this.writableEnded) return this;
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.writableEnded = true;
    this.#send(typeof chunk === 'function' || chunk === undefined ? '' : chunk, undefined, true);
    return this;
  }
  // The head goes out with the first bytes of the body, in one write when they are a latin1 string
  // (the small response sent whole, upstream.ts), corked with them otherwise.
  #send(chunk: string | Buffer, encoding: BufferEncoding | undefined, last: boolean): boolean {
    const socket = this.socket;
    if (socket.destroyed) return false;
    const head = this.#head ?? '';
    this.#head = null;
    const done = last ? this.#finished : undefined;
    if (this.#noBody) return socket.write(head, 'latin1', done);
    if (typeof chunk === 'string' && (encoding === 'latin1' || isAscii(chunk))) {
      let text = head;
      if (!this.#chunked) text += chunk;
      else {
        if (chunk.length > 0) text += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
        if (last) text += '0\r\n\r\n';
      }
      return socket.write(text, 'latin1', done);
    }
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    const n = bytes.length;
    socket.cork();
    let more = true;
    const before = this.#chunked && n > 0 ? `${head}${n.toString(16)}\r\n` : head;
    if (before !== '') more = socket.write(before, 'latin1');
    if (n > 0) more = socket.write(bytes, last && !this.#chunked ? done : undefined);
    if (this.#chunked) more = socket.write(n > 0 ? (last ? '\r\n0\r\n\r\n' : '\r\n') : last ? '0\r\n\r\n' : '', 'latin1', done);
    else if (last && n === 0) more = socket.write('', 'latin1', done);
    socket.uncork();
    return more;
  }
  // The last write's callback: with an error when the socket was destroyed before it went out, and
  // then the response did not finish — its socket's close says so (socketClosed).
  readonly #finished = (err?: Error | null): void => {
    if (err) return;
    this.writableFinished = true;
    this.emit('finish');
    this.#conn.responded(this);
    this.emit('close');
  };
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.socket.destroy();
  }
  /** Its socket closed: a response not finished is over (Node's 'close' without 'finish'). */
  socketClosed(): void {
    if (this.writableFinished) return;
    this.destroyed = true;
    this.emit('close');
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return false;
  return true;
}

/** One client connection on the fast path, until it closes or goes to Node's server. */
export class H1Connection {
  readonly socket: net.Socket;
  readonly #fast: FastServer;
  /** What was read and not yet taken: a head, or requests pipelined behind the one being answered. */
  #buf: Buffer | null = null;
  #res: FastResponse | null = null;
  /** The request whose body is still coming, and how many of its bytes. */
  #bodyOf: FastRequest | null = null;
  #bodyLeft = 0;
  #paused = false;
  /** Until the first byte: Node's headersTimeout from the accept (a new connection that says nothing). */
  #timer: NodeJS.Timeout | null = null;
  constructor(socket: net.Socket, fast: FastServer) {
    this.socket = socket;
    this.#fast = fast;
    fast.open.add(this);
    this.#listen(true);
    socket.setNoDelay(true);
    const ms = fast.timeouts.headersTimeout;
    if (ms > 0) this.#timer = setTimeout(this.#silent, ms);
    socket.resume();
  }

  /** Adds (true) or removes this connection's listeners on its socket. */
  #listen(on: boolean): void {
    const socket = this.socket;
    const act = on ? socket.on.bind(socket) : socket.off.bind(socket);
    act('data', this.#onData);
    act('end', this.#onEnd);
    act('close', this.#onClose);
    act('error', this.#onError);
    act('timeout', this.#onTimeout);
    act('drain', this.#onDrain);
  }

  get closing(): boolean {
    return this.#fast.closing;
  }

  keepAliveMs(): number {
    return this.#fast.timeouts.keepAliveTimeout;
  }

  /** True when no request is in progress: the connection may be closed without cutting anything. */
  get idle(): boolean {
    return this.#res === null && this.#bodyLeft === 0;
  }

  // A new connection that sent nothing for headersTimeout: Node's server answers 408 through its
  // 'clientError' listeners (client-error.ts), and so does this.
  readonly #silent = (): void => {
    this.#timer = null;
    if (this.socket.destroyed) return;
    const err = Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
    if (!this.#fast.server.emit('clientError', err, this.socket)) this.socket.destroy();
  };

  readonly #onDrain = (): void => {
    this.#res?.emit('drain');
  };

  // Node's server on a socket timeout: the request whose body is still coming and the response are
  // told, and the socket is destroyed when nothing listens; an idle socket is just closed.
  readonly #onTimeout = (): void => {
    const body = this.#bodyOf;
    const socket = this.socket;
    const toldRequest = body !== null && !body.complete && body.emit('timeout', socket);
    const toldResponse = this.#res?.emit('timeout', socket) ?? false;
    const toldServer = this.#fast.server.emit('timeout', socket);
    if (!toldRequest && !toldResponse && !toldServer) socket.destroy();
  };

  // The client closed its side: as Node's server (without httpAllowHalfOpen), a body still coming is
  // aborted and the connection ended; a response still being written then fails and closes it.
  readonly #onEnd = (): void => {
    const body = this.#bodyOf;
    if (body !== null && !body.complete) body.destroy();
    if (this.socket.writable) this.socket.end();
  };

  readonly #onError = (): void => {
    this.socket.destroy();
  };

  readonly #onClose = (): void => {
    this.#stopTimer();
    this.#fast.open.delete(this);
    const body = this.#bodyOf;
    if (body !== null && !body.complete) body.destroy();
    this.#res?.socketClosed();
  };

  #stopTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#stopTimer();
    if (this.#bodyLeft > 0) {
      const n = Math.min(this.#bodyLeft, chunk.length);
      this.#body(n === chunk.length ? chunk : chunk.subarray(0, n));
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    this.#buf = this.#buf === null ? chunk : Buffer.concat([this.#buf, chunk]);
    if (this.#res === null) this.#next();
    else if (this.#buf.length > MAX_AHEAD && !this.#paused) {
      this.#paused = true;
      this.socket.pause();
    }
  };

  #body(chunk: Buffer): void {
    this.#bodyLeft -= chunk.length;
    const req = this.#bodyOf!;
    const last = this.#bodyLeft === 0;
    if (last) {
      req.complete = true;
      this.#bodyOf = null;
    }
    if (!req.push(chunk) && !last && !this.#paused) {
      this.#paused = true;
      this.socket.pause();
    }
    if (last) {
      req.push(null);
      // The answer went out before the body was all in (a refused upload kept alive): the next
      // request can be read now.
      if (this.#res === null && this.#buf !== null) this.#next();
    }
  }

  /** The request's reader wants more of its body. */
  bodyWanted(): void {
    if (this.#paused && (this.#buf === null || this.#buf.length <= MAX_AHEAD)) {
      this.#paused = false;
      this.socket.resume();
    }
  }

  /** `res` has been sent whole: the connection closes, or waits for its next request. */
  responded(res: FastResponse): void {
    if (res !== this.#res) return;
    this.#res = null;
    const socket = this.socket;
    // A body nobody read is read to its end and dropped, as Node's server does: before the next
    // request, or until the connection closes.
    const body = this.#bodyOf;
    if (body !== null) body.resume();
    if (!res.shouldKeepAlive) {
      this.#fast.open.delete(this);
      // As Node's server ends such a connection (linger.ts replaces destroySoon on a refused upload).
      const s = socket as net.Socket & { destroySoon?: () => void };
      if (typeof s.destroySoon === 'function') s.destroySoon();
      else socket.end();
      return;
    }
    if (this.#paused) {
      this.#paused = false;
      socket.resume();
    }
    if (this.#bodyLeft === 0 && this.#buf !== null) return this.#next();
    if (this.#fast.closing && this.#bodyLeft === 0) return void socket.end();
    const ms = this.#fast.timeouts.keepAliveTimeout;
    socket.setTimeout(ms > 0 ? ms + KEEP_ALIVE_SLACK_MS : 0);
  }

  /** The server drains: an idle connection is closed now, a busy one after its answer (Connection: close). */
  closeIdle(): void {
    if (this.idle && this.#buf === null) this.socket.end();
  }

  /** The next request in the buffer: served here, or the connection goes to Node's server. */
  #next(): void {
    const buf = this.#buf!;
    const end = buf.length <= MAX_HEAD + 4 ? buf.indexOf(HEAD_END) : buf.subarray(0, MAX_HEAD + 4).indexOf(HEAD_END);
    const head = end < 0 ? null : readSimpleHead(buf.toString('latin1', 0, end));
    if (head === null) return this.#toNode();
    const rest = end + 4 === buf.length ? null : buf.subarray(end + 4);
    this.#buf = null;
    const socket = this.socket;
    socket.setTimeout(0);
    const req = new FastRequest(this, head.method, head.url, head.headers, head.rawHeaders);
    const res = new FastResponse(this, head.keepAlive, head.method === 'HEAD');
    this.#res = res;
    if (head.bodyLength === 0) {
      req.complete = true;
      req.push(null);
      this.#buf = rest;
    } else {
      this.#bodyOf = req;
      this.#bodyLeft = head.bodyLength;
      if (rest !== null) this.#onData(rest);
    }
    this.#fast.server.emit('request', req, res);
  }

  /** Node's server takes the connection, starting with the bytes not taken here. */
  #toNode(): void {
    const socket = this.socket;
    const pending = this.#buf;
    this.#buf = null;
    this.#stopTimer();
    this.#fast.open.delete(this);
    this.#listen(false);
    socket.setTimeout(0);
    socket.pause();
    if (pending !== null) socket.unshift(pending);
    this.#fast.toNode(socket);
    socket.resume();
  }
}

const FAST = new WeakMap<net.Server, FastServer>();

/**
 * Puts `server`'s HTTP/1.1 connections on the fast path: the function returned takes each one.
 * `toNode` gives a connection to Node's HTTP/1.1 server; `timeouts` has its keepAliveTimeout and
 * headersTimeout (applyTimeouts in frontend.ts sets them, at each reload too).
 */
export function fastPath(
  server: net.Server,
  toNode: (socket: net.Socket) => void,
  timeouts: FastServer['timeouts'],
): (socket: net.Socket) => void {
  const fast: FastServer = { server, toNode, timeouts, open: new Set(), closing: false };
  FAST.set(server, fast);
  return (socket) => void new H1Connection(socket, fast);
}

/** `server` drains: answers on the fast path say Connection: close from now on. */
export function drainFast(server: net.Server): void {
  const fast = FAST.get(server);
  if (fast !== undefined) fast.closing = true;
}

/** Closes `server`'s fast-path connections with no request in progress. */
export function closeIdleFast(server: net.Server): void {
  const fast = FAST.get(server);
  if (fast === undefined) return;
  for (const c of fast.open) c.closeIdle();
}

/** Closes every fast-path connection of `server` now (the shutdown deadline). */
export function closeAllFast(server: net.Server): void {
  const fast = FAST.get(server);
  if (fast === undefined) return;
  for (const c of fast.open) c.socket.destroy();
}
