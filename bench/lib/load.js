// Load from inside the bench process: `clients` keep-alive connections (bench/lib/http.js), each
// sending GETs back to back until stopped. A connection that fails or is closed is opened again
// (after `pauseMs`, so a server refusing connections is not hammered in a tight loop). Every
// attempt is counted: answered with a 2xx, or failed with the status or the error's code.
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { KeepAliveClient } from './http.js';
import { median } from './run.js';
import { summary } from './stats.js';

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

/**
 * A paced load on 127.0.0.1:`port`: `clients` keep-alive connections sharing a fixed `rate` (req/s),
 * each sending on its own schedule (client k at t0 + k·gap/clients + i·gap, gap = clients/rate).
 * A request is sent at its time (up to 1 ms after: timers count whole ms), or at once when the one
 * before came back late, and its latency is
 * taken from its scheduled time: a stall of the proxy shows in every request it delayed, not only
 * in the one it held (no coordinated omission). Failures are counted as startLoad's are; the
 * connection is opened again after `pauseMs`, and the schedule keeps going meanwhile.
 * Returns {take(), stop()}: take() gives the window since the last take (or the start) as {requests,
 * ok, failed, failures, latencies (ms, answered 2xx only), scheduledAt (when each of those latencies'
 * requests was scheduled, ms from the window's start, in the same order: negative for one due
 * before the window and sent in it), seconds} and starts a new one; stop() sends no new request,
 * waits for those in flight and resolves with the last window. `makeClient(port, {path, timeoutMs})`
 * makes each connection: by default a plain KeepAliveClient; any client with its calls (connect,
 * get, close, connected) will do, e.g. `new KeepAliveClient(port, {...o, tls: true})` for HTTPS or
 * an H2Client (lib/h2-client.js) for HTTP/2, one request in flight on each.
 */
export function startPacedLoad(
  port,
  { clients = 20, rate, path = '/100', timeoutMs = 10_000, pauseMs = 10, makeClient = (p, o) => new KeepAliveClient(p, o) } = {},
) {
  if (!(rate > 0)) throw new Error('startPacedLoad: rate must be > 0');
  const gap = (1000 * clients) / rate;
  const fresh = () => ({ t0: performance.now(), requests: 0, ok: 0, failed: 0, failures: {}, latencies: [], scheduledAt: [] });
  let win = fresh();
  let stopping = false;
  const t0 = performance.now();
  const loop = async (k) => {
    let c = null;
    let due = t0 + (k * gap) / clients;
    while (!stopping) {
      const wait = due - performance.now();
      // Rounded up: node truncates a timer's delay to whole ms, which would send up to 1 ms early.
      if (wait > 0) await delay(Math.ceil(wait));
      if (stopping) break;
      const scheduled = due;
      due += gap;
      const w = win;
      w.requests++;
      try {
        if (!c?.connected) c = await makeClient(port, { path, timeoutMs }).connect();
        const r = await c.get(); // the request's bytes made once per connection
        if (r.status >= 200 && r.status < 300) {
          w.ok++;
          w.latencies.push(r.tEnd - scheduled);
          w.scheduledAt.push(scheduled - w.t0);
        } else {
          w.failed++;
          w.failures[r.status] = (w.failures[r.status] ?? 0) + 1;
        }
      } catch (err) {
        c?.close();
        c = null;
        w.failed++;
        const label = failureLabel(err);
        w.failures[label] = (w.failures[label] ?? 0) + 1;
        await delay(pauseMs);
      }
    }
    c?.close();
  };
  const take = () => {
    const w = win;
    win = fresh();
    return { ...w, seconds: (performance.now() - w.t0) / 1000 };
  };
  const done = Promise.all(Array.from({ length: clients }, (_, k) => loop(k)));
  return {
    take,
    stop: async () => {
      stopping = true;
      await done;
      return take();
    },
  };
}

/**
 * The median over the first `seconds` whole seconds of a paced window `w` (startPacedLoad's take()
 * or stop()) of each second's p99, each latency in the second its request was scheduled: one stall
 * of 100 ms sets a 12 s window's p99 (1 % of its requests), but only one or two of its seconds' p99s.
 */
export function p99PerSecond(w, seconds) {
  return medianPerSecond(w, seconds, (b) => summary(b).p99);
}

/**
 * The median over the first `seconds` whole seconds of `w` of each second's slowest request: with
 * one change a second (bench/churn.js), the stall a typical change leaves, whether or not it is long
 * enough to move the second's p99 (at 4,000 req/s, 40 requests held up by a 10 ms stall are 1 %).
 */
export function maxPerSecond(w, seconds) {
  return medianPerSecond(w, seconds, (b) => Math.max(...b));
}

function medianPerSecond(w, seconds, stat) {
  const buckets = Array.from({ length: seconds }, () => []);
  for (let i = 0; i < w.latencies.length; i++) {
    const sec = Math.floor(w.scheduledAt[i] / 1000);
    if (sec >= 0 && sec < seconds) buckets[sec].push(w.latencies[i]);
  }
  return median(buckets.filter((b) => b.length > 0).map(stat));
}
