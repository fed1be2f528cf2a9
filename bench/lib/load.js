// Load from inside the bench process: `clients` keep-alive connections (bench/lib/http.js), each
// sending GETs back to back until stopped. A connection that fails or is closed is opened again
// (after `pauseMs`, so a server refusing connections is not hammered in a tight loop). Every
// attempt is counted: answered with a 2xx, or failed with the status or the error's code.
import { setTimeout as delay } from 'node:timers/promises';
import { KeepAliveClient } from './http.js';

/** A short label for a failed attempt: the HTTP status, the error's code, or its message. */
export function failureLabel(err) {
  return err.code ?? err.message.replace(/ within \d+ ms$/, '');
}

/**
 * Starts the load on 127.0.0.1:`port`. `path(client, seq)` names each request's path; `onResult(path,
 * outcome)` is told each outcome ('ok', a status, or an error label). It ends after `limit`
 * requests, or `maxMs` in case nobody stops it. Returns {stats, done, stop()}: stats = {requests,
 * ok, failed, failures: {label: n}, inFlight}; stop() sends no new request, waits for those in
 * flight and resolves with the stats, as `done` does when the load ends by itself.
 */
export function startLoad(
  port,
  { clients = 20, path = () => '/100', timeoutMs = 10_000, pauseMs = 10, maxMs = 60_000, limit = Infinity, onResult = () => {} } = {},
) {
  const stats = { requests: 0, ok: 0, failed: 0, failures: {}, inFlight: 0 };
  const deadline = Date.now() + maxMs;
  let stopping = false;
  const fail = (p, label) => {
    stats.failed++;
    stats.failures[label] = (stats.failures[label] ?? 0) + 1;
    onResult(p, label);
  };
  const loop = async (client) => {
    let c = null;
    for (let seq = 0; !stopping && Date.now() < deadline && stats.requests < limit; seq++) {
      const p = path(client, seq);
      stats.requests++;
      stats.inFlight++;
      try {
        if (!c?.connected) c = await new KeepAliveClient(port, { timeoutMs }).connect();
        const r = await c.get(p);
        if (r.status >= 200 && r.status < 300) {
          stats.ok++;
          onResult(p, 'ok');
        } else fail(p, String(r.status));
      } catch (err) {
        c?.close();
        c = null;
        fail(p, failureLabel(err));
        await delay(pauseMs);
      } finally {
        stats.inFlight--;
      }
    }
    c?.close();
  };
  const done = Promise.all(Array.from({ length: clients }, (_, i) => loop(i))).then(() => stats);
  return {
    stats,
    done,
    stop: async () => {
      stopping = true;
      await done;
      return stats;
    },
  };
}

/** The failures as "label n, label n" (most frequent first), or '' when none. */
export function failureSummary(stats) {
  return Object.entries(stats.failures)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}
