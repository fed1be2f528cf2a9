// The writers of docs/design/watching.md steering a real proxy: echo, touch, rm, mv, flagman set, an invalid value, and
// the admin bypasses of the README's maintenance rule (client address and bypass cookie).
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { flagmanCli, request, root, sh, startFlagman, upstream } from '../helpers/e2e.js';

// The condition of the README recipe "Maintenance with an admin bypass", as written but for its
// office network: 127.0.0.4/30 here, so a client bound to 127.0.0.5 is inside it, 127.0.0.1 is not.
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const recipe = readme.slice(readme.indexOf('### Maintenance with an admin bypass\n'));
const WHEN = /^ {6}- when: (.*)$/m.exec(recipe)[1];
const TOKEN = /cookie\("flagman_bypass"\) != "([^"]+)"/.exec(WHEN)?.[1] ?? '';

const CONFIG = `
flags:
  dir: ./flags
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: ${WHEN.replace('cidr("10.0.0.0/8")', 'cidr("127.0.0.4/30")')}
        use: maintenance
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
  maintenance:
    respond:
      status: 503
      body: "down for maintenance\\n"
      headers: { Retry-After: "120" }
`;

async function setup(t, flags = { MAINT: '0\n' }) {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port }, flags });
  return { app, fm };
}

async function expectApp(t, fm, opts) {
  const r = await request(fm.port, opts);
  t.is(r.status, 200);
  t.is(r.body, 'app');
}

async function expectMaint(t, fm, opts) {
  const r = await request(fm.port, opts);
  t.is(r.status, 503);
  t.is(r.body, 'down for maintenance\n');
  t.is(r.headers['retry-after'], '120');
}

test('echo 1 > flags/MAINT switches to maintenance; echo 0 > switches back', async (t) => {
  const { fm } = await setup(t);
  await expectApp(t, fm);
  let from = fm.events.length;
  await sh('echo 1 > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 1, { from });
  await expectMaint(t, fm);
  from = fm.events.length;
  await sh('echo 0 > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 0, { from });
  await expectApp(t, fm);
});

test('touch on a missing flag sets it to 1; rm clears it', async (t) => {
  const { fm } = await setup(t, {});
  await expectApp(t, fm);
  let from = fm.events.length;
  await sh('touch flags/MAINT', fm.dir);
  const on = await fm.waitFlag('MAINT', 1, { from });
  t.is(on.old, null);
  await expectMaint(t, fm);
  from = fm.events.length;
  await sh('rm flags/MAINT', fm.dir);
  const off = await fm.waitFlag('MAINT', null, { from });
  t.is(off.old, 1);
  await expectApp(t, fm);
});

test('mv of a temp file over the flag applies (Ansible, Chef, consul-template)', async (t) => {
  const { fm } = await setup(t);
  const from = fm.events.length;
  await sh('printf "1 # deploy\\n" > flags/.MAINT.tmp && mv flags/.MAINT.tmp flags/MAINT', fm.dir);
  const e = await fm.waitFlag('MAINT', 1, { from });
  t.is(e.note, 'deploy');
  await expectMaint(t, fm);
});

test('flagman set applies, with a note; flagman unset clears', async (t) => {
  const { fm } = await setup(t);
  let from = fm.events.length;
  const set = await flagmanCli(['set', 'MAINT', '--note', 'db migration', '-c', fm.configFile]);
  t.is(set.exitCode, 0, set.stderr);
  const e = await fm.waitFlag('MAINT', 1, { from });
  t.is(e.note, 'db migration');
  await expectMaint(t, fm);
  t.is(fs.readdirSync(fm.flagsDir).join(','), 'MAINT', 'no temp file left behind');
  from = fm.events.length;
  const unset = await flagmanCli(['unset', 'MAINT', '-d', fm.flagsDir]);
  t.is(unset.exitCode, 0, unset.stderr);
  await fm.waitFlag('MAINT', null, { from });
  await expectApp(t, fm);
});

test('during maintenance, the admin network and the bypass token still reach the app; a guessable header or cookie does not', async (t) => {
  t.regex(TOKEN, /^[0-9a-f]{32,}$/, 'the recipe bypasses on a long random token');
  t.true(WHEN.includes('cidr("10.0.0.0/8")'), 'the recipe bypasses the office network');
  const { fm } = await setup(t, { MAINT: '1\n' });
  await expectMaint(t, fm);
  await expectApp(t, fm, { headers: { cookie: `flagman_bypass=${TOKEN}` } });
  await expectMaint(t, fm, { headers: { cookie: `flagman_bypass=${TOKEN.slice(1)}` } });
  await expectMaint(t, fm, { headers: { cookie: 'flagman_bypass=yes' } });
  await expectMaint(t, fm, { headers: { 'X-Admin': 'yes' } });
  const fromOffice = await new Promise((resolve, reject) => {
    // A client bound to another loopback address stands in for a client on the admin network.
    import('node:http').then(({ default: http }) => {
      const req = http.get({ host: '127.0.0.1', port: fm.port, path: '/', localAddress: '127.0.0.5', agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
      req.on('error', reject);
    });
  });
  t.deepEqual(fromOffice, { status: 200, body: 'app' });
});

test('an invalid value keeps the last good one, is reported, and the proxy keeps serving', async (t) => {
  const { fm } = await setup(t, { MAINT: '1\n' });
  await expectMaint(t, fm);
  const from = fm.events.length;
  await sh('echo abc > flags/MAINT', fm.dir);
  const problem = await fm.waitEvent((e) => e.event === 'flag.problem' && e.flag === 'MAINT', { from });
  t.false(JSON.stringify(problem).includes('abc'), 'content of an invalid file is never logged');
  await expectMaint(t, fm);
  const list = await flagmanCli(['list', '-d', fm.flagsDir]);
  t.is(list.exitCode, 0);
  t.regex(list.stdout, /^MAINT\s+unset\s+\S+/m, 'the problem is listed');
  t.false(list.stdout.includes('abc'));
  const get = await flagmanCli(['get', 'MAINT', '-d', fm.flagsDir]);
  t.is(get.stdout.trim(), 'unset', 'a CLI read starts from nothing, so the invalid file is unset for it');
  t.truthy(get.stderr.includes('MAINT'));
  t.false(get.stderr.includes('abc'));
  // The next good write applies.
  const from2 = fm.events.length;
  await sh('echo 0 > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 0, { from: from2 });
  await expectApp(t, fm);
});
