// The dashboard at the admin endpoint's `/`, in a real headless Chromium: it follows flag and server
// changes on its own (no reload), renders every state and null field, shows text as text, says when
// the endpoint is unreachable and recovers, and logs no console error.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import test from 'ava';
import { launchChromium, waitText, watchedPage } from '../helpers/browser.js';
import { request, root, sh, startFlagman, upstream } from '../helpers/e2e.js';
import { scaled } from '../helpers/slow.js';
import { maintenanceConfig } from '../helpers/configs.js';

const SERVERS = { app1: '{ address: "127.0.0.1:{{app1}}" }', app2: `{ address: "127.0.0.1:{{app2}}", weight: 'flag("app2.weight", 1)' }` };
const CONFIG = maintenanceConfig({ servers: SERVERS });

// Kept out of git (.gitignore): the picture of the last run, to look at.
const SCREENSHOT = path.join(root, 'test-output', 'dashboard.png');

let browser;
test.before(async () => {
  browser = await launchChromium();
});
test.after.always(async () => {
  await browser?.close();
});

async function setup(t) {
  const app1 = await upstream(t, 'app1');
  const app2 = await upstream(t, 'app2');
  const fm = await startFlagman(t, CONFIG, { vars: { app1: app1.port, app2: app2.port }, flags: { MAINT: '0 # all good\n' } });
  const { page, errors } = await watchedPage(t, browser);
  return { fm, page, errors, url: `http://127.0.0.1:${fm.adminPort}/` };
}

const flagCell = (name, col) => `#flags tr[data-key="flag:${name}"] .c-${col}`;
const serverCell = (backend, server, col) => `#backends tr[data-key="server:${backend}/${server}"] .c-${col}`;

test('the dashboard shows a flag change and a drained server without a page reload, and logs no console error', async (t) => {
  const { fm, page, errors, url } = await setup(t);
  const response = await page.goto(url);
  t.is(response.status(), 200);
  // A reload would drop this marker: it proves the page updated itself in place.
  await page.evaluate(() => {
    window.flagmanTestMarker = 'same page';
  });

  await waitText(page, flagCell('MAINT', 'value'), '0');
  await waitText(page, flagCell('MAINT', 'note'), 'all good');
  await waitText(page, serverCell('app', 'app1', 'state'), 'up');
  await waitText(page, serverCell('app', 'app2', 'state'), 'up');
  t.regex(await page.textContent('#pid'), new RegExp(`^${fm.proc.pid}$`));
  t.regex(await page.textContent('#conn'), /^live/);

  for (let i = 0; i < 3; i++) await request(fm.port);
  await waitText(page, '#frontends tr[data-key="frontend:web"] .c-requests', '3');
  t.false(await page.isVisible('#frontends th.c-proxy'), 'no PROXY column: no frontend has acceptProxy');

  let from = fm.events.length;
  await sh('echo "1 # db migration, back 14:00" > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 1, { from });
  await waitText(page, flagCell('MAINT', 'value'), '1');
  await waitText(page, flagCell('MAINT', 'note'), 'db migration, back 14:00');

  from = fm.events.length;
  await sh('echo 0 > flags/app2.weight', fm.dir);
  await fm.waitFlag('app2.weight', 0, { from });
  await waitText(page, serverCell('app', 'app2', 'state'), 'drain');
  await waitText(page, serverCell('app', 'app2', 'weight'), '0');
  await waitText(page, flagCell('app2.weight', 'value'), '0');
  t.is(await page.textContent(serverCell('app', 'app1', 'state')), 'up');
  t.regex(await page.getAttribute('#backends tr[data-key="server:app/app2"]', 'class'), /\bdrain\b/);
  await waitText(page, '#backends tr[data-key="backend:app"] .c-state', '1 up, 1 drain');

  t.is(await page.evaluate(() => window.flagmanTestMarker), 'same page');
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  t.log(`screenshot: ${SCREENSHOT}`);
  t.deepEqual(errors, []);
});

test('the dashboard shows a server going down (its health checks fail) and back, without a reload', async (t) => {
  const app1 = await upstream(t, 'app1');
  const app2 = await upstream(t, 'app2');
  const yaml = maintenanceConfig({
    servers: SERVERS,
    app: '    health: { type: tcp, interval: 100ms, timeout: 500ms, rise: 1, fall: 1 }\n',
  });
  const fm = await startFlagman(t, yaml, { vars: { app1: app1.port, app2: app2.port }, flags: { MAINT: '0\n' } });
  const { page, errors } = await watchedPage(t, browser);
  await page.goto(`http://127.0.0.1:${fm.adminPort}/`);
  await page.evaluate(() => {
    window.flagmanTestMarker = 'same page';
  });
  await waitText(page, serverCell('app', 'app2', 'state'), 'up');
  // app2's process goes away: its checks fail, and the page follows.
  const port = app2.port;
  app2.server.closeAllConnections();
  await new Promise((resolve) => app2.server.close(resolve));
  await fm.waitEvent((e) => e.event === 'server.state' && e.server === 'app2' && e.to === 'down', { timeout: 10_000 });
  await waitText(page, serverCell('app', 'app2', 'state'), 'down');
  t.regex(await page.getAttribute('#backends tr[data-key="server:app/app2"]', 'class'), /\bdown\b/);
  t.is(await page.textContent(serverCell('app', 'app1', 'state')), 'up');
  // Back on the same port: up again after `rise` passing checks.
  await new Promise((resolve) => app2.server.listen(port, '127.0.0.1', resolve));
  await waitText(page, serverCell('app', 'app2', 'state'), 'up');
  t.is(await page.evaluate(() => window.flagmanTestMarker), 'same page');
  t.deepEqual(errors, []);
});

// A document with every server down, null fields and markup in an operator's note, fed to the page
// in place of /status: rendering states a running flagman rarely shows all at once.
const FAKE = {
  pid: 4242,
  version: '9.9.9',
  startedAt: null,
  config: {
    file: '/etc/flagman/flagman.yaml',
    generation: 3,
    lastReload: { at: null, ok: false, error: 'flagman.yaml:7:3: unknown key "lisen"' },
  },
  flags: {
    MAINT: { value: 1, note: '<img src=x onerror="window.flagmanInjected=1">back <b>soon</b>', changedAt: null, problem: null },
    GHOST: { value: null, note: null, changedAt: null, problem: 'not a base-10 integer' },
  },
  frontends: { web: { requests: null, active: null, responses: null } },
  backends: {
    app: {
      requests: 10,
      active: 0,
      responses: { '5xx': 2 },
      servers: {
        app1: { state: 'down', weight: 1, active: 0, requests: 5, failures: 3 },
        app2: { state: 'down', weight: null, active: null, requests: null, failures: null },
      },
    },
    other: { requests: null, active: null, responses: null, servers: null },
  },
  watcher: null,
  problems: null,
};

test('the dashboard renders down servers, null fields and markup as text; shows a lost connection and recovers', async (t) => {
  const { fm, page, errors, url } = await setup(t);
  let answer = 'fake';
  await page.route('**/status', (route) => {
    if (answer === 'fake') return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(FAKE) });
    if (answer === 'refuse') return route.abort('connectionrefused');
    return route.continue();
  });
  await page.goto(url);

  await waitText(page, serverCell('app', 'app1', 'state'), 'down');
  t.regex(await page.getAttribute(serverCell('app', 'app1', 'state'), 'class'), /\bstate-down\b/);
  t.regex(await page.getAttribute('#backends tr[data-key="server:app/app1"]', 'class'), /\bdown\b/);
  t.is(await page.textContent(serverCell('app', 'app2', 'state')), 'down');
  t.is(await page.textContent(serverCell('app', 'app2', 'weight')), '—');
  t.is(await page.textContent('#backends tr[data-key="backend:app"] .c-state'), 'NO SERVER UP');
  t.is(await page.textContent('#backends tr[data-key="backend:other"] .c-state'), 'fixed response');
  t.is(await page.textContent(flagCell('MAINT', 'note')), FAKE.flags.MAINT.note);
  t.is(await page.textContent(flagCell('GHOST', 'value')), 'unset');
  t.is(await page.textContent(flagCell('GHOST', 'problem')), 'not a base-10 integer');
  t.is(await page.textContent('#frontends tr[data-key="frontend:web"] .c-requests'), '—');
  t.regex(await page.textContent('#reload'), /^FAILED: flagman\.yaml:7:3: unknown key "lisen"/);
  t.regex(await page.getAttribute('#reload', 'class'), /\bbad\b/);
  const problems = await page.$$eval('#problems li', (items) => items.map((li) => li.textContent));
  t.deepEqual(problems, [
    'last reload failed: flagman.yaml:7:3: unknown key "lisen"',
    'flag GHOST: not a base-10 integer',
    'server app/app1 is down',
    'server app/app2 is down',
  ]);
  t.is(await page.evaluate(() => document.querySelectorAll('main img, main b').length), 0, 'a note is text, never markup');
  t.is(await page.evaluate(() => window.flagmanInjected), undefined);
  t.deepEqual(errors, [], 'null fields render without an error');

  answer = 'refuse';
  await page.waitForFunction(() => /^CONNECTION LOST/.test(document.querySelector('#conn').textContent), null, { timeout: 5000 });
  t.true(await page.evaluate(() => document.body.classList.contains('stale')));
  t.regex(await page.title(), /^\[lost\]/);

  answer = 'real';
  await waitText(page, '#pid', String(fm.proc.pid));
  await waitText(page, serverCell('app', 'app1', 'state'), 'up');
  t.regex(await page.textContent('#conn'), /^live/);
  t.false(await page.evaluate(() => document.body.classList.contains('stale')));
  t.is(await page.$$eval('#problems li', (items) => items.length), 0);
  // The refused fetches are the only errors: the browser logs each failed request.
  t.deepEqual(
    errors.filter((e) => !/^console: Failed to load resource: net::ERR_CONNECTION_REFUSED/.test(e)),
    [],
  );
});

const LIMITS = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    maxconn: 100
    maxBody: 1KiB
    rules:
      - use: app
        limit: { rate: 1, burst: 0 }
  lb:
    listen: ["127.0.0.1:0"]
    acceptProxy: true
    rules:
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app1}}", maxconn: 3 }
`;

test("the dashboard shows the limits: a frontend's maxconn and connections, its 413 and 429 refusals, the connections closed without a PROXY header, a server's maxconn and its backend's queue", async (t) => {
  const app1 = await upstream(t, 'app1');
  const fm = await startFlagman(t, LIMITS, { vars: { app1: app1.port } });
  const { page, errors } = await watchedPage(t, browser);
  await page.goto(`http://127.0.0.1:${fm.adminPort}/`);
  const fe = (col) => `#frontends tr[data-key="frontend:web"] .c-${col}`;
  await waitText(page, fe('maxconn'), '100');
  await waitText(page, serverCell('app', 'app1', 'maxconn'), '3');
  await waitText(page, '#backends tr[data-key="backend:app"] .c-queue', '0');

  t.is((await request(fm.port, { method: 'POST', body: 'x'.repeat(2048) })).status, 413);
  // One token a second, none to spare: requests one after the other meet a 429 within a second
  // (a loaded machine may let a token come back between two of them, hence the loop).
  const statuses = [];
  while (statuses.length < 20 && !statuses.includes(429)) statuses.push((await request(fm.port)).status);
  t.is(statuses.at(-1), 429, statuses.join(' '));
  await waitText(page, fe('413'), '1');
  await waitText(page, fe('429'), '1');
  t.regex(await page.getAttribute(fe('429'), 'class'), /\bwarn\b/);
  t.is(await page.textContent(fe('waiting')), '0');

  // A connection to the acceptProxy frontend that starts without a PROXY header: closed, and counted
  // in a column shown because that frontend has acceptProxy, blank on the one without.
  await new Promise((resolve) => {
    const socket = net.connect(fm.ports[1], '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    socket.on('error', () => {});
    socket.once('close', resolve);
  });
  const lb = '#frontends tr[data-key="frontend:lb"] .c-proxy';
  await waitText(page, lb, '1');
  t.regex(await page.getAttribute(lb, 'class'), /\bwarn\b/);
  t.is(await page.textContent(fe('proxy')), '');
  t.true(await page.isVisible('#frontends th.c-proxy'));
  t.deepEqual(errors, []);
});

// A backend's p50 and p99 (docs/admin.md): its requests' durations over about the last minute,
// from the difference between the /status polls the page keeps (runtime/quantile.ts does the
// estimate, for the page as for `flagman status`).
const backendCell = (backend, col) => `#backends tr[data-key="backend:${backend}"] .c-${col}`;

/** An app that answers after `?ms=N` ms (0 without). */
async function delayedApp(t) {
  return upstream(t, 'app1', (req, res) => {
    const ms = Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 0);
    req.resume();
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('app1');
    }, ms);
  });
}

// Fast requests take well under FAST even on a loaded machine (the first ones of a connection, with
// chromium and other suites beside them, took up to ~500 ms); slow ones take 3 s, so at least SLOW,
// the bound no fast one reaches. A p50 or p99 in one range or the other says which requests it saw.
// Slow ones have no upper bound: a loaded machine answered most of them after 5 s, and one past
// 10 s would read as 10 s (the +Inf bucket), which only says it was slow.
const FAST = 1000;
const SLOW = 2500;

/** A latency as the page writes it (`0.42 ms`, `375 ms`, `1.25 s`) in ms; null for `—` or anything else. */
const LATENCY = String.raw`^(\d+(?:\.\d+)?) (ms|s)$`;

/** Waits until the latency at `selector` satisfies `min` ≤ value < `max` (ms); resolves with its text. */
async function waitLatency(page, selector, min, max, timeout = scaled(10_000)) {
  try {
    const handle = await page.waitForFunction(
      ([s, re, lo, hi]) => {
        const text = document.querySelector(s)?.textContent ?? '';
        const m = new RegExp(re).exec(text);
        if (m === null) return false;
        const v = Number(m[1]) * (m[2] === 's' ? 1000 : 1);
        return v >= lo && v < hi ? text : false;
      },
      [selector, LATENCY, min, max],
      { timeout, polling: 50 },
    );
    return await handle.jsonValue();
  } catch (err) {
    const had = await page.evaluate((s) => document.querySelector(s)?.textContent ?? '(no such element)', selector);
    throw new Error(`${selector}: expected a latency in [${min}, ${max}) ms, still ${JSON.stringify(had)}`, { cause: err });
  }
}

test("the dashboard shows each backend's p50 and p99, and follows slower requests without a reload", async (t) => {
  const app1 = await delayedApp(t);
  const fm = await startFlagman(t, maintenanceConfig({ servers: { app1: '{ address: "127.0.0.1:{{app1}}" }' } }), {
    vars: { app1: app1.port },
    flags: { MAINT: '0\n' },
  });
  const { page, errors } = await watchedPage(t, browser);
  await page.goto(`http://127.0.0.1:${fm.adminPort}/`);
  await page.evaluate(() => {
    window.flagmanTestMarker = 'same page';
  });
  // No request yet: nothing to estimate.
  await waitText(page, backendCell('app', 'p50'), '—');
  await waitText(page, backendCell('app', 'p99'), '—');
  t.is(await page.textContent(serverCell('app', 'app1', 'p50')), '', 'a server line has none');

  let slowestFast = 0;
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    t.is((await request(fm.port)).status, 200);
    slowestFast = Math.max(slowestFast, performance.now() - t0);
  }
  const fast = await waitLatency(page, backendCell('app', 'p50'), 0, FAST);
  // The p99 of four requests is the slowest of them. On a loaded machine one has taken 4.9 s as the
  // client saw it (the backend runs in this test's process, beside chromium's client; CI,
  // 2026-12-08): the bound holds when they were all fast, which flagman cannot take longer than.
  const p99Bound = slowestFast < FAST / 2 ? FAST : Infinity;
  const fastP99 = await waitLatency(page, backendCell('app', 'p99'), 0, p99Bound);
  if (p99Bound === Infinity) t.log(`a fast request took ${Math.round(slowestFast)} ms here: p99 ${fastP99}`);
  t.regex(await page.getAttribute(backendCell('app', 'p50'), 'title'), /^median request duration, over the last \d+s$/);

  // Slower requests, more of them than the fast ones: the median moves up to them.
  await Promise.all(Array.from({ length: 12 }, () => request(fm.port, { path: '/?ms=3000' })));
  const slow = await waitLatency(page, backendCell('app', 'p50'), SLOW, Infinity);
  await waitLatency(page, backendCell('app', 'p99'), SLOW, Infinity);
  t.log(`p50 ${fast} → ${slow}`);
  t.is(await page.textContent(backendCell('maintenance', 'p50')), '—', 'a backend without requests');
  t.is(await page.evaluate(() => window.flagmanTestMarker), 'same page');
  t.deepEqual(errors, []);
});

test("the dashboard's p50 and p99 cover the last minute: older requests leave the window", async (t) => {
  const app1 = await delayedApp(t);
  const fm = await startFlagman(t, maintenanceConfig({ servers: { app1: '{ address: "127.0.0.1:{{app1}}" }' } }), {
    vars: { app1: app1.port },
    flags: { MAINT: '0\n' },
  });
  const { page, errors } = await watchedPage(t, browser);
  // The page's clock runs as it would, but can be moved ahead a minute at once.
  await page.clock.install();
  await page.goto(`http://127.0.0.1:${fm.adminPort}/`);
  await waitText(page, backendCell('app', 'p50'), '—');
  for (let i = 0; i < 8; i++) t.is((await request(fm.port)).status, 200);
  // A poll that saw all 8 before the jump: the last poll before it starts the window after it, for
  // a minute of the page's time, and a request that poll missed (polls go on while the requests
  // are made, and the p50 shows from the first one seen) would stay in the window all that minute.
  // A response is counted in its class when its duration is observed, so 8 2xx say all 8 are in.
  await waitText(page, '#frontends tr[data-key="frontend:web"] .c-2xx', '8');
  await waitLatency(page, backendCell('app', 'p50'), 0, FAST);
  // A minute later, with no request since, the fast ones are out of the window (since start they would still count).
  await page.clock.fastForward('01:05');
  await waitText(page, backendCell('app', 'p50'), '—', scaled(10_000));
  t.regex(await page.getAttribute(backendCell('app', 'p50'), 'title'), /over the last 1m \d+s$/);
  // Three slow ones: the window holds them alone, though the 8 fast ones still are most of the requests since start.
  await Promise.all(Array.from({ length: 3 }, () => request(fm.port, { path: '/?ms=3000' })));
  await waitLatency(page, backendCell('app', 'p50'), SLOW, Infinity);
  await waitLatency(page, backendCell('app', 'p99'), SLOW, Infinity);
  const s = await request(fm.adminPort, { path: '/status' });
  t.is(JSON.parse(s.body).backends.app.durationMs.count, 11);
  t.deepEqual(errors, []);
});
