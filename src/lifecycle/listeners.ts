// The open listeners of a running flagman (HTTP and tcp frontends, the admin endpoint), keyed by
// what they listen on, so that a reload keeps the unchanged ones open (not one connection
// refused), opens the added ones and drains the removed ones (docs/signals.md). A reload first opens what
// is new — any failure there (an address in use) fails the reload with nothing changed — and only
// then commits, in the same tick as the runtime swap.
import type http from 'node:http';
import { nodeHttp } from '../node-http.js';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Config, ListenAddress, Mode } from '../config/schema.js';
import type { ConnectionGate } from '../proxy/admission.js';
import { acceptProxyHeaders } from '../proxy/accept-proxy.js';
import { FrontendGate } from '../proxy/maxconn.js';
import type { SecureFrontend, TlsBinding } from '../proxy/secure.js';
import type { CertStore } from '../tls/certs.js';
import { FlagmanError } from '../errors.js';
import { events } from '../log.js';
import { loadOnFirstUse } from '../on-first-use.js';
import { closeAllFast, closeIdleFast, drainFast } from '../proxy/h1-connection.js';
import { cuttingForShutdown } from '../proxy/reasons.js';
import { createFrontendServer, listen, type FrontendSlot } from '../proxy/frontend.js';
import { createTcpFrontendServer } from '../proxy/tcp-frontend.js';
import type { TcpSession } from '../proxy/tcp-session.js';
import type { RuntimeHolder } from '../runtime/holder.js';

// How long a draining listener lets an idle kept-alive connection send one more request (answered
// with Connection: close) before closing it. A client sending back to back does so within
// milliseconds; one idle longer is closed, which only races a request sent at that very moment.
const DRAIN_IDLE_GRACE_MS = 1000;

type Label = { readonly frontend: string } | { readonly admin: true };

interface Listener {
  readonly key: string;
  readonly address: ListenAddress;
  /** An http.Server (HTTP frontends, the admin endpoint) or a plain net.Server (tcp frontends). */
  readonly server: net.Server;
  /** null for the admin endpoint. */
  readonly slot: FrontendSlot | null;
  /** What the socket speaks; null for the admin endpoint. */
  readonly mode: Mode | null;
  /** A TLS frontend's server and the certificates it serves; null for plain HTTP and tcp. */
  readonly secure: { readonly frontend: SecureFrontend; readonly binding: TlsBinding } | null;
  /** acceptProxy: how long a connection's PROXY header may take (timeouts.client, which a reload may change); null: no header read. */
  readonly proxyHeader: { ms: number } | null;
  label: Label;
}

interface Wanted {
  readonly key: string;
  readonly address: ListenAddress;
  readonly label: Label;
  /** Index of the frontend in the new config; -1 for the admin endpoint. */
  readonly index: number;
  readonly mode: Mode | null;
  /** A TLS frontend's address: a server of another kind than a plain one. */
  readonly tls: boolean;
  /** Its connections start with a PROXY header (the frontend's acceptProxy). */
  readonly acceptProxy: boolean;
}

/** Which listeners a process opens: all of them, a worker's frontends, or a primary's admin endpoint. */
export type ListenerScope = 'all' | 'frontends' | 'admin';

/** What a reload changes about the listeners, once committed. */
export interface ListenerPlan {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Applies the plan: call in the same tick as the runtime swap. */
  commit(): void;
  /** Gives the plan up: closes what it opened. */
  abandon(): void;
}

const describe = (l: { label: Label; address: ListenAddress }): string =>
  'admin' in l.label ? `admin endpoint on ${l.address.text}` : `frontend ${l.label.frontend} on ${l.address.text}`;

/** Every listener of the process, frontends and admin endpoint. */
export class ListenerSet {
  readonly #holder: RuntimeHolder;
  readonly #tunnels: Set<Duplex>;
  readonly #createAdmin: () => http.Server;
  readonly #certs: CertStore;
  /** Caps client connections on every frontend listener together (not the admin endpoint's). */
  readonly #gate: ConnectionGate;
  /** Each frontend's maxconn, over its listeners together. */
  readonly #frontendGate: FrontendGate;
  readonly #open = new Map<string, Listener>();
  /** Closed (by a reload, or at shutdown), finishing their in-flight requests; with how to end them now. */
  readonly #draining = new Map<net.Server, { done: Promise<void>; force: () => void }>();
  /** The open connections of every tcp frontend, for the shutdown deadline to end. */
  readonly #sessions = new Set<TcpSession>();

  constructor(holder: RuntimeHolder, tunnels: Set<Duplex>, createAdmin: () => http.Server, certs: CertStore, gate: ConnectionGate) {
    this.#holder = holder;
    this.#tunnels = tunnels;
    this.#createAdmin = createAdmin;
    this.#certs = certs;
    this.#gate = gate;
    this.#frontendGate = new FrontendGate(holder);
  }

  /** Opens what `config` adds; resolves with the plan, or rejects (naming the address) with nothing changed. */
  async prepare(config: Config, scope: ListenerScope = 'all'): Promise<ListenerPlan> {
    // Certificates are read in every process, a primary without frontends too: its /status reports
    // their problems. A bad file fails the reload here, with nothing changed.
    const sites = this.#certs.stage(config);
    const wanted = new Map<string, Wanted>();
    const add = (
      address: ListenAddress,
      label: Label,
      index: number,
      owner: string,
      mode: Mode | null,
      tls = false,
      acceptProxy = false,
    ): void => {
      // An address is its own key, so it stays open whatever frontend serves it next. Port 0 (any
      // free port) names no address: it is kept for the same owner and position only.
      const key = address.kind === 'tcp' && address.port === 0 ? `${owner} ${address.text}` : address.text;
      wanted.set(key, { key, address, label, index, mode, tls, acceptProxy });
    };
    if (scope !== 'admin') {
      for (const [index, fe] of config.frontends.entries()) {
        for (const [i, address] of fe.listen.entries())
          add(address, { frontend: fe.name }, index, `frontend ${fe.name} #${i}`, fe.mode, fe.tls !== null, fe.acceptProxy);
      }
    }
    if (config.admin.listen !== null && scope !== 'frontends') add(config.admin.listen, { admin: true }, -1, 'admin', null);
    for (const w of wanted.values()) {
      const l = this.#open.get(w.key);
      // One socket cannot change from the admin endpoint to a frontend or back without being closed
      // first, and closing it would refuse connections: say so rather than do that.
      if (l && (l.slot === null) !== w.index < 0) {
        throw new FlagmanError(
          'LISTEN',
          `${w.address.text} cannot move between the admin endpoint and a frontend in a reload; restart to apply`,
          { address: w.address.text },
        );
      }
      // Nor can an HTTP server become a tcp one: the connections it holds speak the old protocol.
      if (l && l.mode !== w.mode) {
        throw new FlagmanError('LISTEN', `${w.address.text} cannot change from mode ${l.mode} to ${w.mode} in a reload; restart to apply`, {
          address: w.address.text,
        });
      }
      // Plain and TLS are different servers on one socket: the same reason.
      if (l && (l.secure !== null) !== w.tls) {
        throw new FlagmanError('LISTEN', `${w.address.text} cannot switch between plain HTTP and TLS in a reload; restart to apply`, {
          address: w.address.text,
        });
      }
      // Whether a connection starts with a PROXY header is decided by the balancer in front, which
      // switches with a restart of flagman (systemd: the socket stays open), not mid-stream.
      if (l && (l.proxyHeader !== null) !== w.acceptProxy) {
        throw new FlagmanError(
          'LISTEN',
          `${w.address.text} cannot turn acceptProxy ${w.acceptProxy ? 'on' : 'off'} in a reload; restart to apply`,
          { address: w.address.text },
        );
      }
    }
    const added: Listener[] = [];
    try {
      for (const w of wanted.values()) {
        if (this.#open.has(w.key)) continue;
        const slot = w.index >= 0 ? { index: w.index } : null;
        let secure: Listener['secure'] = null;
        if (slot && w.tls) {
          const binding: TlsBinding = { site: sites.get(config.frontends[w.index]!.name)! };
          // Loaded here, not at start: it loads node:tls and node:http2 (src/node-http.ts).
          const { createSecureFrontend } = await loadOnFirstUse('TLS frontends', () => import('../proxy/secure.js'));
          secure = { frontend: createSecureFrontend(this.#holder, slot, config.timeouts, this.#tunnels, binding), binding };
        }
        const server: net.Server = !slot
          ? this.#createAdmin()
          : secure
            ? secure.frontend.server
            : w.mode === 'tcp'
              ? createTcpFrontendServer(this.#holder, slot, this.#sessions)
              : createFrontendServer(this.#holder, slot, config.timeouts, this.#tunnels);
        // The admin endpoint stays outside the caps: an operator can read /status while they hold.
        // The descriptor cap is asked first (guarded last): a connection it refuses never waits.
        // A PROXY header is read once a connection is let in (guarded first, so asked last).
        const proxyHeader = slot && w.acceptProxy ? { ms: config.timeouts.client } : null;
        if (slot) {
          if (proxyHeader) acceptProxyHeaders(server, this.#holder, slot, () => proxyHeader.ms);
          this.#frontendGate.guard(server, slot);
          this.#gate.guard(server);
        }
        const l: Listener = { key: w.key, address: w.address, server, slot, mode: w.mode, secure, proxyHeader, label: w.label };
        await listen(server, w.address);
        added.push(l);
      }
    } catch (err) {
      for (const l of added) l.server.close();
      throw err;
    }
    const removed = [...this.#open.values()].filter((l) => !wanted.has(l.key));
    return {
      added: added.map(describe),
      removed: removed.map(describe),
      commit: () => {
        this.#certs.adopt(sites);
        for (const l of this.#open.values()) {
          const w = wanted.get(l.key);
          if (!w) continue;
          if (l.slot) l.slot.index = w.index;
          l.label = w.label;
          // Client-side timeouts apply to the connections they accept from now on.
          if (l.proxyHeader) l.proxyHeader.ms = config.timeouts.client;
          if (l.secure) l.secure.frontend.setTimeouts(config.timeouts);
          else if (l.server instanceof nodeHttp.Server) {
            l.server.keepAliveTimeout = config.timeouts.idle;
            l.server.headersTimeout = config.timeouts.client;
          }
        }
        for (const l of added) this.#open.set(l.key, l);
        // Every TLS listener serves its frontend's freshly read certificates from now on.
        for (const l of this.#open.values()) {
          if (!l.secure || !('frontend' in l.label) || !wanted.has(l.key)) continue;
          const site = sites.get(l.label.frontend)!;
          l.secure.binding.site.detach(l.secure.frontend.server);
          l.secure.binding.site = site;
          site.attach(l.secure.frontend.server);
        }
        for (const l of added) {
          const bound = l.server.address();
          const port = typeof bound === 'object' && bound !== null ? bound.port : null;
          events.info({ event: 'listen', ...l.label, address: l.address.text, port }, `${describe(l)}: listening`);
        }
        // A maxconn raised or lifted lets connections waiting in.
        this.#frontendGate.refresh();
        for (const l of removed) {
          this.#open.delete(l.key);
          // Requests already received finish with the runtime they started with; a request that
          // arrives on one of its kept-alive connections is refused with Connection: close. Open
          // tcp connections stay on their servers until they close, or until the shutdown deadline.
          if (l.slot) l.slot.index = -1;
          this.#drain(l);
          events.info({ event: 'unlisten', ...l.label, address: l.address.text }, `${describe(l)}: closed, draining`);
        }
      },
      abandon: () => {
        for (const l of added) l.server.close();
      },
    };
  }

  /** Stops accepting everywhere; resolves when every in-flight request has finished. */
  async close(): Promise<void> {
    for (const l of this.#open.values()) void this.#drain(l);
    this.#open.clear();
    await Promise.all([...this.#draining.values()].map((d) => d.done));
  }

  /** Ends every connection now (the shutdown deadline). */
  forceClose(): void {
    cuttingForShutdown();
    for (const d of this.#draining.values()) d.force();
    for (const session of this.#sessions) session.abort();
  }

  // close() stops accepting and waits for in-flight requests. A kept-alive connection is not cut
  // under its client: closing one that looks idle races the request the client may be sending on
  // it right now (a reset the client sees as an error). Instead each request that still arrives is
  // answered with Connection: close, so its client reconnects — to the socket a restart keeps open
  // (systemd:NAME) — and connections still idle after a grace are closed then. An HTTP/2
  // connection of a TLS listener is told the same with GOAWAY: its streams in flight finish, and its
  // client opens new ones on a new connection.
  #drain(l: Listener): Promise<void> {
    const server = l.server;
    const draining = this.#draining.get(server);
    if (draining) return draining.done;
    // Connections still waiting for maxconn are served now: they were accepted, and a closing
    // server waits for every connection it accepted (the drain answers them with Connection: close).
    this.#frontendGate.release(server);
    const secure = l.secure;
    let done: Promise<void>;
    let force: () => void;
    if (secure) {
      done = drainHttp(server);
      secure.frontend.drain();
      force = () => secure.frontend.forceClose();
      void done.then(() => secure.binding.site.detach(secure.frontend.server));
    } else if (server instanceof nodeHttp.Server) {
      done = drainHttp(server);
      force = () => {
        server.closeAllConnections();
        closeAllFast(server);
      };
    } else {
      // A tcp listener just stops accepting; its connections carry on until they close (or the
      // deadline, which forceClose() applies to every tcp session).
      done = new Promise<void>((resolve) => server.close(() => resolve()));
      force = () => undefined;
    }
    this.#draining.set(server, { done, force });
    void done.then(() => this.#draining.delete(server));
    return done;
  }
}

// See #drain: answer what still arrives with Connection: close, close the idle after a grace. The
// server is an http.Server or a TLS frontend's http2 server, whose HTTP/1.1 side is the same code.
function drainHttp(server: net.Server): Promise<void> {
  server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.shouldKeepAlive = false;
  });
  drainFast(server);
  // http.Server#close() would also cut every idle connection at once (Node ≥ 19): the race above.
  // net.Server#close() only stops accepting; http's close, later, closes those still idle.
  const done = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
  const idle = setTimeout(() => {
    server.close();
    closeIdleFast(server);
  }, DRAIN_IDLE_GRACE_MS);
  void done.then(() => clearTimeout(idle));
  return done;
}
