// The flags directory there but unusable — no read or search permission (chmod 000), or a symlink
// loop — is a problem of the directory, shown in `/status` as `watcher.problem` naming it. It is
// never reported as a flag of its own name (events on the directory itself carry its basename),
// and the flags keep their values, as when the directory is renamed away, until it is usable again.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { adminStatus, request, startFlagman, tempDir, upstream, waitFor } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';

const CONFIG = maintenanceConfig({ rescan: '200ms', state: 'off' });

// Root reads any directory whatever its mode: flagman then runs as nobody, for chmod 000 to bite.
const asRoot = process.getuid?.() === 0;
const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p));
const prefix = asRoot && setpriv ? [setpriv, '--reuid=nobody', '--regid=nogroup', '--clear-groups'] : [];

async function setup(t) {
  const app = await upstream(t, 'app');
  const dir = tempDir(t);
  fs.chmodSync(dir, 0o755); // for nobody to reach the config and the flags
  const fm = await startFlagman(t, CONFIG, { dir, vars: { app: app.port }, flags: { MAINT: '1\n' }, prefix });
  t.is((await request(fm.port)).status, 503);
  return fm;
}

/** Waits for `watcher.problem` to match, then for two more full rescans, and returns /status. */
async function brokenStatus(fm, problem) {
  const seen = await waitFor(
    async () => {
      const s = await adminStatus(fm);
      return problem.test(s.watcher.problem ?? '') && s;
    },
    { timeout: 15_000, what: `watcher.problem matching ${problem}` },
  );
  // Every event about the change has been handled by then, and every flag read again twice.
  return waitFor(
    async () => {
      const s = await adminStatus(fm);
      return s.watcher.rescans >= seen.watcher.rescans + 2 && s;
    },
    { timeout: 15_000, what: 'two more rescans' },
  );
}

/** `code`: the error the directory gives; `problem`: how watcher.problem must name it. */
async function checkBroken(t, fm, code, problem) {
  const s = await brokenStatus(fm, new RegExp(`${fm.flagsDir}\\b.*\\(${code}\\)`));
  t.log(`watcher.problem: ${s.watcher.problem}`);
  t.deepEqual(Object.keys(s.flags), ['MAINT'], 'no flag named after the directory');
  t.like(s.flags.MAINT, { value: 1, problem: null }, 'MAINT keeps its value, with no problem of its own');
  t.true(s.watcher.problem.startsWith(`flags directory ${fm.flagsDir} ${problem}; flags keep their last values`), s.watcher.problem);
  t.is((await request(fm.port)).status, 503);
}

async function checkFixed(t, fm) {
  await waitFor(async () => (await adminStatus(fm)).watcher.problem === null, { timeout: 15_000, what: 'watcher.problem null again' });
  const from = fm.events.length;
  fs.writeFileSync(path.join(fm.flagsDir, 'MAINT'), '0\n');
  await fm.waitFlag('MAINT', 0, { from, timeout: 15_000 });
  t.is((await request(fm.port)).status, 200);
  const s = await adminStatus(fm);
  t.deepEqual(Object.keys(s.flags), ['MAINT']);
  t.is(s.flags.MAINT.problem, null);
}

(asRoot && !setpriv ? test.skip : test)(
  'a flags directory without read permission (chmod 000) is a directory problem, not a flag; flags keep their values',
  async (t) => {
    const fm = await setup(t);
    fs.chmodSync(fm.flagsDir, 0o000);
    t.teardown(() => fs.chmodSync(fm.flagsDir, 0o755)); // for the temp dir's removal
    await checkBroken(t, fm, 'EACCES', 'cannot be read (EACCES)');
    fs.chmodSync(fm.flagsDir, 0o755);
    await checkFixed(t, fm);
  },
);

test('a flags directory replaced by a symlink loop is a directory problem, not a flag; flags keep their values', async (t) => {
  const fm = await setup(t);
  const away = `${fm.flagsDir}.away`;
  fs.renameSync(fm.flagsDir, away);
  fs.symlinkSync('flags', fm.flagsDir); // flags -> flags
  await checkBroken(t, fm, 'ELOOP', 'is a symlink loop (ELOOP)');
  fs.unlinkSync(fm.flagsDir);
  fs.renameSync(away, fm.flagsDir);
  await checkFixed(t, fm);
});
