// When inotify cannot be used (its watch limit reached), flagman falls back to polling by itself,
// says so, and flags still steer traffic.
import path from 'node:path';
import test from 'ava';
import { request, root, sh, startFlagman, upstream } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';

const CONFIG = maintenanceConfig({ rescan: '10s' });

test('with inotify exhausted (ENOSPC), flagman polls, reports it, and flag changes still apply', async (t) => {
  const app = await upstream(t, 'app');
  const preload = path.join(root, 'test/fixtures/no-inotify.mjs');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port }, flags: { MAINT: '0\n' }, env: { NODE_OPTIONS: `--import=${preload}` } });
  const warned = await fm.waitEvent((e) => e.event === 'flags.watcher' && /ENOSPC/.test(e.problem));
  t.regex(warned.problem, /polling/);
  const status = JSON.parse((await request(fm.adminPort, { path: '/status' })).body);
  t.is(status.watcher.mode, 'polling');
  t.regex(status.watcher.problem, /ENOSPC/);

  // rescan is 10 s: only the polling watcher can apply these within waitFlag's 5 s.
  let from = fm.events.length;
  await sh('echo 1 > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 1, { from });
  t.is((await request(fm.port)).status, 503);
  from = fm.events.length;
  await sh('echo 0 > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 0, { from });
  t.is((await request(fm.port)).body, 'app');
});
