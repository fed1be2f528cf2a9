import type net from 'node:net';

/** The client's address; dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d, shown as a.b.c.d. */
export function clientIpOf(socket: net.Socket): string {
  const ip = socket.remoteAddress ?? '';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
