// The README's recipes show the files the other tests run: the cron lines, the Ansible tasks, the
// timer commands and the Kubernetes volume are those of examples/ and systemd/examples/; the
// Kubernetes manifest's config and flags are ones flagman accepts, read from a ConfigMap-shaped
// directory; the throttle script's commands set the limit its config reads; and the API-limit
// recipe's body limit and rate flag do what it says.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import YAML from 'yaml';
import { adminStatus, cli, flagmanCli, request, root, sh, startFlagman, tempDir, upstream, waitFor } from '../helpers/e2e.js';
import { unitValues } from '../helpers/units.js';

const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const read = (file) => fs.readFileSync(path.join(root, file), 'utf8');

/** The text of the README section under `heading`, up to the next heading. */
function section(heading) {
  const start = readme.indexOf(`${heading}\n`);
  if (start < 0) throw new Error(`no "${heading}" in the README`);
  const rest = readme.slice(start + heading.length);
  const end = rest.search(/\n#{2,3} /);
  return end < 0 ? rest : rest.slice(0, end);
}

/** The ```lang blocks of the README section under `heading`. */
function blocks(heading, lang) {
  return [...section(heading).matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1]);
}

test('the README cron recipe is examples/cron/flagman-maintenance', (t) => {
  const file = read('examples/cron/flagman-maintenance').split('\n');
  for (const line of blocks('### A maintenance window from cron', 'cron')[0].trim().split('\n')) t.true(file.includes(line), line);
});

test('the README Ansible tasks are those of examples/ansible/rolling-deploy.yml', (t) => {
  const shown = YAML.parse(blocks('### Rolling deploy drain with Ansible', 'yaml')[1]);
  const [play] = YAML.parse(read('examples/ansible/rolling-deploy.yml'));
  t.deepEqual(
    shown.map((task) => task.name),
    play.tasks.map((task) => task.name),
  );
  for (const [i, task] of shown.entries()) t.like(play.tasks[i], task, task.name);
});

test('the README timer recipe runs the ExecStart lines of systemd/examples/', (t) => {
  const text = section('### A nightly maintenance window with systemd timers');
  for (const unit of ['flagman-maint-on.service', 'flagman-maint-off.service']) {
    const [command] = unitValues(`systemd/examples/${unit}`, 'ExecStart');
    t.true(text.includes(command.replace('/usr/local/bin/', '')), `${unit}: ${command}`);
  }
});

test('the README Kubernetes volume is the manifest’s, whose config and flags flagman accepts from a ConfigMap-shaped directory', async (t) => {
  const docs = YAML.parseAllDocuments(read('examples/kubernetes/flagman.yaml')).map((d) => d.toJS());
  const byName = (kind, name) => docs.find((d) => d.kind === kind && d.metadata.name === name);
  const pod = byName('Deployment', 'flagman').spec.template.spec;
  const shown = YAML.parse(blocks('### Kubernetes: a ConfigMap as the flags directory', 'yaml')[0]);
  t.like(
    pod.volumes.find((v) => v.name === 'flags'),
    shown.volumes[0],
  );
  t.like(
    pod.containers[0].volumeMounts.find((m) => m.name === 'flags'),
    shown.containers[0].volumeMounts[0],
  );

  // The volume as the kubelet writes it: each key a symlink into ..data, itself a symlink to a
  // timestamped directory.
  const dir = tempDir(t);
  const flags = path.join(dir, 'flags');
  const data = path.join(flags, '..2026_01_01_00_00_00.000000001');
  fs.mkdirSync(data, { recursive: true });
  fs.symlinkSync(path.basename(data), path.join(flags, '..data'));
  for (const [name, value] of Object.entries(byName('ConfigMap', 'flagman-flags').data)) {
    fs.writeFileSync(path.join(data, name), value);
    fs.symlinkSync(`..data/${name}`, path.join(flags, name));
  }
  const mount = pod.containers[0].volumeMounts.find((m) => m.name === 'flags').mountPath;
  const config = byName('ConfigMap', 'flagman-config').data['flagman.yaml'].replace(`dir: ${mount}`, `dir: ${flags}`);
  fs.writeFileSync(path.join(dir, 'flagman.yaml'), config);
  const check = await flagmanCli(['check', '-c', path.join(dir, 'flagman.yaml')]);
  t.is(check.exitCode, 0, check.stderr);
  t.is(check.stderr, '', 'no flag problem');
  const list = await flagmanCli(['list', '-c', path.join(dir, 'flagman.yaml')]);
  t.regex(list.stdout, /MAINT\s+0/);
  t.regex(list.stdout, /app2\.weight\s+1/);
});

test('the README throttle recipe: its backend loads, and the script’s set and unset move app1’s maxconn', async (t) => {
  const heading = '### Throttle a struggling server from a script';
  const backends = YAML.parse(blocks(heading, 'yaml')[0]).backends;
  const app1 = await upstream(t, 'app1');
  const app2 = await upstream(t, 'app2');
  backends.app.servers.app1.address = `127.0.0.1:${app1.port}`;
  backends.app.servers.app2.address = `127.0.0.1:${app2.port}`;
  const config = YAML.stringify({
    flags: { dir: './flags' },
    admin: { listen: '127.0.0.1:0' },
    frontends: { web: { listen: ['127.0.0.1:0'], rules: [{ use: 'app' }] } },
    backends,
  });
  const fm = await startFlagman(t, config);
  const maxconn = async () => (await adminStatus(fm)).backends.app.servers.app1.maxconn;
  t.is(await maxconn(), 0, 'no flag: no limit');
  t.is((await adminStatus(fm)).backends.app.queue.timeoutMs, 10_000);
  // The script's two commands, as cron would run them, on this instance's flags directory.
  const script = blocks(heading, 'sh')[0];
  const command = (verb) =>
    script
      .split('\n')
      .find((l) => l.trim().startsWith(`flagman ${verb} `))
      .trim()
      .replace(/^flagman/, `"${process.execPath}" "${cli}"`)
      .replace('/etc/flagman/flags', fm.flagsDir);
  let from = fm.events.length;
  await sh(`load=9; ${command('set')}`, fm.dir);
  await fm.waitFlag('app1.maxconn', 20, { from });
  t.is(await maxconn(), 20);
  from = fm.events.length;
  await sh(command('unset'), fm.dir);
  await fm.waitFlag('app1.maxconn', null, { from });
  t.is(await maxconn(), 0);
});

test("the README API-limit recipe: its frontend loads; a body over the rule's 1 MiB gets 413, and echo/rm move the rate", async (t) => {
  const heading = '### Limit an API: body size and request rate';
  const frontends = YAML.parse(blocks(heading, 'yaml')[0]).frontends;
  const app = await upstream(t, 'app');
  frontends.web.listen = ['127.0.0.1:0'];
  const backends = {
    api: { servers: { a: { address: `127.0.0.1:${app.port}` } } },
    app: { servers: { a: { address: `127.0.0.1:${app.port}` } } },
  };
  const config = YAML.stringify({ flags: { dir: './flags' }, admin: { listen: '127.0.0.1:0' }, frontends, backends });
  const fm = await startFlagman(t, config);
  const rate = async () => (await adminStatus(fm)).frontends.web.rules.find((r) => r.limit)?.limit.rate;
  t.is(await rate(), 100, 'no flag: the default rate');
  const big = await request(fm.port, {
    method: 'POST',
    path: '/api/upload',
    headers: { 'content-length': String(2 << 20) },
    body: Buffer.alloc(2 << 20),
  });
  t.is(big.status, 413);
  t.is(app.seen.length, 0, 'the server saw none of it');
  // The recipe's two commands, on this instance's flags directory.
  const [set, unset] = blocks(heading, 'sh')[0]
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.replace(/#.*/, '').trim().replace('/etc/flagman/flags', fm.flagsDir));
  let from = fm.events.length;
  await sh(set, fm.dir);
  await fm.waitFlag('API_RATE', 20, { from });
  t.is(await rate(), 20);
  from = fm.events.length;
  await sh(unset, fm.dir);
  await fm.waitFlag('API_RATE', null, { from });
  t.is(await rate(), 100);
});

test('the README latency recipe: its jq command picks the slow requests from an access log, with their timers', async (t) => {
  const heading = '### Which is slow: the servers, the queue or the clients';
  // A server that takes 600 ms to answer /slow, and answers anything else at once.
  const app = await upstream(t, 'app', (req, res) => {
    req.resume();
    setTimeout(() => res.end('app'), req.url === '/slow' ? 600 : 0);
  });
  const file = path.join(tempDir(t), 'access.log');
  const config = `flags: { dir: ./flags }\nadmin: { listen: "127.0.0.1:0" }\nfrontends:\n  web:\n    listen: ["127.0.0.1:0"]\n    rules: [{ use: app }]\nbackends:\n  app:\n    servers: { app1: { address: "127.0.0.1:${app.port}" } }\n`;
  const fm = await startFlagman(t, config, { stdoutFile: file });
  for (const p of ['/fast', '/slow', '/fast']) t.is((await request(fm.port, { path: p })).status, 200);
  const lines = () => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  await waitFor(() => lines().length >= 3, { what: 'three access lines' });
  const command = blocks(heading, 'sh')[0].trim().replace('/var/log/flagman/access.log', file);
  const picked = (await sh(command, fm.dir)).stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.is(picked.length, 1);
  t.like(picked[0], { path: '/slow', server: 'app1', connectMs: 0 });
  t.true(picked[0].ttfbMs >= 590 && picked[0].ttfbMs <= picked[0].ms, `ttfbMs ${picked[0].ttfbMs}, ms ${picked[0].ms}`);
  t.is(picked[0].queueMs, null, 'nothing waited: the line has no queueMs');
  // The PromQL names a histogram /metrics serves.
  const metric = /\((flagman_\w+)_bucket\[/.exec(blocks(heading, 'promql')[0])[1];
  const metrics = (await request(fm.adminPort, { path: '/metrics' })).body;
  t.true(metrics.includes(`${metric}_bucket{backend="app",le="+Inf"} 3`), `${metric} with the three requests in /metrics`);
});
