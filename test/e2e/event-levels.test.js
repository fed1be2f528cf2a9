// The level of the events an operator has to act on (docs/logs.md, the table of levels): a server
// going down, a flag file's problem, the flags watcher's trouble and a failed reload are `warn` (40)
// or above, so a filter on level >= 40 shows them; their recoveries are `info` (30).
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { saveConfig, startFlagman, tempDir, upstream, watchProbe } from '../helpers/e2e.js';

const CONFIG = `
flags: { dir: ./flags, rescan: 30s }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - use: app
        when: flag("MAINT") > 0
      - use: app
backends:
  app:
    health: { path: /healthz, interval: 100ms, timeout: 2s, rise: 1, fall: 1 }
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
`;

const WARN = 40;
const INFO = 30;

test('down, flag and watcher problems and failed reloads are warn or above; recoveries are info', async (t) => {
  const app = await upstream(t, 'app');
  // While this file exists every fs.watch in flagman fails with EMFILE: the watcher's problem.
  const marker = path.join(tempDir(t), 'no-watch');
  fs.writeFileSync(marker, '');
  const probe = watchProbe(t, { noWatch: marker });
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port }, flags: { MAINT: '0\n' }, env: probe.env });
  const levels = {};
  const seen = (what, e) => {
    levels[what] = e.level;
    return e;
  };

  seen('flags.watcher problem', await fm.waitEvent((e) => e.event === 'flags.watcher' && e.problem !== null, { timeout: 10_000 }));
  let from = fm.events.length;
  fs.rmSync(marker);
  seen('flags.watcher recovered', await fm.waitEvent((e) => e.event === 'flags.watcher' && e.problem === null, { from, timeout: 15_000 }));

  from = fm.events.length;
  fs.writeFileSync(path.join(fm.flagsDir, 'MAINT'), 'nope\n');
  seen(
    'flag.problem',
    await fm.waitEvent((e) => e.event === 'flag.problem' && e.flag === 'MAINT' && e.problem !== null, { from, timeout: 10_000 }),
  );
  from = fm.events.length;
  fs.writeFileSync(path.join(fm.flagsDir, 'MAINT'), '1\n');
  seen(
    'flag.problem cleared',
    await fm.waitEvent((e) => e.event === 'flag.problem' && e.flag === 'MAINT' && e.problem === null, { from, timeout: 10_000 }),
  );

  from = fm.events.length;
  await app.stop();
  seen(
    'server.state down',
    await fm.waitEvent((e) => e.event === 'server.state' && e.server === 'app1' && e.to === 'down', { from, timeout: 15_000 }),
  );
  from = fm.events.length;
  await app.start();
  seen(
    'server.state up',
    await fm.waitEvent((e) => e.event === 'server.state' && e.server === 'app1' && e.to === 'up', { from, timeout: 15_000 }),
  );

  from = fm.events.length;
  saveConfig(fm, fs.readFileSync(fm.configFile, 'utf8').replace('listen: ["127.0.0.1:0"]', 'lisen: ["127.0.0.1:0"]'));
  fm.proc.kill('SIGHUP');
  seen('reload.failed', await fm.waitEvent((e) => e.event === 'reload.failed', { from, timeout: 15_000 }));

  t.log(levels);
  t.deepEqual(
    Object.fromEntries(
      Object.entries(levels).map(([what, level]) => [what, level >= WARN ? 'warn or above' : level === INFO ? 'info' : `level ${level}`]),
    ),
    {
      'flags.watcher problem': 'warn or above',
      'flags.watcher recovered': 'info',
      'flag.problem': 'warn or above',
      'flag.problem cleared': 'info',
      'server.state down': 'warn or above',
      'server.state up': 'info',
      'reload.failed': 'warn or above',
    },
  );
});
