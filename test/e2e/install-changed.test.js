// An upgrade in place: the package's files replaced under a running flagman (README, "Install").
// The process goes on serving with what it loaded at start; a part it loads on first use (the
// /metrics registry, TLS, the exec checks' runner) whose file is gone is refused with an INSTALL
// error naming it — a 500 for the scrape, a failed reload that keeps the old config — and works
// once the files are back. The package's layout is copied to a directory of the test's own
// (bin/flagman, dist/bundle/), run from there, and its chunks removed after the start.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { testCA } from '../helpers/certs.js';
import { adminStatus, packageCopy, request, saveConfig, startFlagman, tempDir, upstream } from '../helpers/e2e.js';

function config({ tls = false, exec = false } = {}) {
  return `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web: { listen: ["127.0.0.1:0"], rules: [{ use: app }] }
${tls ? '  secure: { listen: ["127.0.0.1:0"], tls: { cert: ./site.crt, key: ./site.key }, rules: [{ use: app }] }\n' : ''}backends:
  app:
${exec ? '    health: { type: exec, command: ./check.sh, interval: 1s, timeout: 1s }\n' : ''}    servers:
      app1: { address: "127.0.0.1:{{app}}" }
`;
}

test('after an upgrade in place, what a running flagman loads on first use is refused with INSTALL, it goes on serving, and the files back make it work', async (t) => {
  if (process.env.FLAGMAN_BIN) return t.pass('a single executable reads no file of its own after it starts');
  const home = packageCopy(t, 'flagman-home-');
  const bundle = path.join(home, 'dist/bundle');

  const dir = tempDir(t);
  const ca = await testCA(dir);
  const site = await ca.leaf('site', ['localhost', '127.0.0.1']);
  fs.renameSync(site.cert, path.join(dir, 'site.crt'));
  fs.renameSync(site.key, path.join(dir, 'site.key'));
  fs.writeFileSync(path.join(dir, 'check.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const app = await upstream(t, 'app');
  const vars = { app: app.port };
  const fm = await startFlagman(t, config(), { dir, vars, installed: path.join(home, 'bin/flagman') });

  // The upgrade: the chunks this version was built with are gone (a new version's have other names).
  const chunks = fs.readdirSync(bundle).filter((f) => f.startsWith('chunk-'));
  t.true(chunks.length > 0, 'the bundle has chunks');
  const aside = path.join(home, 'aside');
  fs.mkdirSync(aside);
  for (const f of chunks) fs.renameSync(path.join(bundle, f), path.join(aside, f));

  const metrics = await request(fm.adminPort, { path: '/metrics' });
  t.is(metrics.status, 500, metrics.body);
  t.regex(metrics.body, /^metrics failed: INSTALL: the \/metrics registry cannot be loaded: .*restart flagman.* \(\/.*chunk-\w+\.js\)\n$/);

  // Saved by rename: flagman's watch of the file reloads once.
  const reload = async (text) => {
    const from = fm.events.length;
    saveConfig(fm, text.replace('{{app}}', String(app.port)));
    return fm.waitEvent((e) => e.event === 'reload' || e.event === 'reload.failed', { from, timeout: 10_000 });
  };
  for (const [what, text] of [
    ['a first TLS frontend', config({ tls: true })],
    ['a first exec health check', config({ exec: true })],
  ]) {
    const e = await reload(text);
    t.is(e.event, 'reload.failed', `${what}: ${JSON.stringify(e)}`);
    t.deepEqual(e.codes, ['INSTALL'], what);
    t.regex(e.error, /chunk-\w+\.js: .* cannot be loaded: flagman's files changed on disk since this process started/, what);
  }
  const status = await adminStatus(fm);
  t.is(status.config.generation, 1, 'the first config still serves');
  t.is((await request(fm.port)).body, 'app', 'and proxies');

  // The files back (a restart would run the new ones): the same changes load.
  for (const f of chunks) fs.renameSync(path.join(aside, f), path.join(bundle, f));
  t.is((await request(fm.adminPort, { path: '/metrics' })).status, 200, 'the next scrape tries again');
  const ok = await reload(config({ tls: true, exec: true }));
  t.is(ok.event, 'reload', JSON.stringify(ok));
  const up = await fm.waitEvent((e) => e.event === 'listen' && e.frontend === 'secure');
  t.truthy(up.port);
});
