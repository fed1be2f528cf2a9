// The active checks, one probe per `health.type` (docs/design/conventions.md): an HTTP GET whose status must fall in a
// range, a TCP connect, or a command (run with execa, no shell) whose exit 0 passes. Each probe
// settles with a result, never throws, and gives up when its signal aborts (the check's timeout, or
// flagman stopping), leaving no socket or process behind.
import http from 'node:http';
import net from 'node:net';
import type { HealthConfig } from '../config/schema.js';
import { isDescriptorShortage } from '../descriptors.js';
import { localHeader } from '../proxy/proxy-header.js';
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

function hostHeader(t: ProbeTarget): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

function httpProbe(h: HealthOf<'http'>): Probe {
  return (t, signal) =>
    new Promise((resolve) => {
      const header = t.sendProxy ? localHeader(t.sendProxy) : null;
      const req = http.request({
        host: t.host,
        port: t.port,
        method: 'GET',
        path: h.path,
        // A connection of its own (no agent), which starts with the PROXY header if the server takes one.
        createConnection: () => {
          const sock = net.connect({ host: t.host, port: t.port });
          if (header !== null) sock.write(header);
          return sock;
        },
        signal,
        headers: { Host: hostHeader(t), 'User-Agent': `flagman/${VERSION} health check`, Connection: 'close' },
      });
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        // Only the status matters; the body is read away and the server closes (Connection: close).
        res.resume();
        res.on('error', () => {});
        resolve({ pass: status >= h.status.min && status <= h.status.max, detail: `HTTP ${status}` });
      });
      req.on('error', (err) => resolve({ pass: false, detail: errorDetail(err, signal, h.timeout) }));
      req.end();
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

function execProbe(h: HealthOf<'exec'>): Probe {
  const [file, ...args] = h.command as [string, ...string[]];
  return async (t, signal) => {
    // Loaded on first use: a config without exec checks never pays for it at start.
    const { execa } = await import('execa');
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
