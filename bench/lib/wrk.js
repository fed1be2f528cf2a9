// Runs wrk (pinned to a CPU) for one measured run and returns its figures, read from one JSON line
// that our Lua script's done() prints: exact percentiles from wrk's own latency histogram rather
// than the rounded text of `--latency`. A POST case sets the request body in the script's init().
import fs from 'node:fs';
import path from 'node:path';
import { firstLine, spawnPinned } from './owned.js';

const LUA = `-- written by bench/proxies.js (bench/lib/wrk.js)
-- args: method, body bytes (0: none)
function init(args)
  local method = args[1] or "GET"
  local bytes = tonumber(args[2] or "0")
  wrk.method = method
  if bytes > 0 then
    wrk.body = string.rep("x", bytes)
    wrk.headers["Content-Type"] = "application/octet-stream"
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
`;

/** Writes the Lua script into `dir` once; returns its path. */
export function wrkScript(dir) {
  const file = path.join(dir, 'bench.lua');
  if (!fs.existsSync(file)) fs.writeFileSync(file, LUA);
  return file;
}

/**
 * One wrk run against `scheme`://127.0.0.1:`port``path` for `seconds` with `connections` connections
 * (one thread), each of `headers` ('Name: value') added to every request. Resolves {requests,
 * seconds, rps, bytes, errors, p50, p90, p99, max, mean} (ms).
 */
export async function runWrk({
  dir,
  port,
  path: urlPath,
  method = 'GET',
  bodyBytes = 0,
  seconds,
  connections,
  cpu = 0,
  timeoutS = 10,
  scheme = 'http',
  headers = [],
}) {
  const args = [
    '-t1',
    ...headers.flatMap((h) => ['-H', h]),
    `-c${connections}`,
    `-d${seconds}s`,
    `--timeout`,
    `${timeoutS}s`,
    '-s',
    wrkScript(dir),
    `${scheme}://127.0.0.1:${port}${urlPath}`,
    '--',
    method,
    String(bodyBytes),
  ];
  const child = spawnPinned(cpu, 'wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const line = await firstLine(child, child.stdout, (l) => (l.startsWith('WRKJSON ') ? l.slice(8) : null), {
    timeoutMs: (seconds + timeoutS + 30) * 1000,
    what: `wrk ${urlPath}`,
  }).catch((err) => {
    throw new Error(`${err.message}\n${stderr}`);
  });
  await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
  const w = JSON.parse(line);
  const secs = w.duration_us / 1e6;
  const ms = (us) => Math.round(us) / 1000;
  return {
    requests: w.requests,
    seconds: secs,
    rps: w.requests / secs,
    bytes: w.bytes,
    errors: w.connect + w.read + w.write + w.status + w.timeout,
    errorDetail: { connect: w.connect, read: w.read, write: w.write, status: w.status, timeout: w.timeout },
    p50: ms(w.p50_us),
    p90: ms(w.p90_us),
    p99: ms(w.p99_us),
    max: ms(w.max_us),
    mean: ms(w.mean_us),
  };
}
