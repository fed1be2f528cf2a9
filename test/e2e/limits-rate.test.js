// Rate limits (`rules[].limit`): a token bucket per key holding rate + burst; past it 429 with
// Retry-After and `"reason":"rate limited"`, while another key goes on; the rate follows its flag
// live; an upgrade takes a token too; with workers: 2 the rate holds across both processes.
import http from 'node:http';
import net from 'node:net';
import test from 'ava';
import { adminStatus, flagmanCli, request, startFlagman, timedFlagWrite, upstream, waitFor } from '../helpers/e2e.js';

const CONFIG = ({ top = '', limit }) => `${top}
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: request.path.startsWith("/api/")
        use: app
        limit: ${limit}
      - use: app
backends:
  app:
    servers: { a: { address: "127.0.0.1:{{app}}" } }
`;

/** `n` GETs with `key` on one keep-alive connection, back to back; the statuses, Retry-After of each 429, and the time taken. */
async function burst(port, key, n, path = '/api/x') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const started = performance.now();
  const statuses = [];
  const retryAfter = [];
  for (let i = 0; i < n; i++) {
    const r = await new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent, headers: { 'x-key': key } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      });
      req.on('error', reject);
    });
    statuses.push(r.status);
    if (r.status === 429) {
      retryAfter.push(r.headers['retry-after']);
      if (retryAfter.length === 1) statuses.body = r.body;
    }
  }
  agent.destroy();
  return { statuses, retryAfter, seconds: (performance.now() - started) / 1000, passed: statuses.filter((s) => s === 200).length };
}

test('past rate + burst a key gets 429 with Retry-After while another key is unaffected; the rate follows its flag live', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG({ limit: `{ rate: 'flag("API_RATE", 1)', burst: 4, by: 'header("X-Key")' }` }), {
    vars: { app: app.port },
    captureAccess: true,
  });
  // 1 a second and a burst of 4: 5 at once, then one a second.
  const a = await burst(fm.port, 'alice', 10);
  t.log(`alice: ${a.statuses.join(' ')} in ${a.seconds.toFixed(2)} s`);
  t.true(a.passed >= 5, 'rate + burst pass at once');
  t.true(a.passed <= 5 + Math.ceil(a.seconds), 'then no more than one a second');
  t.deepEqual(a.statuses.slice(0, 5), [200, 200, 200, 200, 200]);
  t.true(a.statuses.includes(429));
  t.deepEqual([...new Set(a.retryAfter)], ['1'], 'the next token is at most a second away');
  t.is(a.statuses.body, '429 Too Many Requests\n');
  const b = await burst(fm.port, 'bob', 5);
  t.deepEqual(b.statuses, [200, 200, 200, 200, 200], 'another key has its own bucket');
  // Outside the rule, nothing is limited.
  t.deepEqual((await burst(fm.port, 'alice', 3, '/other')).statuses, [200, 200, 200]);
  t.is(
    app.seen.filter((s) => s.headers['x-key'] === 'alice' && s.url === '/api/x').length,
    a.passed,
    'a refused request never reached the server',
  );

  await waitFor(() => fm.access.filter((l) => l.status === 429).length === 10 - a.passed, { what: 'the access lines' });
  t.deepEqual(
    [...new Set(fm.access.filter((l) => l.status === 429).map((l) => `${l.reason} ${l.backend} ${l.server}`))],
    ['rate limited null null'],
  );
  t.like(
    fm.access.find((l) => l.status === 429),
    { status: 429, backend: null, server: null, bytes: 22, reason: 'rate limited' },
  );
  let s = await adminStatus(fm);
  t.is(s.frontends.web.refused.rateLimited, 10 - a.passed);
  t.deepEqual(s.frontends.web.rules[0].limit, { rate: 1, burst: 4, by: 'header("X-Key")', keys: 2 });
  t.is(s.frontends.web.rules[0].refused.rateLimited, 10 - a.passed);
  t.is(s.frontends.web.rules[1].limit, null);
  const metrics = (await request(fm.adminPort, { path: '/metrics' })).body;
  t.true(metrics.includes(`flagman_frontend_refused_total{frontend="web",reason="rate_limited"} ${10 - a.passed}\n`), metrics);
  t.true(metrics.includes('flagman_frontend_refused_total{frontend="web",reason="body_too_large"} 0\n'));
  t.true(metrics.includes(`flagman_rule_refused_total{frontend="web",rule="1",reason="rate_limited"} ${10 - a.passed}\n`));
  t.true(metrics.includes('flagman_rule_rate{frontend="web",rule="1"} 1\n'));

  // A script raises the rate: alice's next requests pass at once, without a reload.
  await timedFlagWrite(fm, 'API_RATE', 1000);
  await waitFor(async () => (await adminStatus(fm)).frontends.web.rules[0].limit.rate === 1000, { what: 'the new rate in /status' });
  const fast = await burst(fm.port, 'alice', 20);
  t.true(fast.passed >= 19, `at 1000 a second: ${fast.statuses.join(' ')}`);
  // And lowers it: the bucket holds no more than the new rate + burst.
  await timedFlagWrite(fm, 'API_RATE', 2);
  const slow = await burst(fm.port, 'alice', 12);
  t.true(slow.passed <= 6 + 2 * Math.ceil(slow.seconds), `at 2 a second: ${slow.statuses.join(' ')}`);
  t.true(slow.statuses.includes(429));
  // A flag that makes no sense is clamped, and said so.
  await timedFlagWrite(fm, 'API_RATE', 0);
  s = await waitFor(async () => {
    const doc = await adminStatus(fm);
    return doc.frontends.web.rules[0].limit.rate === 1 && doc;
  });
  t.true(
    s.problems.some((p) => /frontend web, rule 1: the rate is 0, below 1: using 1/.test(p)),
    s.problems.join('\n'),
  );
});

test('an upgrade past the rate gets 429 with Retry-After, as a request does', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG({ limit: '{ rate: 1, by: client.ip }' }), { vars: { app: app.port } });
  const upgrade = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect(fm.port, '127.0.0.1', () => {
        socket.write('GET /api/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      });
      let got = '';
      socket.on('data', (d) => (got += d));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
  // The request takes the one token; the upgrade right after finds none — unless a loaded machine
  // let a second pass in between, and the token came back: then again.
  let answer = '';
  let refused = 0;
  for (let round = 0; round < 5; round++) {
    const took = performance.now();
    const first = await request(fm.port, { path: '/api/x' });
    if (first.status === 429) refused++;
    answer = await upgrade();
    if (/^HTTP\/1\.1 429 /.test(answer)) break;
    t.true(performance.now() - took > 900, `a token came back within ${Math.round(performance.now() - took)} ms`);
  }
  t.regex(answer, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
  t.regex(answer, /\r\nRetry-After: 1\r\n/);
  t.is((await adminStatus(fm)).frontends.web.refused.rateLimited, refused + 1);
});

test('workers: 2 share one rate: they admit within 20% of what one bucket of that rate admits of the same requests', async (t) => {
  t.timeout(90_000);
  const app = await upstream(t, 'app');
  // 10/s: about 50 admitted in the window, so ±20% is about ±10 requests; eight clients offer well
  // over that even on a loaded machine (four offered 38/s at load 20).
  const RATE = 10;
  const fm = await startFlagman(t, CONFIG({ top: 'workers: 2', limit: `{ rate: ${RATE} }` }), {
    vars: { app: app.port },
    captureAccess: true,
  });
  // Several clients, each on a new connection per request: the primary deals connections to both
  // workers in turn. Well over the rate, for a warm-up, a measured window and a second after it.
  const WARMUP_MS = 1500;
  const WINDOW_MS = 5000;
  const TAIL_MS = 1000;
  const start = performance.now();
  let sent = 0;
  let passed = 0;
  // Paced at a request per 20 ms each (at most 400/s in all, 40 times the rate): what is measured is
  // how the workers share the rate, not how fast they refuse. Unpaced, the clients sent about 1,700
  // a second, a heavy load of the test's own; beside other test files the effective rate came out
  // at 6.4-7.6/s in three runs of the suite (10.0/s alone, and beside three CPU hogs): the cause is
  // not pinned down, the load is left out.
  const client = async () => {
    while (performance.now() - start < WARMUP_MS + WINDOW_MS + TAIL_MS) {
      const r = await request(fm.port, { path: '/api/x' });
      sent++;
      if (r.status === 200) passed++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  await Promise.all(Array.from({ length: 8 }, client));
  // The window is counted by when flagman answered (its access lines' times), not when this process
  // read the answers: beside three other test files on two cores this process can stall for a
  // second, and answers read late moved across the window's edges (12.4/s and 6.6/s in two runs
  // of the whole suite, 9.8-10.2/s alone, with CPU hogs too).
  await waitFor(() => fm.access.length >= sent, { what: 'every access line' });
  const lines = fm.access
    .filter((l) => l.path === '/api/x')
    .map((l) => ({ at: Date.parse(l.time), status: l.status }))
    .sort((a, b) => a.at - b.at);
  const from = lines[0].at + WARMUP_MS;
  const inWindow = (l) => l.at >= from && l.at < from + WINDOW_MS;
  const admitted = lines.filter((l) => l.status === 200 && inWindow(l)).length;
  // What one bucket of the configured rate (it holds RATE tokens, burst 0) admits of the requests
  // as they came: the bound the two workers together are held to. Beside other test files this
  // process can stall for a second and offer nothing meanwhile, and a bucket admits no more than
  // was asked (6.4-7.6/s in three runs of the suite against 10.0/s alone, when the bound was the
  // configured rate itself).
  let tokens = RATE;
  let last = lines[0].at;
  let expected = 0;
  for (const l of lines) {
    tokens = Math.min(RATE, tokens + ((l.at - last) * RATE) / 1000);
    last = l.at;
    if (tokens < 1) continue;
    tokens -= 1;
    if (inWindow(l)) expected++;
  }
  const offered = lines.filter(inWindow).length / (WINDOW_MS / 1000);
  t.log(
    `configured ${RATE}/s; offered ${offered.toFixed(0)}/s in the window; admitted ${admitted} in ${WINDOW_MS / 1000} s, one bucket would admit ${expected}`,
  );
  t.true(offered > RATE, `the clients offered more than the rate (${offered.toFixed(0)}/s)`);
  t.true(admitted >= expected * 0.8 && admitted <= expected * 1.2, `admitted ${admitted}, one bucket ${expected}`);
  // Both workers admitted some: the rate is shared, not served by one of them.
  const byWorker = new Set(fm.access.filter((l) => l.status === 200 && l.path === '/api/x').map((l) => l.worker));
  t.deepEqual([...byWorker].sort(), [1, 2]);
  const s = await adminStatus(fm);
  t.is(s.frontends.web.refused.rateLimited, sent - passed, 'the refusals add up across workers');
});

test("flagman explain and /explain show the body limit and the rate limit that apply, with the request's key", async (t) => {
  const app = await upstream(t, 'app');
  const yaml = CONFIG({ limit: `{ rate: 'flag("API_RATE", 10)', burst: 5, by: 'header("X-Key")' }` }).replace(
    '    rules:',
    '    maxBody: 1MiB\n    rules:',
  );
  const fm = await startFlagman(t, yaml, { vars: { app: app.port }, flags: { API_RATE: '50\n' } });
  const text = await flagmanCli(['explain', '-c', fm.configFile, '--path', '/api/x', '--header', 'X-Key: abc']);
  t.is(text.exitCode, 0, text.stderr);
  t.log(text.stdout);
  t.regex(
    text.stdout,
    /\nlimits: body at most 1MiB \(frontend maxBody\); rate 50\/s \+ burst 5, per header\("X-Key"\), this request's key "abc" \(API_RATE=50\)\n/,
  );
  t.regex(
    (await flagmanCli(['explain', '-c', fm.configFile, '--path', '/other'])).stdout,
    /\nlimits: body at most 1MiB \(frontend maxBody\); no rate limit$/,
  );
  const live = JSON.parse(
    (await request(fm.adminPort, { path: `/explain?${new URLSearchParams({ path: '/api/x', header: 'X-Key: abc' })}` })).body,
  );
  t.deepEqual(live.limits, {
    maxBody: 1048576,
    maxBodyFrom: 'frontend',
    rate: { rate: 50, burst: 5, by: 'header("X-Key")', key: 'abc', flags: { API_RATE: 50 }, problem: null },
  });
});

test("flagman explain names the frontend's maxconn on its limits line, and each server's maxconn beside its weight", async (t) => {
  const app = await upstream(t, 'app');
  const yaml = CONFIG({ limit: '{ rate: 10 }' })
    .replace('    rules:', '    maxconn: 200\n    rules:')
    .replace('{ a: { address: "127.0.0.1:{{app}}" } }', `{ a: { address: "127.0.0.1:{{app}}", maxconn: 'flag("a.maxconn", 5)' } }`);
  const fm = await startFlagman(t, yaml, { vars: { app: app.port }, flags: { 'a.maxconn': '20\n' } });
  const api = (await flagmanCli(['explain', '-c', fm.configFile, '--path', '/api/x'])).stdout;
  t.regex(api, /answered by backend app: a 127\.0\.0\.1:\d+ weight 1 maxconn 20 \(a\.maxconn=20\)\n/, api);
  t.regex(
    api,
    /\nlimits: at most 200 connections at once \(frontend maxconn\); body not limited; rate 10\/s \+ burst 0, one bucket for the rule\n/,
    api,
  );
  // A rule without limits of its own: the frontend's maxconn alone.
  t.regex(
    (await flagmanCli(['explain', '-c', fm.configFile, '--path', '/other'])).stdout,
    /\nlimits: at most 200 connections at once \(frontend maxconn\)\n/,
  );
  const live = JSON.parse((await request(fm.adminPort, { path: '/explain?path=/other' })).body);
  t.is(live.maxconn, 200);
  t.like(live.servers[0], { name: 'a', weight: 1, maxconn: 20 });
});
