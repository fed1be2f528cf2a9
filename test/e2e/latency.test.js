// Latency you can graph (docs/admin.md): a server that sends its response head 200 ms after the
// request and its body 300 ms later shows as such in the access line (ttfbMs, ms), in /status and
// in the /metrics histograms (request duration per frontend and backend, connect and time to first
// byte per server); a flag change and a reload keep them; with workers, /metrics adds them up.
import test from 'ava';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { adminStatus, request, sh, startFlagman, upstream, waitFor } from '../helpers/e2e.js';
import { scaled } from '../helpers/slow.js';

const HEAD_MS = 200;
const BODY_MS = 300;
// How far a timer of flagman's may be from the server's own: the transit both ways on loopback,
// and a turn of two event loops, on a machine others load too (scaled: ×1 on an idle machine).
const SLACK = scaled(20);

const config = (top = '') => `${top}
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules: [{ use: app }]
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}", weight: 'flag("app1.weight", 1)' }
`;

/**
 * The slow server: the head HEAD_MS after the request came, the body BODY_MS after that. It notes
 * when each actually went out (a timer fires late on a loaded machine): flagman's timers are
 * checked against those, so that a busy machine cannot make them look wrong.
 */
async function slowServer(t) {
  const sent = [];
  const app = await upstream(t, 'app', (req, res) => {
    const came = performance.now();
    req.resume();
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '4' });
      res.flushHeaders();
      const head = performance.now() - came;
      setTimeout(() => {
        res.end('slow');
        sent.push({ head, total: performance.now() - came });
      }, BODY_MS);
    }, HEAD_MS);
  });
  return { ...app, sent };
}

/** A histogram family of the /metrics text: per series (labels without `le`), its buckets by `le`, sum and count. */
function histogram(text, name) {
  const series = {};
  const line = new RegExp(`^${name}_(bucket|sum|count)\\{([^}]*)\\} (\\S+)$`, 'gm');
  for (const [, suffix, labelText, value] of text.matchAll(line)) {
    const labels = Object.fromEntries([...labelText.matchAll(/([^=,]+)="([^"]*)"/g)].map(([, k, v]) => [k, v]));
    const { le, ...rest } = labels;
    const key = Object.values(rest).join('/');
    const s = (series[key] ??= { buckets: {}, sum: null, count: null });
    if (suffix === 'bucket') s.buckets[le] = Number(value);
    else s[suffix] = Number(value);
  }
  return series;
}

/** The /metrics text, checked to parse as Prometheus' text format (it throws otherwise). */
async function metrics(fm) {
  const res = await request(fm.adminPort, { path: '/metrics' });
  parsePrometheusTextFormat(res.body);
  return res.body;
}

test('a server slow to answer: ttfbMs ≈ 200 and ms ≈ 500 in the access line, the same in the histograms; a flag change and a reload keep them', async (t) => {
  const app = await slowServer(t);
  const fm = await startFlagman(t, config(), { vars: { app: app.port }, captureAccess: true });
  const N = 4;
  // Each request's time as this client saw it, from sending it to the last byte of the answer:
  // flagman's own `ms` lies within it, however loaded the machine.
  const seen = [];
  for (let i = 0; i < N; i++) {
    const sent = performance.now();
    t.is((await request(fm.port)).body, 'slow');
    seen.push(performance.now() - sent);
  }
  await waitFor(() => fm.access.length >= N, { what: `${N} access lines` });
  const lines = fm.access.slice(0, N);
  t.is(app.sent.length, N);
  for (const [i, line] of lines.entries()) {
    const { head, total } = app.sent[i];
    t.log(
      `ttfbMs ${line.ttfbMs} (head sent after ${head.toFixed(1)}), ms ${line.ms} (body after ${total.toFixed(1)}), connectMs ${line.connectMs}`,
    );
    // Never under the server's delay (less a timer's coarseness), never much over what it really took.
    // How late the server's own two timers fired says how loaded the machine was during this very
    // request: flagman's event loop, on the same cores, is as late (×1 on an idle machine: ±20 ms).
    const late = Math.max(0, head - HEAD_MS) + Math.max(0, total - head - BODY_MS);
    const slack = SLACK + 3 * late;
    t.true(
      line.ttfbMs >= HEAD_MS - 20 && line.ttfbMs <= head + slack,
      `ttfbMs ${line.ttfbMs}: the server's head went out after ${head} ms`,
    );
    // The whole request's time is bounded by the client's own: a loaded machine can delay
    // flagman's last read of the body past the server's timer by more than any slack (580 ms
    // against a body sent at 511 ms, a run with the load average at 13), never past the client's.
    t.true(
      line.ms >= HEAD_MS + BODY_MS - 20 && line.ms <= Math.max(total + slack, seen[i] + 1),
      `ms ${line.ms}: the server's body ended after ${total} ms, the client had it after ${seen[i]} ms`,
    );
    t.true(line.connectMs >= 0 && line.connectMs < 50 + SLACK, `connectMs ${line.connectMs} on loopback`);
  }
  t.true(lines[0].connectMs > 0, 'the first request opened the connection');
  // The connection is pooled: the later ones reused it (0: no connect).
  const connects = lines.filter((l) => l.connectMs > 0);

  const check = async (when) => {
    const text = await metrics(fm);
    const fe = histogram(text, 'flagman_frontend_request_duration_seconds').web;
    const be = histogram(text, 'flagman_backend_request_duration_seconds').app;
    for (const [what, h] of [
      ['frontend', fe],
      ['backend', be],
    ]) {
      t.is(h.count, N, `${when}: ${what} count`);
      t.is(h.buckets['+Inf'], N);
      // ~0.5 s: in the bucket that holds 0.5 s (le=0.5, or le=1 for the share over it), none below.
      t.is(h.buckets['0.25'], 0, `${when}: ${what} none at 0.25 s or less`);
      t.is(h.buckets['1'], N, `${when}: ${what} all at 1 s or less`);
      const sum = lines.reduce((a, l) => a + l.ms, 0) / 1000;
      t.true(Math.abs(h.sum - sum) < N * 0.005, `${when}: ${what} sum ${h.sum} s, the access lines' ${sum} s`);
    }
    // ttfb and connect: the very figures of the access lines, each in the first bucket that holds it.
    const ttfb = histogram(text, 'flagman_server_ttfb_seconds')['app/app1'];
    t.is(ttfb.count, N, `${when}: ttfb count`);
    t.is(ttfb.buckets['0.1'], 0, `${when}: ttfb none at 0.1 s or less`);
    t.is(ttfb.buckets['0.25'], lines.filter((l) => l.ttfbMs <= 250).length, `${when}: ttfb at 0.25 s or less, as the lines say`);
    t.is(ttfb.buckets['0.5'], N);
    const connect = histogram(text, 'flagman_server_connect_duration_seconds')['app/app1'];
    t.is(connect.count, connects.length, `${when}: one connect observed per new connection`);
    t.is(connect.buckets['0.25'], connects.length, `${when}: connects on loopback`);
    const s = await adminStatus(fm);
    t.is(s.frontends.web.durationMs.count, N);
    t.is(s.backends.app.durationMs.buckets['+Inf'], N);
    t.is(s.backends.app.servers.app1.ttfbMs.count, N);
    t.is(s.backends.app.servers.app1.connectMs.count, connects.length);
  };
  await check('after the requests');

  let from = fm.events.length;
  await sh('echo 2 > flags/app1.weight', fm.dir);
  await fm.waitFlag('app1.weight', 2, { from });
  await check('after a flag change');
  from = fm.events.length;
  fm.proc.kill('SIGHUP');
  await fm.waitEvent((e) => e.event === 'reload', { from });
  await check('after a reload');
});

test("two workers: the histograms in /metrics add up every worker's requests", async (t) => {
  const app = await slowServer(t);
  const fm = await startFlagman(t, config('workers: 2'), { vars: { app: app.port }, captureAccess: true });
  const N = 6;
  // At once, each on its own connection: the primary deals them out to the workers in turn.
  const answers = await Promise.all(Array.from({ length: N }, () => request(fm.port)));
  t.deepEqual(
    answers.map((r) => r.body),
    new Array(N).fill('slow'),
  );
  await waitFor(() => fm.access.length >= N, { what: `${N} access lines` });
  t.deepEqual([...new Set(fm.access.map((l) => l.worker))].sort(), [1, 2], 'both workers served');
  const text = await metrics(fm);
  const fe = histogram(text, 'flagman_frontend_request_duration_seconds').web;
  const be = histogram(text, 'flagman_backend_request_duration_seconds').app;
  const ttfb = histogram(text, 'flagman_server_ttfb_seconds')['app/app1'];
  const connect = histogram(text, 'flagman_server_connect_duration_seconds')['app/app1'];
  t.is(fe.count, N);
  t.is(fe.buckets['+Inf'], N);
  t.is(fe.buckets['0.25'], 0);
  t.is(be.count, N);
  t.is(ttfb.count, N);
  t.is(ttfb.buckets['0.1'], 0);
  t.is(connect.count, fm.access.filter((l) => l.connectMs > 0).length, "every worker's connects");
  t.regex(text, new RegExp(`^flagman_frontend_requests_total\\{frontend="web"\\} ${N}$`, 'm'));
});
