// The config file is watched, not its folder: every way an editor, a deploy tool or Kubernetes
// saves it reloads exactly once — in place (`cat >`, `cp`, `ed`), replaced (`mv`, `sed -i`, vim's
// rename-and-write), or reached through symlinks that are re-pointed (`ln -sf`, a ConfigMap's
// `..data` swap) — and a busy file beside it (an access log, `flagman run >> access.log` in
// /etc/flagman) wakes no watch of flagman's.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { request, sh, startFlagman, tempDir, upstream } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';

// Reloads wait 150 ms after the last event; a replacement no event tells of is found by a stat
// every second. Generous for a loaded machine.
const RELOAD_MS = 15_000;

const text = (app, comment) => `# ${comment}\n${maintenanceConfig({ admin: false })}`.replaceAll('{{app}}', String(app));

// Successful reloads. A save a loaded machine reads half-done (see reloadsOnce) may add a
// reload.failed before its reload; the old config serves meanwhile.
const reloads = (fm) => fm.events.filter((e) => e.event === 'reload');

/** Runs `edit()`, then waits for the reload of generation `gen` and checks it was the only one. */
async function reloadsOnce(t, fm, gen, what, edit) {
  const before = reloads(fm).length;
  const from = fm.events.length;
  await edit();
  // A `cat >` whose shell truncates the file well before cat writes it (a loaded machine: the exec
  // takes longer than the 150 ms quiet time) may first read the empty file, a reload.failed that
  // keeps the old config; the write after it reloads. One successful reload per save either way.
  const e = await fm.waitEvent((x) => x.event === 'reload', { from, timeout: RELOAD_MS });
  t.like(e, { event: 'reload', generation: gen }, what);
  t.is(reloads(fm).length, before + 1, `${what}: one reload`);
}

/** Inode numbers of every inotify watch `pid` holds (/proc/PID/fdinfo), or null when unreadable. */
function watchedInodes(pid) {
  const inodes = new Set();
  let fds;
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return null;
  }
  for (const fd of fds) {
    let link;
    try {
      link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (link !== 'anon_inode:inotify') continue;
    const info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    for (const m of info.matchAll(/^inotify wd:\S+ ino:([0-9a-f]+) /gm)) inodes.add(Number.parseInt(m[1], 16));
  }
  return inodes;
}

test('every way of saving the config reloads it once; touch and chmod reload nothing', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, text(app.port, 'start'));
  const file = fm.configFile;
  const other = tempDir(t);
  let gen = 1;
  const next = (comment) => {
    const f = path.join(other, `${comment}.yaml`);
    fs.writeFileSync(f, text(app.port, comment));
    return f;
  };
  await reloadsOnce(t, fm, ++gen, 'cat >', () => sh(`cat '${next('cat')}' > flagman.yaml`, fm.dir));
  await reloadsOnce(t, fm, ++gen, 'cp', () => sh(`cp '${next('cp')}' flagman.yaml`, fm.dir));
  await reloadsOnce(t, fm, ++gen, 'ed', () => sh(`printf '1s/.*/# ed/\\nw\\nq\\n' | ed -s flagman.yaml`, fm.dir));
  await reloadsOnce(t, fm, ++gen, 'mv', () => {
    fs.copyFileSync(next('mv'), path.join(fm.dir, '.flagman.yaml.new'));
    return sh('mv .flagman.yaml.new flagman.yaml', fm.dir);
  });
  await reloadsOnce(t, fm, ++gen, 'sed -i', () => sh(`sed -i '1s/.*/# sed/' flagman.yaml`, fm.dir));
  // vim's save with its defaults: the original renamed to a backup, a new file written, the backup
  // removed.
  await reloadsOnce(t, fm, ++gen, 'rename to a backup, write anew', () =>
    sh(`mv flagman.yaml flagman.yaml~ && cat '${next('vimlike')}' > flagman.yaml && rm flagman.yaml~`, fm.dir),
  );
  if (fs.existsSync('/usr/bin/vim')) {
    await reloadsOnce(t, fm, ++gen, 'vim', () => sh(`/usr/bin/vim -u NONE -i NONE -N -n -es -c '1s/.*/# vim/' -c wq flagman.yaml`, fm.dir));
  }
  // The watch is on the current file after all those replacements: an in-place write still reloads.
  await reloadsOnce(t, fm, ++gen, 'cat > after the replacements', () => sh(`cat '${next('last')}' > flagman.yaml`, fm.dir));
  fs.utimesSync(file, new Date(), new Date());
  fs.chmodSync(file, 0o600);
  fs.writeFileSync(file, fs.readFileSync(file)); // the same bytes
  await reloadsOnce(t, fm, ++gen, 'cp after touch, chmod and a same-bytes write', () => sh(`cp '${next('final')}' flagman.yaml`, fm.dir));
  t.regex(fs.readFileSync(file, 'utf8'), /^# final/);
  t.is(reloads(fm).length, gen - 1, 'one reload per save, none for the rest');
  t.is((await request(fm.port)).status, 200);
});

test('a config reached through symlinks reloads when they are re-pointed: ConfigMap ..data swaps, ln -sf', async (t) => {
  const app = await upstream(t, 'app');
  // A Kubernetes ConfigMap volume: flagman.yaml -> ..data/flagman.yaml, ..data -> ..2026_1.
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, '..2026_1'));
  fs.writeFileSync(path.join(dir, '..2026_1', 'flagman.yaml'), '');
  fs.symlinkSync('..2026_1', path.join(dir, '..data'));
  fs.symlinkSync('..data/flagman.yaml', path.join(dir, 'flagman.yaml'));
  // startFlagman writes the config through the links.
  const fm = await startFlagman(t, text(app.port, 'v1'), { dir });
  t.true(fs.lstatSync(fm.configFile).isSymbolicLink());

  // kubelet's update: a new timestamped folder, `..data` swapped by rename, the old folder removed.
  const swap = (ts, comment, { removeOld }) => {
    const old = fs.readlinkSync(path.join(dir, '..data'));
    fs.mkdirSync(path.join(dir, ts));
    fs.writeFileSync(path.join(dir, ts, 'flagman.yaml'), text(app.port, comment));
    fs.symlinkSync(ts, path.join(dir, '..data_tmp'));
    fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    if (removeOld) fs.rmSync(path.join(dir, old), { recursive: true });
  };
  await reloadsOnce(t, fm, 2, 'ConfigMap update', () => swap('..2026_2', 'v2', { removeOld: true }));
  // With the old folder left in place no event on the watched file tells: the stat finds it.
  await reloadsOnce(t, fm, 3, '..data swapped, old folder kept', () => swap('..2026_3', 'v3', { removeOld: false }));
  // The link itself re-pointed, its old target kept.
  fs.writeFileSync(path.join(dir, 'other.yaml'), text(app.port, 'other'));
  await reloadsOnce(t, fm, 4, 'ln -sf', () => sh('ln -sfn other.yaml flagman.yaml', dir));
  await reloadsOnce(t, fm, 5, 'the new target edited in place', () =>
    sh(`sed 's/^# other/# other edited/' other.yaml > other.tmp && cat other.tmp > other.yaml`, dir),
  );
  // The old target is no longer the config: editing it reloads nothing (the next reload is number 6,
  // of other.yaml's content).
  fs.writeFileSync(path.join(dir, '..2026_3', 'flagman.yaml'), text(app.port, 'stale'));
  await reloadsOnce(t, fm, 6, 'the new target edited again', () =>
    fs.writeFileSync(path.join(dir, 'other.yaml'), text(app.port, 'other again')),
  );
  t.is(reloads(fm).length, 5);
  t.is((await request(fm.port)).status, 200);
});

test('a busy file beside the config wakes no watch: no folder holding the config is watched', async (t) => {
  const app = await upstream(t, 'app');
  // The default layout: /etc/flagman/flagman.yaml, /etc/flagman/flags, and the access log there too.
  const dir = tempDir(t);
  const fm = await startFlagman(t, text(app.port, 'start'), { dir, stdoutFile: path.join(dir, 'access.log') });
  const inodes = watchedInodes(fm.proc.pid);
  if (inodes === null) return t.pass('no /proc here');
  const ino = (p) => fs.statSync(p).ino;
  t.true(inodes.has(ino(fm.configFile)), 'the config file is watched');
  t.true(inodes.has(ino(fm.flagsDir)), 'the flags directory is watched');
  t.false(inodes.has(ino(dir)), 'the folder holding the config and the flags is not watched');
  t.false(inodes.has(ino(path.dirname(dir))), 'nor its parent');
  for (let i = 0; i < 200; i++) await request(fm.port);
  t.true(fs.statSync(path.join(dir, 'access.log')).size > 0);
  execFileSync('sh', ['-c', 'for i in $(seq 2000); do echo "line $i" >> app.log; done'], { cwd: dir });
  await reloadsOnce(t, fm, 2, 'an edit after the busy files', () => sh(`sed -i '1s/.*/# edited/' flagman.yaml`, dir));
});
