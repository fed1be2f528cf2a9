// The maintenance-window recipes as shipped: the ExecStart lines of the timer units under
// systemd/examples/ and the command lines of examples/cron/flagman-maintenance, run by hand the way
// systemd and cron would run them, switch a running flagman to maintenance and back.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { request, root, startFlagman, upstream } from '../helpers/e2e.js';
import { flagmanExecutable, localize, unitValues } from '../helpers/units.js';
import { maintenanceConfig } from '../helpers/configs.js';

const CONFIG = maintenanceConfig({ admin: false });

const FLAGS = '/etc/flagman/flags';

async function running(t) {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port } });
  t.is((await request(fm.port)).status, 200);
  return fm;
}

/** Runs `command` with sh, with flagman and the flags directory pointed at this test's. */
async function runAsInstalled(t, fm, command, env = {}) {
  const r = await execa('sh', ['-c', localize(command, flagmanExecutable(t), { [FLAGS]: fm.flagsDir })], { env, reject: false });
  t.is(r.exitCode, 0, `${command}\n${r.stderr}`);
}

test('the maintenance-window timers: their ExecStart lines, run by hand, switch maintenance on and off', async (t) => {
  const on = unitValues('systemd/examples/flagman-maint-on.service', 'ExecStart');
  const off = unitValues('systemd/examples/flagman-maint-off.service', 'ExecStart');
  t.is(on.length, 1);
  t.is(off.length, 1);
  t.deepEqual(unitValues('systemd/examples/flagman-maint-on.timer', 'OnCalendar'), ['*-*-* 02:00:00']);
  t.deepEqual(unitValues('systemd/examples/flagman-maint-off.timer', 'OnCalendar'), ['*-*-* 03:00:00']);
  const fm = await running(t);

  let from = fm.events.length;
  await runAsInstalled(t, fm, on[0]);
  const change = await fm.waitFlag('MAINT', 1, { from });
  t.is(change.note, 'nightly window');
  t.is((await request(fm.port)).status, 503);

  from = fm.events.length;
  await runAsInstalled(t, fm, off[0]);
  await fm.waitFlag('MAINT', null, { from });
  t.is((await request(fm.port)).status, 200);
});

test('the cron recipe: its two lines, run by hand, switch maintenance on and off', async (t) => {
  const text = fs.readFileSync(path.join(root, 'examples/cron/flagman-maintenance'), 'utf8');
  const env = Object.fromEntries(
    text
      .split('\n')
      .filter((l) => /^[A-Z]+=/.test(l))
      .map((l) => l.split('=', 2)),
  );
  // /etc/cron.d format: five time fields, the user, then the command, run by $SHELL.
  const jobs = text
    .split('\n')
    .filter((l) => /^[\d*]/.test(l))
    .map((l) => /^(\S+\s+){5}(\S+)\s+(.*)$/.exec(l))
    .map((m) => ({ user: m[2], command: m[3] }));
  t.deepEqual(
    jobs.map((j) => j.user),
    ['root', 'root'],
  );
  t.is(env.SHELL, '/bin/sh');
  t.true(env.PATH.split(':').includes('/usr/local/bin'), 'cron finds flagman where the README installs it');
  const fm = await running(t);
  const bin = path.dirname(flagmanExecutable(t));

  let from = fm.events.length;
  await runAsInstalled(t, fm, jobs[0].command, { PATH: `${bin}:${process.env.PATH}` });
  const change = await fm.waitFlag('MAINT', 1, { from });
  t.is(change.note, 'weekly window');
  t.is((await request(fm.port)).status, 503);

  from = fm.events.length;
  await runAsInstalled(t, fm, jobs[1].command, { PATH: `${bin}:${process.env.PATH}` });
  await fm.waitFlag('MAINT', null, { from });
  t.is((await request(fm.port)).status, 200);
});
