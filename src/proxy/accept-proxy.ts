// A frontend with `acceptProxy` (docs/proxying.md, "Behind a load balancer: the PROXY protocol"):
// every connection starts with a PROXY header (v1 or v2, proxy-header.ts), read here before
// anything else sees the connection — before Node's HTTP parser, before the TLS handshake, before a
// tcp frontend routes it. The header's client becomes the connection's (client-ip.ts), whatever
// reads it next. The bytes after the header, in the same read, are put back (unshift) for the code
// that takes the connection over.
//
// A connection without a valid header — anything else, a header cut short or malformed, or none
// within timeouts.client — is closed without a byte and counted (the frontend's
// `connections.proxyHeaderRefused` in /status); the event log says so at most once per NOTE_MS per
// frontend, with how many. One that closes having sent nothing at all (a port probe, a balancer's
// plain TCP check) is closed without being counted, as a plain HTTP listener says nothing of it.
//
// Only frontends with acceptProxy have this guard on their listeners: the others read nothing more,
// and run no code more, per connection or per read.
import type net from 'node:net';
import { events, NOTE_MS } from '../log.js';
import type { RuntimeHolder } from '../runtime/holder.js';
import { clientIpOf, setProxyHeader } from './client-ip.js';
import type { FrontendSlot } from './frontend.js';
import { parseProxyHeader } from './proxy-header.js';

/**
 * Reads the PROXY header of every connection of `server` (the frontend in `slot`) before its own
 * 'connection' listeners see it. `clientMs` gives timeouts.client (a reload may change it). Call
 * once those listeners are on, and before the caps' guards (maxconn.ts, admission.ts): a
 * connection waiting for maxconn is not read, its header included.
 */
export function acceptProxyHeaders(server: net.Server, holder: RuntimeHolder, slot: FrontendSlot, clientMs: () => number): void {
  const inner = server.listeners('connection') as ((socket: net.Socket) => void)[];
  server.removeAllListeners('connection');
  // An HTTP or TLS server reads its connections at once; a tcp frontend's are left paused until
  // their server connection is up (tcp-frontend.ts), and are handed over paused again.
  const resume = !(server as net.Server & { pauseOnConnect?: boolean }).pauseOnConnect;
  server.on('connection', (socket: net.Socket) => {
    readHeader(socket, clientMs(), {
      header: () => {
        for (const listener of inner) listener.call(server, socket);
        if (resume) socket.resume();
      },
      refused: (reason, ip) => {
        const fe = holder.current.frontends[slot.index];
        // A listener whose frontend a reload removed is draining: no one's counter.
        if (fe === undefined) return;
        fe.limitCounters.proxyHeaderRefused++;
        notesOf(fe.name).refused(reason, ip);
      },
    });
  });
}

interface HeaderWaiter {
  /** The header was read and recorded; the socket is paused, what followed it put back. */
  header(): void;
  /** The connection is closed: `reason` says why; `ip`: its peer (the balancer, or whoever it was). */
  refused(reason: string, ip: string): void;
}

function readHeader(socket: net.Socket, ms: number, waiter: HeaderWaiter): void {
  let buf: Buffer | null = null;
  const stop = (): void => {
    if (timer !== null) clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
  };
  // `reason` null: the client left having sent nothing; nothing to count.
  const fail = (reason: string | null): void => {
    stop();
    // Read before the socket is destroyed, which forgets its peer.
    const ip = reason === null ? '' : clientIpOf(socket);
    socket.destroy();
    if (reason !== null) waiter.refused(reason, ip);
  };
  const onData = (chunk: Buffer): void => {
    buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
    const r = parseProxyHeader(buf);
    if (r.kind === 'more') return;
    if (r.kind === 'invalid') return fail(r.reason);
    stop();
    socket.pause();
    if (buf.length > r.length) socket.unshift(buf.subarray(r.length));
    if (r.kind === 'proxy') setProxyHeader(socket, r.source, r.destination, r.length);
    else setProxyHeader(socket, null, null, r.length);
    // Handed over once this 'data' event is done: the stream's flow loop that emitted it reads on
    // as soon as the socket flows again, and the new owner resumes it. What was put back would go
    // to no 'data' listener (a TLS server's raw socket has none: it takes buffered bytes with
    // read() a tick later). Nothing of the socket happens in between: no I/O runs before a tick.
    process.nextTick(() => waiter.header());
  };
  const onEnd = (): void => fail(buf === null ? null : 'connection closed within its PROXY header');
  const onError = (err: NodeJS.ErrnoException): void => fail(buf === null ? null : `${err.code ?? err.message} within its PROXY header`);
  const timer = ms > 0 ? setTimeout(() => fail(`no PROXY header within ${ms} ms`), ms) : null;
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.on('error', onError);
  socket.resume();
}

/**
 * The event lines of one frontend's refusals: the first at once, then at most one per NOTE_MS
 * telling how many more there were (a scanner, or a balancer not sending headers, refuses every
 * connection: one line each would flood the log).
 */
class RefusalNotes {
  readonly #frontend: string;
  #last = -Infinity;
  #pending = 0;
  #reason = '';
  #ip = '';
  #timer: NodeJS.Timeout | null = null;

  constructor(frontend: string) {
    this.#frontend = frontend;
  }

  refused(reason: string, ip: string): void {
    this.#pending++;
    this.#reason = reason;
    this.#ip = ip;
    if (this.#timer !== null) return;
    const wait = this.#last + NOTE_MS - Date.now();
    if (wait <= 0) return this.#note();
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#note();
    }, wait);
    this.#timer.unref();
  }

  #note(): void {
    const n = this.#pending;
    this.#pending = 0;
    this.#last = Date.now();
    const what = n === 1 ? 'a connection' : `${n} connections`;
    events.warn(
      { event: 'proxy.refused', frontend: this.#frontend, refused: n, reason: this.#reason, ip: this.#ip },
      `frontend ${this.#frontend}: closed ${what} without a valid PROXY header (acceptProxy is on); ` +
        `last: ${this.#reason}, from ${this.#ip}`,
    );
  }
}

const notes = new Map<string, RefusalNotes>();

function notesOf(frontend: string): RefusalNotes {
  let n = notes.get(frontend);
  if (n === undefined) {
    n = new RefusalNotes(frontend);
    notes.set(frontend, n);
  }
  return n;
}
