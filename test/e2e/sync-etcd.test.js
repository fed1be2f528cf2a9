// `flagman sync etcd` (docs/fleet.md) against a real etcd on 127.0.0.1: one etcdctl put steers
// every host; etcd down changes nothing, and what changed meanwhile is applied when it is back; a
// sync frozen while keys change catches up to the exact state and never touches a hand-written
// flag; a key that is no flag name is skipped, a value that is no number is latched by the proxy.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { flagmanCli, request, startFlagman, tempDir, upstream, waitFor } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';
import { startEtcd } from '../helpers/etcd.js';
import { scaled } from '../helpers/slow.js';
import { startSync } from '../helpers/sync.js';

const PREFIX = '/flagman/prod/flags/';
const LEDGER = '.flagman-sync-etcd.json';

/** What a host answers: the maintenance page (503) or the app (200). */
async function answer(fm) {
  const r = await request(fm.port);
  return r.status;
}

/** The flag files of a directory (dotfiles aside), name → content; one removed while being read is left out. */
function flagFiles(dir) {
  const out = {};
  for (const name of fs.readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    try {
      out[name] = fs.readFileSync(path.join(dir, name), 'utf8');
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
  }
  return out;
}

test('one etcdctl put reaches three hosts; etcd down, they keep serving through a restart; its change meanwhile is applied when back', async (t) => {
  const etcd = await startEtcd(t);
  const app = await upstream(t, 'app');
  const hosts = [];
  for (let i = 0; i < 3; i++) {
    const fm = await startFlagman(t, maintenanceConfig(), { vars: { app: app.port } });
    const sync = await startSync(t, { flagsDir: fm.flagsDir, endpoint: etcd.endpoint, prefix: PREFIX });
    hosts.push({ fm, sync });
  }
  for (const { fm } of hosts) t.is(await answer(fm), 200);
  const start = hosts[0].sync.events.find((e) => e.event === 'sync.start');
  t.like(start, { endpoint: etcd.endpoint, prefix: PREFIX, dir: hosts[0].fm.flagsDir });

  await etcd.put(`${PREFIX}MAINT`, '1');
  for (const { fm } of hosts) await fm.waitFlag('MAINT', 1, { timeout: 10_000 });
  for (const { fm } of hosts) t.is(await answer(fm), 503, 'every host routes to maintenance');

  // etcd gone: each sync says so, and the flags keep their values.
  await etcd.kill('SIGKILL');
  for (const { sync } of hosts) await sync.waitEvent((e) => e.event === 'sync.problem' && e.problem !== null, { timeout: 20_000 });
  // A restart of flagman itself while etcd is down: it starts on the mirrored files.
  const first = hosts[0];
  first.fm.proc.kill('SIGTERM');
  await first.fm.exited;
  first.fm = await startFlagman(t, maintenanceConfig(), { dir: first.fm.dir, vars: { app: app.port } });
  for (const { fm } of hosts) t.is(await answer(fm), 503, 'still in maintenance with etcd down');

  // etcd back, and a change made there while every sync still waits to retry (each held with
  // SIGSTOP, so none can be watching yet): the listing each makes when it reconnects applies it.
  const marks = hosts.map(({ sync }) => sync.events.length);
  for (const { sync } of hosts) process.kill(sync.pid, 'SIGSTOP');
  try {
    await etcd.restart();
    await etcd.put(`${PREFIX}MAINT`, '0');
  } finally {
    for (const { sync } of hosts) process.kill(sync.pid, 'SIGCONT');
  }
  for (const [i, { fm, sync }] of hosts.entries()) {
    const resync = await sync.waitEvent((e) => e.event === 'sync.resync', { from: marks[i], timeout: 30_000 });
    t.is(resync.wrote, 1, 'the listing after the outage wrote the change');
    await sync.waitEvent((e) => e.event === 'sync.problem' && e.problem === null, { from: marks[i], timeout: 10_000 });
    await fm.waitFlag('MAINT', 0, { timeout: 10_000 });
    t.is(await answer(fm), 200);
  }
  // `flagman status` shows the sync's line: in step, no problem.
  const status = await flagmanCli(['status', '-c', first.fm.configFile, '--admin', `127.0.0.1:${first.fm.adminPort}`]);
  t.is(status.exitCode, 0, status.stderr);
  const line = status.stdout.split('\n').find((l) => l.startsWith('sync '));
  t.regex(
    line ?? '',
    new RegExp(`^sync +etcd ${etcd.endpoint.replace(/[.]/g, '\\.')} ${PREFIX}, pid ${first.sync.pid}, revision \\d+ applied`),
  );
  t.notRegex(line ?? '', /PROBLEM|NOT RUNNING/);
});

test('a sync frozen while 50 keys change and 10 go catches up exactly, and never touches a hand-written flag', async (t) => {
  const etcd = await startEtcd(t);
  const flagsDir = tempDir(t);
  const initial = {};
  for (let i = 0; i < 60; i++) initial[`${PREFIX}f${i}`] = String(i);
  await etcd.putMany(initial);
  fs.writeFileSync(path.join(flagsDir, 'LOCAL'), '7 # by hand\n');
  fs.writeFileSync(path.join(flagsDir, 'f70'), '70\n'); // a hand-written flag, with a name etcd never has
  const sync = await startSync(t, { flagsDir, endpoint: etcd.endpoint, prefix: PREFIX });
  await waitFor(() => fs.existsSync(path.join(flagsDir, 'f59')), { what: 'the first listing' });
  const localStat = fs.statSync(path.join(flagsDir, 'LOCAL'));

  process.kill(sync.pid, 'SIGSTOP');
  try {
    const changes = {};
    for (let i = 0; i < 50; i++) changes[`${PREFIX}f${i}`] = String(1000 + i);
    await etcd.putMany(changes);
    for (let i = 50; i < 60; i++) await etcd.del(`${PREFIX}f${i}`);
  } finally {
    process.kill(sync.pid, 'SIGCONT');
  }
  const expected = { LOCAL: '7 # by hand\n', f70: '70\n' };
  for (let i = 0; i < 50; i++) expected[`f${i}`] = String(1000 + i);
  await waitFor(() => JSON.stringify(flagFiles(flagsDir)) === JSON.stringify(Object.fromEntries(Object.entries(expected).sort())), {
    timeout: 20_000,
    what: 'the flags directory to match etcd',
  });
  t.deepEqual(flagFiles(flagsDir), Object.fromEntries(Object.entries(expected).sort()));
  const after = fs.statSync(path.join(flagsDir, 'LOCAL'));
  t.is(after.ino, localStat.ino, 'the hand-written flag is the same file');
  t.is(after.mtimeMs, localStat.mtimeMs);

  // A new sync process (a restart) lists again: the same files, the hand-written ones kept.
  // SIGTERM ends it, at once and cleanly, mid-watch.
  sync.proc.kill('SIGTERM');
  const stopped = await Promise.race([sync.exited, new Promise((resolve) => setTimeout(resolve, scaled(3000), null))]);
  t.is(stopped?.exitCode, 0, 'flagman sync exits 0 within 3 s of SIGTERM');
  await etcd.del(`${PREFIX}f0`);
  const again = await startSync(t, { flagsDir, endpoint: etcd.endpoint, prefix: PREFIX });
  delete expected.f0;
  t.deepEqual(flagFiles(flagsDir), Object.fromEntries(Object.entries(expected).sort()));
  const ledger = JSON.parse(fs.readFileSync(path.join(flagsDir, LEDGER), 'utf8'));
  t.false(ledger.written.includes('LOCAL'));
  t.false(ledger.written.includes('f70'));
  t.is(ledger.written.length, 49);

  // SIGQUIT, nginx's graceful stop, ends it as cleanly: not Node's default action (a core dump).
  again.proc.kill('SIGQUIT');
  const quit = await Promise.race([again.exited, new Promise((resolve) => setTimeout(resolve, scaled(3000), null))]);
  t.like(quit, { exitCode: 0 }, 'flagman sync exits 0 within 3 s of SIGQUIT');
});

test('a key that is no flag name is skipped and reported; a value that is no number is latched by the proxy; nothing else is disturbed', async (t) => {
  const etcd = await startEtcd(t);
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, maintenanceConfig(), { vars: { app: app.port } });
  await etcd.put(`${PREFIX}MAINT`, '1');
  const sync = await startSync(t, { flagsDir: fm.flagsDir, endpoint: etcd.endpoint, prefix: PREFIX });
  await fm.waitFlag('MAINT', 1, { timeout: 10_000 });

  await etcd.put(`${PREFIX}bad/key`, '1');
  await etcd.put(`${PREFIX}9lives`, '1');
  const skipped = await sync.waitEvent((e) => e.event === 'sync.skipped' && e.key === `${PREFIX}9lives`, { timeout: 10_000 });
  t.regex(skipped.reason, /not a flag name/);
  await sync.waitEvent((e) => e.event === 'sync.skipped' && e.key === `${PREFIX}bad/key`);
  t.false(fs.existsSync(path.join(fm.flagsDir, 'bad')));
  t.false(fs.existsSync(path.join(fm.flagsDir, '9lives')));

  // Verbatim: the proxy's parser decides, and keeps the last good value.
  await etcd.put(`${PREFIX}MAINT`, 'yes please');
  const problem = await fm.waitEvent((e) => e.event === 'flag.problem' && e.flag === 'MAINT' && e.problem !== null, { timeout: 10_000 });
  t.truthy(problem.problem);
  t.is(fs.readFileSync(path.join(fm.flagsDir, 'MAINT'), 'utf8'), 'yes please');
  t.is(await answer(fm), 503, 'the last good value (1) still routes');

  // The sync went on: a valid change after them is applied.
  await etcd.put(`${PREFIX}MAINT`, '0');
  await fm.waitFlag('MAINT', 0, { timeout: 10_000 });
  t.is(await answer(fm), 200);
  const ledger = JSON.parse(fs.readFileSync(path.join(fm.flagsDir, LEDGER), 'utf8'));
  t.deepEqual(ledger.skipped.map((s) => s.key).sort(), [`${PREFIX}9lives`, `${PREFIX}bad/key`]);
  t.is(ledger.problem, null);
});

test('bad options are refused with the option named: no prefix, an endpoint that is no URL, an unreadable CA file', async (t) => {
  const dir = tempDir(t);
  const noPrefix = await flagmanCli(['sync', 'etcd', '-d', dir], { env: { FLAGMAN_SYNC_PREFIX: '' } });
  t.is(noPrefix.exitCode, 2);
  t.regex(noPrefix.stderr, /missing --prefix/);
  const badEndpoint = await flagmanCli(['sync', 'etcd', '-d', dir, '--prefix', PREFIX, '--endpoints', 'ftp://x']);
  t.is(badEndpoint.exitCode, 1);
  t.regex(badEndpoint.stderr, /SYNC_SOURCE: --endpoints: "ftp:\/\/x" is neither http:\/\/ nor https:\/\//);
  const badCa = await flagmanCli([
    'sync',
    'etcd',
    '-d',
    dir,
    '--prefix',
    PREFIX,
    '--endpoints',
    'https://127.0.0.1:1',
    '--cacert',
    '/nonexistent/ca.pem',
  ]);
  t.is(badCa.exitCode, 1);
  t.regex(badCa.stderr, /SYNC_SOURCE: --cacert: cannot be read \(ENOENT\) \(\/nonexistent\/ca\.pem\)/);
  const noDir = await flagmanCli(['sync', 'etcd', '-d', path.join(dir, 'missing'), '--prefix', PREFIX]);
  t.is(noDir.exitCode, 1);
  t.regex(noDir.stderr, /FLAG_DIR/);
  const unknown = await flagmanCli(['sync', 'consul', '-d', dir, '--prefix', PREFIX]);
  t.is(unknown.exitCode, 2);
  t.regex(unknown.stderr, /unknown source "consul"/);
});
