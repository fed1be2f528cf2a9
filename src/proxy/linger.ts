// Closing a client socket that got its whole answer and will get nothing more, where no HTTP server
// does it for us (an upgrade request answered without a tunnel, tunnel.ts). end() alone does not
// close it: the client may keep its half open (allowHalfOpen), and bytes it already sent (a first
// WebSocket frame) sit unread, so 'close' would never come and the socket would hold the listener's
// close, and so a shutdown, until timeouts.shutdown.
import type { Duplex } from 'node:stream';

/**
 * How long an answered socket waits, once its answer is flushed, for its client to close too.
 * Short: the answer is already in the kernel's hands, and a client that keeps its half open is owed
 * nothing more. Not zero: a client's FIN lets the connection end without a reset.
 */
export const LINGER_MS = 1000;

/**
 * Closes `socket` once it has been (or is being) ended: what the client still sends is read and
 * dropped — a close with unread bytes would answer them with a reset, which can cut the answer
 * while still in transit — and the socket is destroyed LINGER_MS after its end is flushed unless it
 * closed before. `flushed` is called when the end is flushed (not if the socket closes first).
 */
export function linger(socket: Duplex, flushed?: () => void): void {
  socket.resume();
  const cut = (): void => {
    flushed?.();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    socket.once('close', () => clearTimeout(timer));
  };
  if (socket.writableFinished) cut();
  else socket.once('finish', cut);
}

/** A socket as Node's HTTP server ends it after a response that said Connection: close. */
interface ServerSocket extends Duplex {
  destroySoon?(): void;
}

/**
 * Has Node's HTTP server close `socket` with linger() once its response is out, instead of at once.
 * After a response that said Connection: close it calls the socket's destroySoon(), which destroys
 * the socket as soon as its end is flushed: with a request body still arriving (a refused upload),
 * the unread bytes are answered with a reset, which can cut the answer still in transit. Here the
 * server's own reading (its parser discards the rest of the body) goes on until the client closes,
 * LINGER_MS at most.
 *
 * Not a public API: destroySoon() is a net.Socket method the docs leave out, and Node's HTTP server
 * calls it, when the socket has one, at the end of a response that closes the connection
 * (`if (typeof socket.destroySoon === 'function') socket.destroySoon()` in _http_server.js, the
 * same on Node 20, 22, 24 and 26). No public hook runs between that response's end and the close:
 * the response's 'finish' listeners run after the server's own. Replacing the method on this one
 * socket is the narrowest way in; test/unit/linger.test.js checks on each supported Node line that
 * the server still ends such a response through it, and that the client reads the whole answer.
 */
export function lingerOnClose(socket: ServerSocket): void {
  socket.destroySoon = (): void => {
    socket.end();
    linger(socket);
  };
}
