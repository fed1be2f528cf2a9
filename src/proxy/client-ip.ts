import type net from 'node:net';
import type { Endpoint } from './proxy-header.js';

// A client connection's own addresses, or those a PROXY header gave it (a frontend with
// `acceptProxy`, accept-proxy.ts): whatever reads a client's address asks here, so a rule's
// client.ip, a rate limit's key, the access log's `ip` and the forwarded headers all name the
// client behind the balancer without knowing about one.
//
// What a header said is kept per accepted socket. A TLS connection's socket is a TLSSocket over the
// accepted one (its `_parent`), and an HTTP/2 request's `socket` a proxy of that TLSSocket, which
// reads `_parent` through: the lookup goes one step down when the socket itself is not known.
// `_parent` is no public API, but has been there on every Node line flagman supports;
// test/e2e/proxy-protocol.test.js reads client.ip through TLS, HTTP/1.1 and HTTP/2, on each line.

/** What a PROXY header told about a connection. */
interface Told {
  /** The client and what it connected to; null: a LOCAL header (the connection's own addresses stay). */
  readonly source: Endpoint | null;
  readonly destination: Endpoint | null;
  /** The header's bytes, which the connection's `bytesRead` counts though no request holds them. */
  readonly headerBytes: number;
}

const told = new WeakMap<object, Told>();
// No lookup at all until some connection came with a header: frontends without acceptProxy pay nothing.
let anyTold = false;

/** Records what the PROXY header of the accepted `socket` said. */
export function setProxyHeader(socket: net.Socket, source: Endpoint | null, destination: Endpoint | null, headerBytes: number): void {
  anyTold = true;
  told.set(socket, { source: source && unmap(source), destination: destination && unmap(destination), headerBytes });
}

function toldOf(socket: net.Socket): Told | undefined {
  if (!anyTold) return undefined;
  const own = told.get(socket);
  if (own !== undefined) return own;
  const parent = (socket as { _parent?: object | null })._parent;
  return parent ? told.get(parent) : undefined;
}

/** The client's address; dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d, shown as a.b.c.d. */
export function clientIpOf(socket: net.Socket): string {
  const t = toldOf(socket);
  if (t !== undefined && t.source !== null) return t.source.address;
  return unmapIp(socket.remoteAddress ?? '');
}

/** The bytes of a PROXY header read off `socket` (0: none), for code that tells a silent connection by its bytesRead. */
export function proxyHeaderBytes(socket: net.Socket): number {
  return toldOf(socket)?.headerBytes ?? 0;
}

/** The client and what it connected to, for a PROXY header sent on to a server (`sendProxy`). */
export function clientEndpointsOf(socket: net.Socket): { readonly source: Endpoint; readonly destination: Endpoint } {
  const t = toldOf(socket);
  if (t !== undefined && t.source !== null && t.destination !== null) return { source: t.source, destination: t.destination };
  return {
    source: { address: unmapIp(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 },
    destination: { address: unmapIp(socket.localAddress ?? ''), port: socket.localPort ?? 0 },
  };
}

function unmapIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

function unmap(e: Endpoint): Endpoint {
  const address = unmapIp(e.address);
  return address === e.address ? e : { address, port: e.port };
}
