// The etcd fixture of the etcd sync tests (test/helpers/etcd.js): a real etcd on 127.0.0.1, written
// with etcdctl; its data outlives a stop or a crash, and a failed start says why.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { etcdPutMany, startEtcd } from '../helpers/etcd.js';
import { tempDir } from '../helpers/e2e.js';

test('put, get and del through etcdctl, values exactly as written', async (t) => {
  const etcd = await startEtcd(t);
  t.regex(etcd.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.is(etcd.endpoint, `http://127.0.0.1:${etcd.clientPort}`);
  t.not(etcd.clientPort, etcd.peerPort);
  t.true(Number.isInteger(etcd.pid));
  t.is(await etcd.get('/flags/none'), null);
  // A leading '-' (no flag of etcdctl's), spaces, a trailing newline, the empty value.
  const values = { '/flags/a': '-1', '/flags/b': 'two words', '/flags/c': 'line\n', '/flags/d': '' };
  for (const [k, v] of Object.entries(values)) await etcd.put(k, v);
  for (const [k, v] of Object.entries(values)) t.is(await etcd.get(k), v, k);
  await etcd.del('/flags/a');
  t.is(await etcd.get('/flags/a'), null);
  await etcdPutMany(etcd.endpoint, { '/flags/e': '-e', '/flags/f': 'say "f"\n', '/flags/a': 'back' });
  t.deepEqual([await etcd.get('/flags/e'), await etcd.get('/flags/f'), await etcd.get('/flags/a')], ['-e', 'say "f"\n', 'back']);
});

test('stop then restart: same endpoint, a new process, the data kept', async (t) => {
  const etcd = await startEtcd(t);
  await etcd.put('/flags/kept', 'yes');
  const { endpoint, pid } = etcd;
  await etcd.stop();
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'stop() resolves once etcd has exited');
  await etcd.restart();
  t.is(etcd.endpoint, endpoint);
  t.not(etcd.pid, pid);
  t.is(await etcd.get('/flags/kept'), 'yes');
});

test('a crash (SIGKILL) then restart keeps every acknowledged write', async (t) => {
  const etcd = await startEtcd(t);
  await etcd.putMany([
    ['/flags/x', '1'],
    ['/flags/y', '2'],
  ]);
  await etcd.put('/flags/x', '3');
  await etcd.kill();
  await etcd.restart();
  t.deepEqual([await etcd.get('/flags/x'), await etcd.get('/flags/y')], ['3', '2']);
});

test("a start that fails rejects with etcd's stderr", async (t) => {
  const file = path.join(tempDir(t, 'flagman-etcd-bad-'), 'not-a-dir');
  fs.writeFileSync(file, 'x');
  const err = await t.throwsAsync(startEtcd(t, { dataDir: file }));
  t.regex(err.message, /etcd exited before it was healthy/);
  t.regex(err.message, /etcd's stderr \(tail\):\n.*not-a-dir/s);
});
