// `log.file` (docs/logs.md, "Writing to a file, and logrotate"): the access log appended to a file
// flagman opens itself; logrotate moves it away and SIGUSR1 has flagman reopen it by its path, with
// every worker; no line lost or cut across the two files. A reload moves the log to another file or
// back to stdout; a reopen that fails keeps the file open before; SIGUSR1 without a file is harmless.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { adminStatus, flagmanCli, keepAliveLoad, request, startFlagman, tempDir, upstream, waitFor } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';

const config = ({ file = null, top = '', admin = false } = {}) =>
  maintenanceConfig({ admin, top: `${top}\n${file === null ? '' : `log: { file: ${file} }`}` });

// flagman run under umask 077, as the systemd unit sets it: the file it creates is still 0644.
const UMASK_077 = ['sh', '-c', 'umask 077 && exec "$@"', 'sh'];

/** The access lines of `file`, parsed; a line that is no JSON (cut) as `{ unparsed }`; none if it does not exist. */
function entries(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return { unparsed: l };
      }
    });
}

/** Requests `prefix`0 … `prefix`(n-1), each on a new connection (with workers, dealt out to each in turn). */
async function requests(t, port, prefix, n) {
  for (let i = 0; i < n; i++) t.is((await request(port, { path: `/${prefix}${i}` })).status, 200);
}

const named = (prefix, n) => Array.from({ length: n }, (_, i) => `/${prefix}${i}`);
const pathsOf = (list, prefix) => list.map((e) => e.path).filter((p) => p?.startsWith(`/${prefix}`));

/** A temp folder for flagman with a `logs` folder in it. */
function folder(t) {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'logs'));
  return { dir, file: path.join(dir, 'logs', 'access.log') };
}

const noInspector = (t, fm) =>
  t.falsy(
    fm.events.find((e) => /Debugger|inspector/i.test(e.msg ?? '')),
    "SIGUSR1 did not start Node's inspector",
  );

test('log.file: lines in the file, not on stdout; moved away, lines follow it until SIGUSR1 reopens the path; none lost or cut', async (t) => {
  const app = await upstream(t, 'app');
  const { dir, file } = folder(t);
  const fm = await startFlagman(t, config({ file: 'logs/access.log' }), {
    dir,
    vars: { app: app.port },
    flags: { MAINT: '0\n' },
    captureAccess: true,
    prefix: UMASK_077,
  });
  await requests(t, fm.port, 'a', 5);
  await waitFor(() => entries(file).length === 5, { what: 'five lines in the file' });
  t.is(fs.statSync(file).mode & 0o777, 0o644, 'created 0644 under umask 077');

  // logrotate moves the file away: flagman still holds it, as nginx does, and goes on writing there.
  const moved = `${file}.1`;
  fs.renameSync(file, moved);
  await requests(t, fm.port, 'b', 5);
  await waitFor(() => entries(moved).length === 10, { what: 'the lines after the move in the moved file' });
  t.false(fs.existsSync(file));

  // SIGUSR1 under traffic: every line goes to one file or the other, whole.
  const load = keepAliveLoad(fm.port, { path: '/load' });
  await waitFor(() => load.result.count >= 20, { what: 'requests before the reopen' });
  const from = fm.events.length;
  fm.proc.kill('SIGUSR1');
  const reopened = await fm.waitEvent((e) => e.event === 'log.reopen', { from });
  t.like(reopened, { level: 30, log: 'access', file });
  const at = load.result.count;
  await waitFor(() => load.result.count >= at + 20, { what: 'requests after the reopen' });
  const sent = await load.stop();
  t.deepEqual(sent.errors, []);
  await requests(t, fm.port, 'c', 5);
  fm.proc.kill('SIGTERM');
  t.is((await fm.exited).exitCode, 0);

  const old = entries(moved);
  const now = entries(file);
  t.deepEqual(
    [...old, ...now].filter((e) => e.unparsed !== undefined),
    [],
    'no line cut',
  );
  t.deepEqual(pathsOf(old, 'a'), named('a', 5));
  t.deepEqual(pathsOf(old, 'b'), named('b', 5));
  t.deepEqual(pathsOf(now, 'c'), named('c', 5));
  t.deepEqual([...pathsOf(now, 'a'), ...pathsOf(now, 'b'), ...pathsOf(old, 'c')], []);
  const before = pathsOf(old, 'load').length;
  const after = pathsOf(now, 'load').length;
  t.log(`${sent.count} requests under traffic: ${before} lines in the moved file, ${after} in the new one`);
  t.is(before + after, sent.count, 'every request of the load has one line, in one of the two files');
  t.true(before >= 20 && after >= 20);
  t.is(fs.statSync(file).mode & 0o777, 0o644);
  t.deepEqual(fm.access, [], 'nothing on stdout');
  noInspector(t, fm);
});

test('workers: each appends to the file itself; SIGUSR1 to the primary (or to every process, as systemctl kill sends it) reopens it in every worker once', async (t) => {
  const app = await upstream(t, 'app');
  const { dir, file } = folder(t);
  const fm = await startFlagman(t, config({ file: 'logs/access.log', top: 'workers: 2', admin: true }), {
    dir,
    vars: { app: app.port },
    flags: { MAINT: '0\n' },
    captureAccess: true,
  });
  const pids = (await adminStatus(fm)).workers;
  t.is(pids.length, 2);
  await requests(t, fm.port, 'a', 10);
  await waitFor(() => entries(file).length === 10, { what: 'ten lines in the file' });
  t.deepEqual([...new Set(entries(file).map((e) => e.worker))].sort(), [1, 2], 'both workers write to the file');

  const moved = `${file}.1`;
  fs.renameSync(file, moved);
  await requests(t, fm.port, 'b', 10);
  await waitFor(() => entries(moved).length === 20, { what: 'the lines after the move in the moved file' });

  const from = fm.events.length;
  for (const pid of [fm.proc.pid, ...pids]) process.kill(pid, 'SIGUSR1');
  await fm.waitEvent((e) => e.event === 'log.reopen' && e.worker === 1, { from });
  await fm.waitEvent((e) => e.event === 'log.reopen' && e.worker === 2, { from });
  await requests(t, fm.port, 'c', 20);
  await waitFor(() => entries(file).length === 20, { what: 'the lines after the reopen in the new file' });
  t.deepEqual([...new Set(entries(file).map((e) => e.worker))].sort(), [1, 2], 'both workers reopened');
  t.deepEqual((await adminStatus(fm)).workers, pids, 'no worker was ended by the signal');
  fm.proc.kill('SIGTERM');
  t.is((await fm.exited).exitCode, 0);

  const old = entries(moved);
  const now = entries(file);
  t.deepEqual(
    [...old, ...now].filter((e) => e.unparsed !== undefined),
    [],
    'no line cut',
  );
  // Each worker batches its own lines: between workers, the order is the order of the batches.
  const sorted = (list) => [...list].sort();
  t.deepEqual(sorted(pathsOf(old, 'a')), sorted(named('a', 10)));
  t.deepEqual(sorted(pathsOf(old, 'b')), sorted(named('b', 10)));
  t.deepEqual(sorted(pathsOf(now, 'c')), sorted(named('c', 20)));
  t.is(old.length + now.length, 40, 'every request has one line');
  const reopens = fm.events.filter((e) => e.event === 'log.reopen');
  t.deepEqual(reopens.map((e) => e.worker).sort(), [1, 2], 'one reopen per worker: a worker ignores its own SIGUSR1, the primary tells it');
  t.true(reopens.every((e) => e.level === 30 && e.file === file));
  t.deepEqual(fm.access, [], 'nothing on stdout');
  noInspector(t, fm);
});

test('SIGUSR1 without log.file: one info event, the process alive and serving, no inspector', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, config(), { vars: { app: app.port }, flags: { MAINT: '0\n' }, captureAccess: true });
  const from = fm.events.length;
  fm.proc.kill('SIGUSR1');
  const told = await fm.waitEvent((e) => e.event === 'log.reopen', { from });
  t.like(told, { level: 30, log: 'access', file: null });
  await requests(t, fm.port, 'a', 3);
  await waitFor(() => fm.access.length === 3, { what: 'three access lines on stdout' });
  t.is(fm.proc.exitCode, null);
  fm.proc.kill('SIGTERM');
  t.is((await fm.exited).exitCode, 0);
  t.is(fm.events.filter((e) => e.event === 'log.reopen').length, 1);
  noInspector(t, fm);
});

test('SIGUSR1 without log.file, with workers: the primary says so once; every process alive', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, config({ top: 'workers: 2', admin: true }), {
    vars: { app: app.port },
    flags: { MAINT: '0\n' },
    captureAccess: true,
  });
  const pids = (await adminStatus(fm)).workers;
  const from = fm.events.length;
  for (const pid of [fm.proc.pid, ...pids]) process.kill(pid, 'SIGUSR1');
  t.like(await fm.waitEvent((e) => e.event === 'log.reopen', { from }), { level: 30, file: null, worker: undefined });
  await requests(t, fm.port, 'a', 4);
  t.deepEqual((await adminStatus(fm)).workers, pids);
  fm.proc.kill('SIGTERM');
  t.is((await fm.exited).exitCode, 0);
  t.is(fm.events.filter((e) => e.event === 'log.reopen').length, 1);
  noInspector(t, fm);
});

test('a reopen that fails (the folder gone) keeps writing to the file open before, with a warn event; the next SIGUSR1 tries again', async (t) => {
  const app = await upstream(t, 'app');
  const { dir, file } = folder(t);
  const fm = await startFlagman(t, config({ file: 'logs/access.log' }), { dir, vars: { app: app.port }, flags: { MAINT: '0\n' } });
  await requests(t, fm.port, 'a', 3);
  await waitFor(() => entries(file).length === 3, { what: 'three lines in the file' });
  const gone = path.join(dir, 'logs.old');
  fs.renameSync(path.join(dir, 'logs'), gone);
  let from = fm.events.length;
  fm.proc.kill('SIGUSR1');
  const failed = await fm.waitEvent((e) => e.event === 'log.reopen', { from });
  t.like(failed, { level: 40, log: 'access', file, error: 'ENOENT' });
  t.true(failed.msg.includes(file));
  await requests(t, fm.port, 'b', 3);
  const held = path.join(gone, 'access.log');
  await waitFor(() => entries(held).length === 6, { what: 'the lines after the failed reopen in the file open before' });

  fs.mkdirSync(path.join(dir, 'logs'));
  from = fm.events.length;
  fm.proc.kill('SIGUSR1');
  t.like(await fm.waitEvent((e) => e.event === 'log.reopen', { from }), { level: 30, file });
  await requests(t, fm.port, 'c', 3);
  await waitFor(() => entries(file).length === 3, { what: 'the lines after the second reopen in the new file' });
  t.deepEqual(pathsOf(entries(file), ''), named('c', 3));
  t.deepEqual(pathsOf(entries(held), ''), [...named('a', 3), ...named('b', 3)]);
});

test('a reload moves the access log to another file, refuses one that cannot be opened, and goes back to stdout without log.file', async (t) => {
  const app = await upstream(t, 'app');
  const { dir, file } = folder(t);
  const vars = { app: app.port };
  const fm = await startFlagman(t, config({ file: 'logs/access.log' }), { dir, vars, flags: { MAINT: '0\n' }, captureAccess: true });
  const write = (text) => fs.writeFileSync(fm.configFile, text.replace('{{app}}', String(app.port)));
  await requests(t, fm.port, 'a', 3);

  let from = fm.events.length;
  write(config({ file: 'logs/other.log' }));
  await fm.waitEvent((e) => e.event === 'reload', { from, timeout: 10_000 });
  await requests(t, fm.port, 'b', 3);
  const other = path.join(dir, 'logs', 'other.log');
  await waitFor(() => entries(other).length === 3, { what: 'the lines after the reload in the new file' });
  t.deepEqual(pathsOf(entries(file), ''), named('a', 3), 'the first file has its lines, whole, and no more');

  from = fm.events.length;
  write(config({ file: 'missing/access.log' }));
  const failed = await fm.waitEvent((e) => e.event === 'reload.failed', { from, timeout: 10_000 });
  t.regex(failed.error, /flagman\.yaml:\d+:\d+: log\.file: cannot open \S+missing\/access\.log \(ENOENT\)/);
  await requests(t, fm.port, 'c', 3);
  await waitFor(() => entries(other).length === 6, { what: 'the lines after the failed reload in the file before' });

  from = fm.events.length;
  write(config());
  await fm.waitEvent((e) => e.event === 'reload', { from, timeout: 10_000 });
  await requests(t, fm.port, 'd', 3);
  await waitFor(() => fm.access.length === 3, { what: 'the lines after removing log.file on stdout' });
  t.deepEqual(
    fm.access.map((e) => e.path),
    named('d', 3),
  );
  t.deepEqual(pathsOf(entries(other), ''), [...named('b', 3), ...named('c', 3)]);
});

test('a log.file that cannot be opened stops the start: CONFIG_LOG naming file:line:col, the path and the code', async (t) => {
  const dir = tempDir(t);
  const configFile = path.join(dir, 'flagman.yaml');
  fs.mkdirSync(path.join(dir, 'flags'));
  fs.writeFileSync(configFile, config({ file: 'missing/access.log' }).replace('{{app}}', '9'));
  const r = await flagmanCli(['run', '-c', configFile]);
  t.is(r.exitCode, 1);
  t.regex(
    r.stderr,
    new RegExp(
      `^flagman: CONFIG_LOG: log\\.file: cannot open ${path.join(dir, 'missing', 'access.log')} \\(ENOENT\\) \\(${configFile}:\\d+:\\d+\\)$`,
      'm',
    ),
  );
});

test('a log.file that cannot be written (/dev/full): lines dropped and counted, told naming the file', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, config({ file: '/dev/full', admin: true }), {
    vars: { app: app.port },
    flags: { MAINT: '0\n' },
    captureAccess: true,
  });
  await requests(t, fm.port, 'a', 20);
  await waitFor(async () => (await adminStatus(fm)).logs.access.dropped === 20, { what: '20 dropped access lines' });
  t.like(await fm.waitEvent((e) => e.event === 'log.dropped'), { level: 40, log: 'access', file: '/dev/full', reason: 'ENOSPC' });
  t.deepEqual(fm.access, []);
});
