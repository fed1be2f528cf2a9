// The access line's `headMs` on HTTP/1 (docs/logs.md): how long a request's head took to come in.
// Node does not say when a request's first byte arrived, so the clock starts where flagman last
// knew the connection was waiting for a request: when it was accepted (a TLS handshake included),
// or when the previous response on it was sent. On a kept-alive connection this includes the
// client's pause between requests, as HAProxy's Tq did before it split off the idle time. A
// request pipelined behind another is timed 0: its head was in before the one ahead was answered.
//
// One number on each client socket, written at accept and at each response's end: no listener,
// no timer. A TLS connection's HTTP socket is a TLSSocket over the accepted one (`_parent`): its
// first request reads the accepted socket's mark.
import type net from 'node:net';

const FROM = Symbol('flagman.headFrom');

type Marked = { [FROM]?: number; _parent?: Marked | null };

/** A connection was accepted (a server's 'connection' listener): the first request's head is timed from now. */
export function markAccepted(socket: net.Socket): void {
  (socket as Marked)[FROM] = performance.now();
}

/** A response on `socket` was done at `now` (performance.now()): the next request's head is timed from then. */
export function markResponded(socket: net.Socket, now: number): void {
  (socket as Marked)[FROM] = now;
}

/** ms from the mark on `socket` to `now`; -1: the socket was never marked. */
export function headMsOf(socket: net.Socket, now: number): number {
  const s = socket as Marked;
  const from = s[FROM] ?? s._parent?.[FROM];
  return from === undefined ? -1 : Math.max(0, now - from);
}
