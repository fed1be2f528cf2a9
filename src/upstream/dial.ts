// Connecting to a server within timeouts.connect: the one place a connect is timed, for the pool's
// keep-alive connections (pool.ts) and for the connections of their own that upgrades and tcp
// connections get (proxy/attempt.ts). A connect that ends without a connection is one
// UpstreamError, whatever the exchange: CONNECT_TIMEOUT, the system's code, or SERVER_CLOSED.
import net from 'node:net';
import { UpstreamError } from './error.js';

/** `host:port`, an IPv6 host in brackets: how errors, /status and events name a server's address. */
export function addressOf(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** What waits for a connect. */
export interface ConnectWaiter {
  /**
   * Connected, `ms` after the connect began (the access line's `connectMs`, a server's connect
   * histogram). The socket carries none of the wait's listeners any more: only its owner's.
   */
  onConnect(socket: net.Socket, ms: number): void;
  /** No connection; the socket is destroyed. */
  onError(err: UpstreamError): void;
}

/**
 * Waits for `socket`, which net.connect() just made, to connect within `timeoutMs`, and tells
 * `waiter` once: its listeners and its timer are gone by then, so nothing of the wait stays on a
 * connection that lives on (a pooled one serves many requests).
 */
export function awaitConnect(socket: net.Socket, timeoutMs: number, address: string, waiter: ConnectWaiter): void {
  const begun = performance.now();
  const settle = (err: UpstreamError | null): void => {
    clearTimeout(timer);
    socket.off('connect', onConnect);
    socket.off('error', onError);
    socket.off('close', onClose);
    if (err === null) return waiter.onConnect(socket, performance.now() - begun);
    socket.destroy();
    waiter.onError(err);
  };
  const onConnect = (): void => settle(null);
  const onError = (err: NodeJS.ErrnoException): void =>
    settle(new UpstreamError(err.code ?? 'ECONNREFUSED', err.message, address, { cause: err }));
  const onClose = (): void => settle(new UpstreamError('SERVER_CLOSED', 'connection closed while connecting', address));
  const timer = setTimeout(() => settle(new UpstreamError('CONNECT_TIMEOUT', `no connection within ${timeoutMs} ms`, address)), timeoutMs);
  socket.once('connect', onConnect);
  socket.on('error', onError);
  socket.once('close', onClose);
}

/**
 * A new connection to `host:port` of its own (never pooled), handed to `waiter` once connected.
 * Returned at once, so that its owner can give it up while it is being made (destroy(): `waiter`
 * then hears SERVER_CLOSED). No Nagle delay: what goes through it is a client's, sent as it comes.
 * `preface`: bytes sent first (a PROXY header), before anything of the client's; null: none.
 * `onread`: read into a buffer of the caller's instead of a fresh one per read (proxy/relay.ts).
 */
export function dial(
  host: string,
  port: number,
  timeoutMs: number,
  allowHalfOpen: boolean,
  waiter: ConnectWaiter,
  preface: Buffer | null = null,
  onread: net.OnReadOpts | null = null,
): net.Socket {
  const socket =
    onread === null
      ? net.connect({ host, port, allowHalfOpen, noDelay: true })
      : net.connect({ host, port, allowHalfOpen, noDelay: true, onread });
  // Node queues what is written while connecting, and sends it first once connected.
  if (preface !== null) socket.write(preface);
  awaitConnect(socket, timeoutMs, addressOf(host, port), waiter);
  return socket;
}
