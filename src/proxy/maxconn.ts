// A frontend's `maxconn` (docs/proxying.md, "Limits and the queue"): at most that many of its client connections
// are served at once, every listener of it together; the next ones wait until one of those closes,
// oldest first, and are then served as if they had just arrived.
//
// HAProxy stops calling accept() at maxconn, and the kernel's backlog holds the connections that
// follow. Node has no public way to leave a connection in the backlog: libuv accepts whatever is
// pending, and `server.maxConnections` closes what is over it (a refusal). So a connection over
// maxconn is accepted and held unread: every frontend server creates its sockets paused
// (`pauseOnConnect`), and one that must wait is given to no HTTP, TLS or tcp code, so nothing of it
// is read — its request stays in the kernel's receive buffer, as it would in the backlog — until
// its turn. To the client it is a connection that takes its time to answer: nothing is refused or
// reset. What it costs flagman is a descriptor, and the descriptor cap (admission.ts, which comes
// first) still bounds them all. A client that gives up while waiting is seen only when its turn
// comes (its close is in the unread buffer), and its connection then ends at once.
//
// The connections counted are the ones being served, kept-alive idle ones included, as HAProxy
// counts them. With workers, each worker serves its share of maxconn (runtime `connCap`, rounded up).
import type net from 'node:net';
import type { RuntimeHolder } from '../runtime/holder.js';
import type { FrontendLimitCounters } from '../runtime/servers.js';
import type { FrontendSlot } from './frontend.js';

/** A connection waiting for its turn, and how to hand it over when it comes. */
interface Held {
  readonly socket: net.Socket;
  readonly server: net.Server;
  readonly serve: (socket: net.Socket) => void;
  /** Its frontend's counters (observed: the same object whatever runtime is current). */
  readonly counters: FrontendLimitCounters;
}

export class FrontendGate {
  readonly #holder: RuntimeHolder;
  /** The connections waiting, by frontend name, oldest first. */
  readonly #waiting = new Map<string, Held[]>();

  constructor(holder: RuntimeHolder) {
    this.#holder = holder;
  }

  /**
   * Puts `server`'s connections under the maxconn of the frontend in `slot`. Call before it listens,
   * once its own 'connection' listeners (Node's HTTP or TLS handling, a tcp frontend's) are on it.
   */
  guard(server: net.Server, slot: FrontendSlot): void {
    const inner = server.listeners('connection') as ((socket: net.Socket) => void)[];
    server.removeAllListeners('connection');
    // A tcp frontend creates its sockets paused already (its net.createServer option), and resumes
    // them itself once its server connection is up; an HTTP or TLS server's are resumed here once
    // handed over.
    //
    // Not a public API: http.createServer() does not pass a `pauseOnConnect` option on to net.Server
    // (only a few of its options), and no public call keeps a socket from being read once it is
    // created — pause() only stops its 'data' events, while Node goes on reading up to a buffer's
    // worth into memory. net.Server keeps the option in a property of the same name and reads it as
    // each connection is accepted (`pauseOnCreate: self.pauseOnConnect` in net.js), the same on
    // Node 20, 22, 24 and 26; so it is set here, on the server flagman made itself, before it
    // listens. The alternative, a net.Server of flagman's own that emits each connection into the
    // HTTP server, would change how every listener is opened, drained and closed (lifecycle/).
    // test/unit/maxconn-gate.test.js checks that a waiting connection is not read at all, and
    // test/e2e/maxconn-frontend.test.js the whole path over HTTP, HTTPS and tcp; both run on each
    // supported Node line.
    const paused = server as net.Server & { pauseOnConnect: boolean };
    const resume = !paused.pauseOnConnect;
    paused.pauseOnConnect = true;
    const serve = (socket: net.Socket): void => {
      for (const listener of inner) listener.call(server, socket);
      if (resume) socket.resume();
    };
    server.on('connection', (socket: net.Socket) => {
      const fe = this.#holder.current.frontends[slot.index];
      // A listener whose frontend a reload removed is draining: it answers for itself.
      if (fe === undefined) return serve(socket);
      const c = fe.limitCounters;
      const queue = this.#waiting.get(fe.name);
      // Behind those already waiting, whatever the count: they came first.
      if ((fe.connCap !== null && c.open >= fe.connCap) || (queue !== undefined && queue.length > 0)) {
        c.waiting++;
        c.waited++;
        const held = { socket, server, serve, counters: c };
        if (queue === undefined) this.#waiting.set(fe.name, [held]);
        else queue.push(held);
        return;
      }
      this.#admit(fe.name, c, socket, serve);
    });
  }

  /** Serves what now fits (a reload may have raised or lifted a frontend's maxconn). */
  refresh(): void {
    for (const name of this.#waiting.keys()) this.#next(name);
  }

  /** Serves every connection of `server` still waiting, whatever the count: it is closing (a reload removed it, or a stop). */
  release(server: net.Server): void {
    for (const [name, queue] of this.#waiting) {
      const leaving = queue.filter((h) => h.server === server);
      if (leaving.length === 0) continue;
      const staying = queue.filter((h) => h.server !== server);
      if (staying.length > 0) this.#waiting.set(name, staying);
      else this.#waiting.delete(name);
      for (const h of leaving) {
        h.counters.waiting--;
        if (!h.socket.destroyed) this.#admit(name, h.counters, h.socket, h.serve);
      }
    }
  }

  #admit(name: string, c: FrontendLimitCounters, socket: net.Socket, serve: (socket: net.Socket) => void): void {
    c.open++;
    socket.once('close', () => {
      c.open--;
      if (this.#waiting.get(name)?.length) this.#next(name);
    });
    serve(socket);
  }

  // Serves the oldest waiting connections of frontend `name` while there is room.
  #next(name: string): void {
    const queue = this.#waiting.get(name);
    if (queue === undefined) return;
    const fe = this.#holder.current.frontends.find((f) => f.name === name);
    // A frontend gone from the config: its listeners drain, and release() hands theirs over.
    if (fe === undefined) return;
    const c = fe.limitCounters;
    while (queue.length > 0 && (fe.connCap === null || c.open < fe.connCap)) {
      const h = queue.shift()!;
      c.waiting--;
      if (h.socket.destroyed) continue;
      this.#admit(name, c, h.socket, h.serve);
    }
    if (queue.length === 0) this.#waiting.delete(name);
  }
}
