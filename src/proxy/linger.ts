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
