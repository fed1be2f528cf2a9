// When inotify cannot be used (its watch limit reached), flagman falls back to polling by itself,
// says so, and flags still steer traffic; when the cause was a passing shortage of descriptors, it
// goes back to events by itself.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { adminStatus, request, root, sh, startFlagman, tempDir, timedFlagWrite, upstream, waitFor, watchProbe } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';

const CONFIG = maintenanceConfig({ rescan: '10s' });

test('with inotify exhausted (ENOSPC), flagman polls, reports it, and flag changes still apply', async (t) => {
  const app = await upstream(t, 'app');
  const preload = path.join(root, 'test/fixtures/no-inotify.mjs');
  const fm = await startFlagman(t, CONFIG, {
    vars: { app: app.port },
    flags: { MAINT: '0\n' },
    env: { NODE_OPTIONS: `--import=${preload}` },
  });
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

test('polling forced by EMFILE goes back to events once watches open again, says so, and flag writes apply by events', async (t) => {
  const app = await upstream(t, 'app');
  // While this file exists every fs.watch in flagman fails with EMFILE.
  const marker = path.join(tempDir(t), 'no-watch');
  fs.writeFileSync(marker, '');
  const probe = watchProbe(t, { noWatch: marker });
  const fm = await startFlagman(t, maintenanceConfig({ rescan: '30s' }), {
    vars: { app: app.port },
    flags: { MAINT: '0\n' },
    env: probe.env,
  });
  await fm.waitEvent((e) => e.event === 'flags.watcher' && /EMFILE/.test(e.problem));
  t.is((await adminStatus(fm)).watcher.mode, 'polling');
  const maint = path.join(fm.flagsDir, 'MAINT');
  await waitFor(() => probe.polled().includes(maint), { what: 'MAINT polled' });

  const from = fm.events.length;
  fs.rmSync(marker);
  const back = await fm.waitEvent((e) => e.event === 'flags.watcher' && e.problem === null, { from, timeout: 10_000 });
  t.is(back.mode, 'events');
  const status = await adminStatus(fm);
  t.is(status.watcher.mode, 'events');
  t.is(status.watcher.problem, null);
  // Nothing is polled any more once the watches are re-armed ...
  await waitFor(() => probe.polled().length === 0, { timeout: 10_000, what: `polling stopped (polled: ${probe.polled().join(', ')})` });
  // ... and with rescan at 30 s, only events can apply these writes within waitFlag's 5 s.
  const ms = [];
  for (const value of [1, 0, 1]) ms.push(await timedFlagWrite(fm, 'MAINT', value));
  t.log('write → applied, ms:', ms);
  t.is((await request(fm.port)).status, 503);
});
