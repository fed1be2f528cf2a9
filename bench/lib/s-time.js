// Runs `openssl s_time` for one measured run of TLS handshakes: `processes` clients at once (pinned
// to a CPU), each making connections one after another with one HTTP/1.0 request each (`-www`).
// mode 'new': no session is ever offered, so every connection is a full handshake; 'reuse': every
// connection after a client's first offers that first one's session. s_time prints a character per
// connection ('r' resumed, '*' not), from which the share of resumed handshakes is counted: what
// the server let resume, whatever was offered. No latencies (s_time prints none).
import { spawnPinned } from './owned.js';

function one({ port, path, seconds, mode, cpu }) {
  const args = ['s_time', '-connect', `127.0.0.1:${port}`, `-${mode}`, '-time', String(seconds), '-www', path];
  const child = spawnPinned(cpu, 'openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    child.once('exit', (code, sig) => {
      // "N connections in T real seconds, B bytes read per connection": the last such line is the
      // timed part (-reuse first makes one connection for the session it offers).
      const done = [...out.matchAll(/(\d+) connections in [\d.]+ real seconds/g)].at(-1);
      if (code !== 0 || done === undefined)
        return reject(new Error(`openssl s_time -${mode} failed (${code ?? sig}):\n${out.slice(-2000)}`));
      // The marks come as lines of their own: words elsewhere in the output have r's too.
      const marks = out
        .split('\n')
        .filter((l) => /^[r*]+$/.test(l.trim()))
        .join('')
        .trim();
      resolve({ connections: Number(done[1]), resumed: (marks.match(/r/g) ?? []).length, marked: marks.length });
    });
  });
}

/** `processes` s_time clients for `seconds`; resolves {requests, seconds, rps, errors, resumedPct, p50, p99, max: null}. */
export async function runSTime({ port, path, seconds, mode, processes = 4, cpu = 0 }) {
  const started = performance.now();
  const runs = await Promise.all(Array.from({ length: processes }, () => one({ port, path, seconds, mode, cpu })));
  const secs = (performance.now() - started) / 1000;
  const requests = runs.reduce((a, r) => a + r.connections, 0);
  const marked = runs.reduce((a, r) => a + r.marked, 0);
  const resumed = runs.reduce((a, r) => a + r.resumed, 0);
  return {
    requests,
    seconds: secs,
    rps: requests / secs,
    errors: 0,
    resumedPct: marked === 0 ? null : (100 * resumed) / marked,
    p50: null,
    p90: null,
    p99: null,
    max: null,
  };
}
