// A `mode: tcp` frontend's listener: each accepted connection is routed by the frontend's rules
// (client.ip and flags only) and handed to a TcpSession. Like the HTTP frontend, it reads the runtime
// once per connection and keeps it: a flag change steers new connections, never open ones.
import net from 'node:net';
import type { RuntimeHolder } from '../runtime/holder.js';
import { clientIpOf } from './client-ip.js';
import type { FrontendSlot } from './frontend.js';
import { routeConnection } from './rules.js';
import { TcpSession } from './tcp-session.js';

/** A TCP server for the frontend in `slot`; open connections are kept in `sessions` (for the shutdown deadline). */
export function createTcpFrontendServer(holder: RuntimeHolder, slot: FrontendSlot, sessions: Set<TcpSession>): net.Server {
  // pauseOnConnect: nothing is read from the client before a server connection is up, so a failed
  // connect can go to another server with nothing lost. allowHalfOpen: a client's FIN is passed on
  // as a FIN, and the server's answer still comes back (protocols that half-close work).
  return net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    const runtime = holder.current;
    const frontend = runtime.frontends[slot.index];
    // The listener's frontend was removed by a reload: it is draining and takes nothing new.
    if (frontend === undefined) return void socket.destroy();
    const clientIp = clientIpOf(socket);
    const session = new TcpSession(socket, runtime, frontend, clientIp, (s) => sessions.delete(s));
    sessions.add(session);
    session.route(routeConnection(frontend, clientIp));
  });
}
