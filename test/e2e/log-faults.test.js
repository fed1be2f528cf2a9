// Logs that cannot be written never stop flagman from serving (docs/logs.md): stdout or stderr on
// a full disk, a reader of stdout that stops, then resumes, or goes away. Lines are dropped and
// counted (`flagman_log_dropped_total`, `/status` `logs`), the access log's trouble is told on the
// event log, lines flow again once they can, and an exit never waits long for a log.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { adminStatus, cli, freePort, keepAliveLoad, orAfter, request, startFlagman, tempDir, upstream, waitFor } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';
import { scaled } from '../helpers/slow.js';

const config = (top = '') => maintenanceConfig({ top });

/** `flagman_log_dropped_total{log=…}` from the admin endpoint on `adminPort`. */
async function dropped(adminPort, log) {
  const r = await request(adminPort, { path: '/metrics' });
  const m = new RegExp(`^flagman_log_dropped_total\\{log="${log}"\\} (\\d+)$`, 'm').exec(r.body);
  return m ? Number(m[1]) : undefined;
}

/** `n` requests on one keep-alive connection; resolves with how many answered 200. */
async function keepAlive(port, n, p = '/') {
  const r = await keepAliveLoad(port, { limit: n, path: p }).done;
  return { ok: r.labels['200'] ?? 0, errors: r.errors };
}

const vmRss = (pid) => Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

test('stdout on a full disk (/dev/full): every request answered, the access lines counted as dropped, told at most once per 10 s', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, config(), { vars: { app: app.port }, flags: { MAINT: '0\n' }, stdoutFile: '/dev/full' });
  const r = await keepAlive(fm.port, 1000);
  t.deepEqual(r, { ok: 1000, errors: [] });
  t.is(fm.proc.exitCode, null, 'flagman is alive');
  // Every line of the 1,000 is dropped: the count is exact once the last batch has been tried.
  await waitFor(async () => (await dropped(fm.adminPort, 'access')) === 1000, { what: '1000 dropped access lines' });
  t.is((await adminStatus(fm)).logs.access.dropped, 1000);
  const told = await fm.waitEvent((e) => e.event === 'log.dropped');
  t.like(told, { level: 40, log: 'access', reason: 'ENOSPC' });
  // However many batches failed: one note, then (on a slow machine) at most one every 10 s.
  const times = fm.events.filter((e) => e.event === 'log.dropped').map((e) => Date.parse(e.time));
  t.true(
    times.every((at, i) => i === 0 || at - times[i - 1] >= 9900),
    `notes at ${times}`,
  );
  t.is((await request(fm.port)).status, 200, 'still serving');
  fm.proc.kill('SIGTERM');
  t.is((await fm.exited).exitCode, 0);
});

test('workers: each worker drops and counts its own lines; /metrics and /status add them up', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, config('workers: 2'), { vars: { app: app.port }, flags: { MAINT: '0\n' }, stdoutFile: '/dev/full' });
  // A new connection per request: the primary deals them out to both workers.
  let ok = 0;
  for (let i = 0; i < 300; i++) if ((await request(fm.port)).status === 200) ok++;
  t.is(ok, 300);
  await waitFor(async () => (await dropped(fm.adminPort, 'access')) === 300, {
    timeout: 10_000,
    what: '300 dropped access lines across the workers',
  });
  const s = await adminStatus(fm);
  t.is(s.logs.access.dropped, 300);
  t.is(s.workers.length, 2);
  const notes = fm.events.filter((e) => e.event === 'log.dropped');
  t.true(notes.length >= 1 && notes.every((e) => e.worker === 1 || e.worker === 2), 'told by the workers that write the lines');
  fm.proc.kill('SIGTERM');
  t.is((await fm.exited).exitCode, 0);
});

test('a full file system: lines dropped while full, written again (whole lines) once there is room', async (t) => {
  const dir = tempDir(t);
  const mnt = path.join(dir, 'small');
  fs.mkdirSync(mnt);
  const mounted = await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { reject: false });
  if (mounted.exitCode !== 0) {
    t.log(`no tmpfs here (${mounted.stderr.trim()}): the full-disk case is covered by /dev/full only`);
    t.pass();
    return;
  }
  // Registered before flagman's own teardown, so run after it (lazy: the file may still be open).
  t.teardown(() => execa('umount', ['-l', mnt], { reject: false }));
  const app = await upstream(t, 'app');
  const log = path.join(mnt, 'access.log');
  const fm = await startFlagman(t, config(), { vars: { app: app.port }, flags: { MAINT: '0\n' }, stdoutFile: log });
  const lines = () => fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
  t.is((await request(fm.port, { path: '/before' })).status, 200);
  await waitFor(() => lines().length === 1, { what: 'the first line' });

  // Fill the file system to the last byte.
  const filler = path.join(mnt, 'filler');
  const fd = fs.openSync(filler, 'w');
  const block = Buffer.alloc(1024, 'x');
  try {
    for (;;) fs.writeSync(fd, block);
  } catch (err) {
    t.is(err.code, 'ENOSPC');
  }
  try {
    for (;;) fs.writeSync(fd, block, 0, 1);
  } catch (err) {
    t.is(err.code, 'ENOSPC');
  }
  fs.closeSync(fd);

  const full = await keepAlive(fm.port, 500, '/while-full');
  t.deepEqual(full, { ok: 500, errors: [] });
  await fm.waitEvent((e) => e.event === 'log.dropped' && e.reason === 'ENOSPC');
  await waitFor(async () => (await dropped(fm.adminPort, 'access')) > 0, { what: 'dropped access lines' });
  t.is(fm.proc.exitCode, null, 'flagman is alive');

  fs.rmSync(filler);
  for (let i = 0; i < 5; i++) t.is((await request(fm.port, { path: `/after-${i}` })).status, 200);
  await waitFor(() => lines().filter((l) => l.includes('/after-')).length === 5, { what: 'the lines sent after the room came back' });
  // One note that the log is written again, with what it lost (told within 10 s of the first note).
  const back = await fm.waitEvent((e) => e.event === 'log.recovered', { timeout: 20_000 });
  const lost = await dropped(fm.adminPort, 'access');
  t.true(lost > 0);
  t.like(back, { log: 'access', dropped: lost });
  t.is(fm.events.filter((e) => e.event === 'log.recovered').length, 1);
  // A write that went out in part as the disk filled leaves one line cut short (counted as
  // dropped); the next write ends it, so every line after it is whole again.
  const parsed = lines().map((l) => {
    try {
      return JSON.parse(l).path;
    } catch {
      return null;
    }
  });
  const cut = parsed.filter((p) => p === null).length;
  t.log(`${lost} lines dropped while full, ${500 - lost} written, ${cut} cut short`);
  t.true(cut <= 1);
  t.is(parsed[0], '/before');
  t.deepEqual(parsed.slice(-5), ['/after-0', '/after-1', '/after-2', '/after-3', '/after-4']);
  t.is(parsed.length - cut, 1 + 500 - lost + 5, 'each line either written whole or counted as dropped');
});

test('stderr on a full disk (/dev/full): flagman starts, serves, answers its admin endpoint and exits promptly', async (t) => {
  const app = await upstream(t, 'app');
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'flags'));
  fs.writeFileSync(path.join(dir, 'flags/MAINT'), '0\n');
  // No event tells the ports: they are chosen here, and flagman is known up when they answer.
  const [web, admin] = [await freePort(), await freePort()];
  const yaml = maintenanceConfig()
    .replaceAll('127.0.0.1:0', '127.0.0.1:PORT')
    .replace('PORT', admin)
    .replace('PORT', web)
    .replace('{{app}}', app.port);
  fs.writeFileSync(path.join(dir, 'flagman.yaml'), yaml);
  t.true(yaml.includes(`admin: { listen: "127.0.0.1:${admin}" }`) && yaml.includes(`["127.0.0.1:${web}"]`));
  const full = fs.openSync('/dev/full', 'w');
  const proc = spawn(process.execPath, [cli, 'run', '-c', path.join(dir, 'flagman.yaml')], { stdio: ['ignore', 'ignore', full] });
  fs.closeSync(full);
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  // A spawn that fails (EAGAIN on a crowded machine) shows as flagman never answering below;
  // unheard, it would be an uncaught exception.
  proc.on('error', () => {});
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  await waitFor(
    () =>
      request(admin, { path: '/status' }).then(
        (r) => r.status === 200,
        () => false,
      ),
    { timeout: 15_000, what: 'the admin endpoint' },
  );
  await waitFor(
    () =>
      request(web).then(
        (r) => r.status === 200,
        () => false,
      ),
    { timeout: 15_000, what: 'the frontend' },
  );
  t.deepEqual(await keepAlive(web, 1000), { ok: 1000, errors: [] });
  const s = JSON.parse((await request(admin, { path: '/status' })).body);
  t.true(s.logs.events.dropped > 0, 'the events (listen, start) were dropped and counted');
  t.is(s.logs.access.dropped, 0);
  t.true((await dropped(admin, 'events')) > 0);
  const stopped = Date.now();
  proc.kill('SIGTERM');
  const end = await orAfter(exited, 5000, 'still running');
  t.deepEqual(end, { code: 0, signal: null }, `exited within 5 s of SIGTERM (${Date.now() - stopped} ms)`);
});

// Lines of about 12 KB (a path of 12,000 characters, under the 16 KiB head Node's parsers and
// flagman's accept): 3,000 requests would queue some 36 MB for a reader that stopped. (20,000 of
// 3 KB took 104 s of a loaded full run; 5,000 of 12 KB took 8.5 s of CPU, these 3,000 about 5.5.)
const LONG = `/${'x'.repeat(12_000)}`;

test('a reader of stdout that stops: memory stays bounded, lines dropped and counted; when it resumes, lines flow again', async (t) => {
  t.timeout(scaled(120_000));
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, config(), { vars: { app: app.port }, flags: { MAINT: '0\n' } });
  fm.proc.stdout.pause(); // nobody reads stdout any more
  // Some 6 MB of lines first: the pipe and its reader's buffer full, so that what follows waits in flagman.
  t.deepEqual(await keepAlive(fm.port, 500, LONG), { ok: 500, errors: [] });
  const before = vmRss(fm.proc.pid);
  const r = await keepAlive(fm.port, 3000, LONG);
  t.deepEqual(r, { ok: 3000, errors: [] });
  const growth = vmRss(fm.proc.pid) - before;
  t.log(`RSS ${Math.round(before / 2 ** 20)} MiB, then +${(growth / 2 ** 20).toFixed(1)} MiB over 3,000 lines of 12 KB`);
  // At most 1 MiB waits for the reader; the rest is the heap's own slack (+9.5 to +11.8 MiB
  // measured over 5,000 lines when this was written; +17 to +19 MiB on Node 26 on 2026-12-08, over
  // 5,000 lines or 3,000). Unbounded, 5,000 lines (60 MB) stayed queued: +74 MiB measured with the
  // limit lifted, so some 44 MiB for these 3,000.
  t.true(growth < 24 * 2 ** 20, `RSS grew ${growth} bytes`);
  const n = await dropped(fm.adminPort, 'access');
  // All but the ~90 lines of 12 KB that 1 MiB holds (and what the reader took before it stopped).
  t.true(n > 1500, `${n} lines dropped`);
  t.like(await fm.waitEvent((e) => e.event === 'log.dropped'), { log: 'access', reason: 'buffer full' });

  // The reader resumes: what waited is written, then new lines are taken again.
  const seen = [];
  let tail = '';
  fm.proc.stdout.on('data', (chunk) => {
    const text = tail + chunk.toString();
    const cut = text.lastIndexOf('\n') + 1;
    // A line that is no JSON is kept whole, for the assertion below to show: thrown here it would
    // be an uncaught exception.
    for (const l of text.slice(0, cut).split('\n')) {
      if (!l.includes('/resumed')) continue;
      try {
        seen.push(JSON.parse(l).path);
      } catch {
        seen.push(l);
      }
    }
    tail = text.slice(cut);
  });
  fm.proc.stdout.resume();
  t.like(await fm.waitEvent((e) => e.event === 'log.recovered', { timeout: 20_000 }), { log: 'access' });
  for (let i = 0; i < 3; i++) t.is((await request(fm.port, { path: `/resumed-${i}` })).status, 200);
  await waitFor(() => seen.length === 3, { what: 'the lines after the reader resumed' });
  t.deepEqual(seen, ['/resumed-0', '/resumed-1', '/resumed-2']);
});

test('a reader of stdout that stopped does not keep flagman from exiting', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, config(), { vars: { app: app.port }, flags: { MAINT: '0\n' } });
  fm.proc.stdout.pause();
  // Some 6 MB of lines: far more than the pipe and its reader's buffer hold.
  t.deepEqual(await keepAlive(fm.port, 500, LONG), { ok: 500, errors: [] });
  const stopped = Date.now();
  fm.proc.kill('SIGTERM');
  const end = await orAfter(fm.exited, 5000, null);
  t.not(end, null, 'exited within 5 s of SIGTERM');
  t.is(end?.exitCode, 0);
  t.log(`exited ${Date.now() - stopped} ms after SIGTERM`);
});

test('the reader of stdout goes away (EPIPE): the access log is off, told once; requests still answered', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, config(), { vars: { app: app.port }, flags: { MAINT: '0\n' } });
  t.is((await request(fm.port)).status, 200);
  fm.proc.stdout.destroy(); // closes the read end
  t.deepEqual(await keepAlive(fm.port, 200), { ok: 200, errors: [] });
  const off = await fm.waitEvent((e) => e.event === 'log.off');
  t.like(off, { level: 40, log: 'access', reason: 'EPIPE' });
  t.deepEqual(await keepAlive(fm.port, 200), { ok: 200, errors: [] });
  t.is(fm.events.filter((e) => e.event === 'log.off').length, 1);
  t.is(fm.events.filter((e) => e.event === 'log.dropped').length, 0, 'no note of drops besides that one');
  // The lines after it are counted: all but those already written when the reader went away.
  await waitFor(async () => (await dropped(fm.adminPort, 'access')) >= 200, { what: 'dropped access lines' });
  t.is(fm.proc.exitCode, null);
  fm.proc.kill('SIGTERM');
  t.is((await fm.exited).exitCode, 0);
});
