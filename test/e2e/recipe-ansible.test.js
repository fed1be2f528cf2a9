// The Ansible rolling-deploy recipe, run for real: examples/ansible/rolling-deploy.yml against
// localhost with a local connection drains a server of a running flagman under load, waits for its
// in-flight requests through /status, deploys (the app stops passing its health checks for a
// while), waits for the checks to pass again, and undrains — and /status shows the traffic move
// away and come back. Needs Debian's ansible-core (npm test installs it, scripts/test-tools.js).
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import YAML from 'yaml';
import { adminStatus, keepAliveLoad, request, root, startFlagman, tempDir, upstream } from '../helpers/e2e.js';
import { scaled } from '../helpers/slow.js';

const CONFIG = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
log: { access: off }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - use: app
backends:
  app:
    health: { path: /healthz, interval: 100ms, timeout: 2s, rise: 1, fall: 2 }
    servers:
      app1: { address: "127.0.0.1:{{app1}}", weight: 'flag("app1.weight", 1)' }
      app2: { address: "127.0.0.1:{{app2}}", weight: 'flag("app2.weight", 1)' }
`;

/**
 * An app2 that holds each request for /long until `release()`: one is in flight on app2 when the
 * playbook drains it, and stays until the test sees the playbook wait for it. `/restart` (what the
 * deploy calls) makes its health checks fail until `started()`, as an app that is being restarted.
 */
async function appWithLongRequests(t) {
  const held = [];
  let healthy = true;
  const app = await upstream(t, 'app2', (req, res) => {
    req.resume();
    if (req.url === '/healthz') return void res.writeHead(healthy ? 200 : 503).end();
    if (req.url === '/restart') {
      healthy = false;
      return void res.end('restarting');
    }
    if (req.url !== '/long') return void res.end('app2');
    held.push(() => res.end('app2 long'));
    app.server.emit('held');
  });
  app.release = () => {
    for (const answer of held.splice(0)) answer();
  };
  app.started = () => {
    healthy = true;
  };
  t.teardown(app.release);
  return app;
}

/** Sends /long requests until one is held by app2 (round-robin gives the others to app1); resolves with `{response}`, a promise. */
async function longRequestOnApp2(port, app2) {
  for (;;) {
    const held = new Promise((resolve) => app2.server.once('held', resolve));
    const response = request(port, { path: '/long' });
    const landed = await Promise.race([response.then(() => false), held.then(() => true)]);
    if (landed) return { response };
  }
}

/** Polls /status until stopped, keeping app2's {weight, state, active, requests} and app1's requests. */
function sampleStatus(fm) {
  const samples = [];
  let stopping = false;
  const done = (async () => {
    while (!stopping) {
      const s = await adminStatus(fm);
      const { app1, app2 } = s.backends.app.servers;
      samples.push({ ...app2, app1Requests: app1.requests });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    samples,
    stop() {
      stopping = true;
      return done;
    },
  };
}

test('the rolling-deploy playbook writes the flags directory with become', (t) => {
  const [play] = YAML.parse(fs.readFileSync(path.join(root, 'examples/ansible/rolling-deploy.yml'), 'utf8'));
  const writers = play.tasks.filter((task) => JSON.stringify(task).includes('{{ flagman_flags }}'));
  t.deepEqual(
    writers.map((task) => task.name),
    ['Drain {{ flagman_server }}', 'Undrain {{ flagman_server }}'],
  );
  // /etc/flagman/flags is root:flagman 0750: only root writes there.
  for (const task of writers) t.is(task.become, true, task.name);
});

test('the rolling-deploy playbook drains app2, waits for it to be idle, deploys, waits for its checks to pass, and brings it back', async (t) => {
  t.timeout(scaled(150_000));
  const which = await execa('sh', ['-c', 'command -v ansible-playbook'], { reject: false });
  if (which.exitCode !== 0) {
    t.fail('ansible-playbook is not installed: apt-get install --no-install-recommends ansible-core (npm test does, as root)');
    return;
  }
  const app1 = await upstream(t, 'app1');
  const app2 = await appWithLongRequests(t);
  const fm = await startFlagman(t, CONFIG, { vars: { app1: app1.port, app2: app2.port } });
  const work = tempDir(t, 'flagman-ansible-');
  // Two clients, each a request every 5 ms or so: traffic on both servers throughout, at the CPU
  // cost of a few hundred requests a second rather than as many as the machine can serve.
  const loads = [keepAliveLoad(fm.port, { gapMs: 5 }), keepAliveLoad(fm.port, { gapMs: 5 })];
  t.teardown(() => Promise.all(loads.map((l) => l.stop())));
  const long = await longRequestOnApp2(fm.port, app2);
  long.response.catch(() => {}); // awaited below; a failure before that must not also be an unhandled rejection
  const sampler = sampleStatus(fm);
  t.teardown(() => sampler.stop().catch(() => {}));
  const admin = `http://127.0.0.1:${fm.adminPort}`;

  // The deploy step records what flagman said as it began, then restarts app2: its checks fail
  // until the test starts it again. It returns once flagman has seen app2 down, as a real restart
  // that takes a while.
  const during = path.join(work, 'status-during-deploy.json');
  const script = path.join(work, 'deploy.mjs');
  fs.writeFileSync(
    script,
    `import fs from 'node:fs';
const status = () => fetch('${admin}/status').then((r) => r.json());
fs.writeFileSync('${during}', JSON.stringify(await status()));
await fetch('http://127.0.0.1:${app2.port}/restart').then((r) => r.text());
while ((await status()).backends.app.servers.app2.state !== 'down') await new Promise((resolve) => setTimeout(resolve, 20));
`,
  );
  const deploy = `${process.execPath} ${script}`;
  const extra = {
    app_hosts: 'localhost',
    flagman_host: 'localhost',
    flagman_flags: fm.flagsDir,
    flagman_admin: admin,
    flagman_backend: 'app',
    flagman_server: 'app2',
    deploy_command: deploy,
    ansible_python_interpreter: '/usr/bin/python3',
    // As root (as in CI), `become` to root is skipped by Ansible, so no sudo is needed. Another user
    // owns the temp flags directory and needs no become (nor has a password to give sudo).
    ...(process.getuid() === 0 ? {} : { ansible_become: false }),
  };
  const playbook = execa(
    'ansible-playbook',
    ['-i', 'localhost,', '-c', 'local', '-e', JSON.stringify(extra), path.join(root, 'examples/ansible/rolling-deploy.yml')],
    {
      reject: false,
      all: true,
      env: {
        ANSIBLE_HOME: work,
        ANSIBLE_LOCAL_TEMP: path.join(work, 'tmp'),
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_RETRY_FILES_ENABLED: '0',
        PYTHONUNBUFFERED: '1',
      },
    },
  );
  // The long request ends once the playbook has found it in flight and is waiting: retrying its
  // `until`. Were the playbook not to wait, its deploy step would see it still active.
  // Likewise app2 passes its checks again once the playbook is waiting for that; the flag must still
  // be there then.
  const flag = path.join(fm.flagsDir, 'app2.weight');
  let waited = false;
  let waitedForChecks = false;
  let drainedWhenStarted = null;
  playbook.all.on('data', (chunk) => {
    if (!waited && /FAILED - RETRYING: .*Wait until no request is in flight/.test(String(chunk))) {
      waited = true;
      app2.release();
    }
    if (!waitedForChecks && /FAILED - RETRYING: .*Wait until app2 passes its health checks/.test(String(chunk))) {
      waitedForChecks = true;
      drainedWhenStarted = fs.existsSync(flag);
      app2.started();
    }
  });
  const r = await playbook;
  app2.release();
  app2.started();
  t.is(r.exitCode, 0, r.all);
  t.true(waited, 'the playbook waited for the request in flight on app2');
  t.true(waitedForChecks, 'the playbook waited for app2 to pass its health checks after the deploy');
  t.true(drainedWhenStarted, 'app2 was still drained when it passed its checks again');
  t.is((await long.response).body, 'app2 long', 'the request in flight on app2 when it was drained completed');

  // Back at its default weight, app2 takes new requests again.
  const drained = JSON.parse(fs.readFileSync(during, 'utf8')).backends.app.servers.app2;
  const back = async () => {
    for (;;) {
      const s = (await adminStatus(fm)).backends.app.servers.app2;
      if (s.requests > drained.requests) return s;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const after = await back();
  await sampler.stop();
  const results = await Promise.all(loads.map((l) => l.stop()));

  t.like(drained, { weight: 0, state: 'drain', active: 0 }, 'the deploy ran once no request was in flight on app2');
  const drainSamples = sampler.samples.filter((s) => s.weight === 0);
  t.true(drainSamples.length > 0, 'the drain was observed');
  t.deepEqual(new Set(drainSamples.map((s) => s.requests)), new Set([drained.requests]), 'app2 received no new request while drained');
  t.true(drainSamples.at(-1).app1Requests > drainSamples[0].app1Requests, 'app1 took the traffic meanwhile');
  t.true(
    sampler.samples.some((s) => s.state === 'down'),
    'app2 was seen down while it restarted',
  );
  t.deepEqual(
    sampler.samples.filter((s) => s.state === 'down' && s.weight !== 0),
    [],
    'app2 got its weight back only once it passed its checks',
  );
  t.like(after, { weight: 1, state: 'up' });
  t.deepEqual(
    results.flatMap((l) => l.errors),
    [],
  );
  t.deepEqual(Object.keys(Object.assign({}, ...results.map((l) => l.labels))), ['200']);
  t.false(
    fs.readdirSync(fm.flagsDir).some((f) => f.startsWith('app2.weight') || f.startsWith('.')),
    'the flag is gone, and Ansible left no temp file in the flags directory',
  );
});
