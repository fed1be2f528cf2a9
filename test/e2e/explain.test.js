// `flagman explain` (docs/cli.md) and the admin `/explain` (docs/admin.md): which rule matches now, the backend,
// and the flag values that decided it — from the same functions routing is built from.
import test from 'ava';
import { flagmanCli, request, sh, startFlagman, upstream } from '../helpers/e2e.js';

const CONFIG = `
flags: { dir: ./flags, rescan: 500ms }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: 'flag("MAINT") > 0 && !cidr("10.0.0.0/8").containsIP(client.ip)'
        use: maintenance
      - when: request.path.startsWith("/api/")
        use: api
      - use: app
backends:
  app:
    fallback: maintenance
    servers:
      app1: { address: "127.0.0.1:{{app}}", weight: 'flag("app1.weight", 1)' }
      app2: { address: "127.0.0.1:{{app}}", weight: 'flag("app2.weight", 1)' }
  api:
    servers:
      api1: { address: "127.0.0.1:{{api}}" }
  maintenance:
    respond: { status: 503, body: "maintenance\\n" }
`;

async function live(fm, query) {
  const r = await request(fm.adminPort, { path: `/explain?${new URLSearchParams(query)}` });
  return { status: r.status, body: JSON.parse(r.body) };
}

async function cli(fm, args) {
  const r = await flagmanCli(['explain', '-c', fm.configFile, ...args, '--json']);
  if (r.exitCode !== 0) throw new Error(`explain exited ${r.exitCode}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const decision = (e) => ({ rule: e.rule, backend: e.backend, flags: e.flags, steps: e.steps.map((s) => `${s.rule}:${s.result}`) });

test('explain --path /api/x --ip 10.1.2.3 names the rule, the backend and the deciding flags; /explain agrees', async (t) => {
  const app = await upstream(t, 'app');
  const api = await upstream(t, 'api');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, api: api.port }, flags: { MAINT: '1 # db migration\n' } });

  const text = await flagmanCli(['explain', '-c', fm.configFile, '--path', '/api/x', '--ip', '10.1.2.3']);
  t.is(text.exitCode, 0, text.stderr);
  t.log(text.stdout);
  t.regex(text.stdout, /rule 1: .*no match.*MAINT=1/);
  t.regex(text.stdout, /→ rule 2: request\.path\.startsWith\("\/api\/"\) → api: match/);
  t.regex(text.stdout, /answered by backend api: api1 127\.0\.0\.1:\d+ weight 1/);
  t.regex(text.stdout, /decided by: MAINT=1/);

  const q = { path: '/api/x', ip: '10.1.2.3' };
  const fromCli = await cli(fm, ['--path', '/api/x', '--ip', '10.1.2.3']);
  const fromAdmin = await live(fm, q);
  t.is(fromAdmin.status, 200);
  t.deepEqual(decision(fromCli), { rule: 2, backend: 'api', flags: { MAINT: 1 }, steps: ['1:no match', '2:match'] });
  t.deepEqual(decision(fromAdmin.body), decision(fromCli), 'the admin /explain agrees with the CLI');

  // From outside the bypass network, maintenance; and routing agrees (the test client is 127.0.0.1).
  const outside = await cli(fm, ['--path', '/api/x', '--ip', '127.0.0.1']);
  t.deepEqual(decision(outside), { rule: 1, backend: 'maintenance', flags: { MAINT: 1 }, steps: ['1:match'] });
  t.is((await request(fm.port, { path: '/api/x' })).status, 503);
});

test('explain follows the flags: a rule turned off, weights, and the fallback when every server is drained', async (t) => {
  const app = await upstream(t, 'app');
  const api = await upstream(t, 'api');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port, api: api.port }, flags: { MAINT: '0\n' } });
  let e = await cli(fm, ['--path', '/home']);
  t.deepEqual(decision(e), {
    rule: 3,
    backend: 'app',
    flags: { MAINT: 0, 'app1.weight': null, 'app2.weight': null },
    steps: ['1:off', '2:no match', '3:match'],
  });
  t.deepEqual(
    e.servers.map((s) => `${s.name}:${s.weight}`),
    ['app1:1', 'app2:1'],
  );
  t.is((await request(fm.port, { path: '/home' })).body, 'app');

  const from = fm.events.length;
  await sh('echo 0 > flags/app1.weight; echo 0 > flags/app2.weight', fm.dir);
  await fm.waitFlag('app1.weight', 0, { from });
  await fm.waitFlag('app2.weight', 0, { from });
  e = await cli(fm, ['--path', '/home']);
  t.is(e.rule, 3);
  t.is(e.unavailable, 'app');
  t.is(e.backend, 'maintenance', 'falls back');
  const a = await live(fm, { path: '/home' });
  t.deepEqual(decision(a.body), decision(e));
  t.is((await request(fm.port, { path: '/home' })).status, 503, 'routing agrees: the fallback answers');
});

test('explain: headers and host are seen by the rules; mistakes are named', async (t) => {
  const app = await upstream(t, 'app');
  const yaml = CONFIG.replace(
    '      - use: app\n',
    '      - when: header("X-Canary") == "yes" && request.host == "shop.example"\n        use: api\n      - use: app\n',
  );
  const fm = await startFlagman(t, yaml, { vars: { app: app.port, api: app.port }, flags: { MAINT: '0\n' } });
  const e = await cli(fm, ['--header', 'X-Canary: yes', '--host', 'shop.example:8080']);
  t.is(e.rule, 3);
  t.is(e.backend, 'api');
  const a = await live(fm, { header: 'X-Canary: yes', host: 'shop.example:8080' });
  t.deepEqual(decision(a.body), decision(e));

  const bad = await flagmanCli(['explain', '-c', fm.configFile, '--frontend', 'nope']);
  t.is(bad.exitCode, 1);
  t.regex(bad.stderr, /no frontend named "nope" in .*flagman\.yaml/);
  t.is((await live(fm, { frontend: 'nope' })).status, 400);
  const usage = await flagmanCli(['explain', '-c', fm.configFile, '--header', 'novalue']);
  t.is(usage.exitCode, 2);
  t.regex(usage.stderr, /--header "novalue": expected NAME:VALUE/);
});

test('the admin /explain knows server health: every app server down → the fallback, as routing does', async (t) => {
  const api = await upstream(t, 'api');
  const gone = await upstream(t, 'gone');
  gone.server.closeAllConnections();
  await new Promise((resolve) => gone.server.close(resolve));
  const yaml = CONFIG.replace(
    '    fallback: maintenance\n',
    '    fallback: maintenance\n    health: { type: tcp, interval: 100ms, timeout: 500ms, rise: 1, fall: 1 }\n',
  );
  const fm = await startFlagman(t, yaml, { vars: { app: gone.port, api: api.port }, flags: { MAINT: '0\n' } });
  await fm.waitEvent((e) => e.event === 'server.state' && e.server === 'app1' && e.to === 'down', { timeout: 10_000 });
  await fm.waitEvent((e) => e.event === 'server.state' && e.server === 'app2' && e.to === 'down', { timeout: 10_000 });
  const a = await live(fm, { path: '/home' });
  t.is(a.body.rule, 3);
  t.is(a.body.unavailable, 'app');
  t.is(a.body.backend, 'maintenance');
  t.deepEqual(
    a.body.servers.map((s) => `${s.name}:${s.health}`),
    ['app1:down', 'app2:down'],
  );
  t.is((await request(fm.port, { path: '/home' })).status, 503, 'routing agrees: the fallback answers');
  // The CLI runs no checks: it says what the flags decide, and that health is unknown to it.
  const e = await cli(fm, ['--path', '/home']);
  t.is(e.backend, 'app');
  t.deepEqual(
    e.servers.map((s) => s.health),
    [null, null],
  );
});
