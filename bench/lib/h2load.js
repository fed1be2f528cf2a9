// Runs h2load (nghttp2's HTTP/2 load generator, pinned to a CPU) for one measured run over TLS and
// returns its figures. h2load prints no percentiles, so each run writes its per-request log
// (--log-file: start, status, microseconds to the end of the response) and the percentiles are
// taken from that; requests that did not finish are not in it.
import fs from 'node:fs';
import path from 'node:path';
import { spawnPinned } from './owned.js';
import { pct } from './stats.js';

/**
 * One h2load run against https://127.0.0.1:`port``path` for `seconds`: `clients` connections with
 * `streams` concurrent streams each, one thread. Resolves {requests, seconds, rps, errors, p50, p90,
 * p99, max} (ms); `requests` counts 2xx answers.
 */
export async function runH2load({ dir, port, path: urlPath, seconds, clients, streams, cpu = 0 }) {
  const log = path.join(dir, `h2load-${port}.log`);
  const args = ['-t1', `-c${clients}`, `-m${streams}`, `-D${seconds}`, '--log-file', log, `https://127.0.0.1:${port}${urlPath}`];
  const child = spawnPinned(cpu, 'h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise((resolve) => child.once('exit', (c, sig) => resolve(c ?? sig)));
  const finished = /finished in ([\d.]+)(m?s)/.exec(out);
  const counts = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  if (code !== 0 || !finished || !counts) throw new Error(`h2load ${urlPath} failed (${code}):\n${out}`);
  const secs = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
  const durations = fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(l.split('\t')[2]) / 1000);
  fs.rmSync(log, { force: true });
  const sorted = Float64Array.from(durations).sort();
  const ms = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
  const ok = Number(counts[4]);
  return {
    requests: ok,
    seconds: secs,
    rps: ok / secs,
    errors: Number(counts[5]) + Number(counts[6]) + Number(counts[7]),
    p50: ms(pct(sorted, 50)),
    p90: ms(pct(sorted, 90)),
    p99: ms(pct(sorted, 99)),
    max: ms(sorted.length ? sorted[sorted.length - 1] : null),
  };
}
