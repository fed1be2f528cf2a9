// The active checks, one probe per `health.type` (docs/design/conventions.md): an HTTP GET whose
// status must fall in a range (sent and read by the client requests take, upstream/), a TCP
// connect, or a command (run with execa, no shell) whose exit 0 passes. Each probe settles with a
// result, never throws, and gives up when its signal aborts (the check's timeout, or flagman
// stopping), leaving no socket or process behind.
import { nodeHttp } from '../node-http.js';
import net from 'node:net';
import type { Config, HealthConfig } from '../config/schema.js';
import { isDescriptorShortage } from '../descriptors.js';
import { localHeader } from '../proxy/proxy-header.js';
import { failureReason } from '../proxy/reasons.js';
import { UpstreamConnection, type ClientConnection, type ConnectionOwner, type UpstreamRequest } from '../upstream/connection.js';
import { addressOf, awaitConnect } from '../upstream/dial.js';
import type { UpstreamError } from '../upstream/error.js';
import { loadOnFirstUse } from '../on-first-use.js';
import { VERSION } from '../version.js';

/** The server a probe checks. */
export interface ProbeTarget {
  readonly backend: string;
  readonly server: string;
  readonly host: string;
  readonly port: number;
  /**
   * The server is sent PROXY headers (`sendProxy`): a check starts with one that relays no client
   * (v2 LOCAL, v1 UNKNOWN), as HAProxy's checks do, or a server expecting headers would refuse it.
   */
  readonly sendProxy: 1 | 2 | null;
}

export interface ProbeResult {
  readonly pass: boolean;
  /**
   * What was seen, for event lines: `HTTP 200`, `ECONNREFUSED`, `exit 1`, `timed out after 1000ms`;
   * `EMFILE` or `ENFILE` when flagman had no descriptor to probe with (checker.ts ignores those).
   */
  readonly detail: string;
}

export type Probe = (target: ProbeTarget, signal: AbortSignal) => Promise<ProbeResult>;

type HealthOf<T extends HealthConfig['type']> = Extract<HealthConfig, { type: T }>;

// Why an aborted probe failed: its timeout (AbortSignal.timeout's TimeoutError), or a stop.
function abortDetail(signal: AbortSignal, timeoutMs: number): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error && reason.name === 'TimeoutError' ? `timed out after ${timeoutMs}ms` : 'stopped';
}

function errorDetail(err: unknown, signal: AbortSignal, timeoutMs: number): string {
  if (signal.aborted) return abortDetail(signal, timeoutMs);
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

// A probe as flagman's own client sends it (upstream/connection.ts), written as a request's head
// is: `Connection: keep-alive` included, so the server answers it as it answers requests (the probe
// closes the connection after). Nothing of a client's: no body, no limit to go over.
class ProbeRequest implements UpstreamRequest {
  readonly method = 'GET';
  readonly path: string;
  readonly headers: readonly string[];
  readonly body = null;
  readonly bodyChunked = false;
  readonly bodyLimit = Infinity;
  bodyBytes = 0;
  readonly serverTimeout: number;
  /** The head's status once it came; 0 before. */
  status = 0;
  /** Told once: null when the response is complete, else what failed. */
  readonly #settle: (err: UpstreamError | null) => void;

  constructor(path: string, host: string, timeoutMs: number, settle: (err: UpstreamError | null) => void) {
    this.path = path;
    this.headers = ['Host', host, 'User-Agent', `flagman/${VERSION} health check`];
    this.serverTimeout = timeoutMs;
    this.#settle = settle;
  }

  onBodyLimit(): void {}
  onStart(): boolean {
    return true;
  }
  onHead(status: number): void {
    this.status = status;
  }
  // The body is read to its end, to the parser's every check, and dropped.
  onData(): boolean {
    return true;
  }
  onComplete(): void {
    this.#settle(null);
  }
  onError(err: UpstreamError): void {
    this.#settle(err);
  }
  // Read only by a pool (upstream/pool.ts); a probe's connection is its own, its LOCAL header given as it is made.
  readonly client: ClientConnection = { destroyed: false, once: () => undefined, off: () => undefined };
  proxyHeader(version: 1 | 2): Buffer {
    return localHeader(version);
  }
}

// A probe's connection belongs to no pool: whether the server would keep it or not, it closes
// once its one response is in (UpstreamConnection.destroy() on a connection with no request on it
// just closes it).
const PROBE_OWNER_RELEASE = (conn: UpstreamConnection): void => conn.destroy();

// Characters Node's http.request refused in a path (the probe used it before): kept refused, so a
// path never writes a space or a line break into the request line.
const UNSAFE_PATH = /[^\u0021-\u00ff]/;

/**
 * An HTTP check through flagman's own HTTP/1.1 client, the one requests take (upstream/): the same
 * connect, the same response parser, so a response a request would be refused (502: Content-Length
 * with Transfer-Encoding, a folded header, a bad chunk size…) fails the check too, its detail the
 * request path's reason (`bad response: …`), rather than a server passing its checks that no request
 * gets an answer from. The body is read to its end, then the connection closes.
 */
function httpProbe(h: HealthOf<'http'>): Probe {
  return (t, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve({ pass: false, detail: abortDetail(signal, h.timeout) });
      if (UNSAFE_PATH.test(h.path)) return resolve({ pass: false, detail: 'the path has characters a request line cannot carry' });
      const address = addressOf(t.host, t.port);
      let settled = false;
      const finish = (result: ProbeResult): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        // Nothing is left open: a connection still connecting, or one the server keeps alive.
        conn.destroy();
        resolve(result);
      };
      const req = new ProbeRequest(h.path, address, h.timeout, (err) => {
        if (err === null) finish({ pass: req.status >= h.status.min && req.status <= h.status.max, detail: `HTTP ${req.status}` });
        // The words a request's failure is given, in the access log and as a passive check's detail.
        else finish({ pass: false, detail: signal.aborted ? abortDetail(signal, h.timeout) : failureReason(err) });
      });
      const onAbort = (): void => finish({ pass: false, detail: abortDetail(signal, h.timeout) });
      const owner: ConnectionOwner = { address, release: PROBE_OWNER_RELEASE, forget: () => {} };
      const conn = new UpstreamConnection(owner, t.host, t.port, nodeHttp.maxHeaderSize, t.sendProxy ? localHeader(t.sendProxy) : null);
      signal.addEventListener('abort', onAbort, { once: true });
      // The probe's timeout bounds the connect too (the signal, which fires first, says so).
      awaitConnect(conn.socket, h.timeout, address, {
        onConnect: () => {
          if (!settled) conn.send(req);
        },
        onError: (err) => req.onError(err),
      });
    });
}

function tcpProbe(h: HealthOf<'tcp'>): Probe {
  return (t, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve({ pass: false, detail: abortDetail(signal, h.timeout) });
      const sock = net.connect({ host: t.host, port: t.port });
      const onAbort = (): void => {
        sock.destroy();
        resolve({ pass: false, detail: abortDetail(signal, h.timeout) });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      sock.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        // A server taking PROXY headers is told this is no client's connection, then closed.
        if (t.sendProxy) sock.end(localHeader(t.sendProxy), () => sock.destroy());
        else sock.destroy();
        resolve({ pass: true, detail: 'connected' });
      });
      sock.on('error', (err) => {
        signal.removeEventListener('abort', onAbort);
        resolve({ pass: false, detail: errorDetail(err, signal, h.timeout) });
      });
    });
}

// A process that ignores SIGTERM at its timeout is killed this much later.
const FORCE_KILL_MS = 1000;

let execRunner: Promise<typeof import('execa')> | null = null;

/**
 * What runs an exec check's command (execa), loaded on first use: a config without exec checks
 * never pays for it at start. A reload that brings the first exec check loads it before the new
 * config is taken (lifecycle/reload.ts): should it be gone from disk, the reload fails and nothing changes,
 * rather than every server of the backend failing its checks.
 */
export function loadExecRunner(): Promise<typeof import('execa')> {
  execRunner ??= loadOnFirstUse('exec health checks', () => import('execa')).catch((err: unknown) => {
    execRunner = null; // the next check or reload tries again
    throw err;
  });
  return execRunner;
}

/** Whether `config` has an exec health check (what loadExecRunner() serves). */
export function hasExecChecks(config: Config): boolean {
  return config.backends.some((be) => be.kind === 'proxy' && be.health?.type === 'exec');
}

function execProbe(h: HealthOf<'exec'>): Probe {
  const [file, ...args] = h.command as [string, ...string[]];
  return async (t, signal) => {
    const { execa } = await loadExecRunner();
    const r = await execa(file, args, {
      cwd: h.cwd,
      env: {
        FLAGMAN_BACKEND: t.backend,
        FLAGMAN_SERVER: t.server,
        FLAGMAN_SERVER_ADDR: t.host,
        FLAGMAN_SERVER_PORT: String(t.port),
      },
      // Output is not read: a chatty check must neither fill a buffer nor reach flagman's own logs.
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'ignore',
      reject: false,
      cancelSignal: signal,
      // The checker ends its processes itself (timeout and stop both abort `signal`). execa's own
      // exit hook would, while a check runs, turn the SIGTERM that starts a graceful stop into an
      // immediate death of flagman, dropping the requests in flight.
      cleanup: false,
      forceKillAfterDelay: FORCE_KILL_MS,
    });
    if (r.exitCode === 0) return { pass: true, detail: 'exit 0' };
    if (r.isCanceled) return { pass: false, detail: abortDetail(signal, h.timeout) };
    if (r.exitCode !== undefined) return { pass: false, detail: `exit ${r.exitCode}` };
    if (r.signal !== undefined) return { pass: false, detail: `killed by ${r.signal}` };
    // Not started for want of descriptors (pipes, the process's own): the code alone, which the
    // checker knows is no result about the server.
    if (isDescriptorShortage(r.code)) return { pass: false, detail: r.code! };
    return { pass: false, detail: (r.shortMessage ?? 'could not run').split('\n', 1)[0]! };
  };
}

/** The probe of each check type. */
export const PROBES = {
  http: httpProbe,
  tcp: tcpProbe,
  exec: execProbe,
} as const satisfies { [T in HealthConfig['type']]: (h: HealthOf<T>) => Probe };

/** The probe for a backend's health config. */
export function probeFor(h: HealthConfig): Probe {
  switch (h.type) {
    case 'http':
      return PROBES.http(h);
    case 'tcp':
      return PROBES.tcp(h);
    case 'exec':
      return PROBES.exec(h);
  }
}
