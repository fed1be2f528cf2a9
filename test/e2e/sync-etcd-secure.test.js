// `flagman sync etcd` (docs/fleet.md) against an etcd that asks what production etcds ask: https
// with client certificates signed by its CA, and etcd's users and roles. Each credential is taken
// from its flag or from the variable etcdctl reads; a credential etcd refuses is told as a
// sync.problem, writes no flag, and the sync keeps trying until etcd accepts it.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { tempDir, waitFor } from '../helpers/e2e.js';
import { testCA } from '../helpers/certs.js';
import { startEtcd } from '../helpers/etcd.js';
import { startSync } from '../helpers/sync.js';
import { scaled } from '../helpers/slow.js';

const PREFIX = '/flagman/prod/flags/';

/**
 * A CA, etcd's server certificate (for https://127.0.0.1) and client certificates, all from
 * openssl: `client` without a CommonName (with etcd's auth on, its gateway refuses a client whose
 * certificate has one), `namedClient` with one.
 */
async function certificates(t) {
  const dir = tempDir(t, 'flagman-etcd-certs-');
  const ca = await testCA(dir);
  const server = await ca.leaf('etcd', ['localhost', '127.0.0.1']);
  const client = await ca.leaf('client', []);
  const namedClient = await ca.leaf('named-client', ['flagman-sync']);
  return { ca: ca.ca, cert: server.cert, key: server.key, client, namedClient };
}

/** The flag files of a directory (dotfiles aside: the sync's ledger), name → content. */
function flagFiles(dir) {
  const out = {};
  for (const name of fs.readdirSync(dir).sort()) if (!name.startsWith('.')) out[name] = fs.readFileSync(path.join(dir, name), 'utf8');
  return out;
}

const flagIs = (dir, name, value) =>
  waitFor(() => fs.existsSync(path.join(dir, name)) && fs.readFileSync(path.join(dir, name), 'utf8') === value, {
    timeout: 15_000,
    what: `${name} = ${value} in ${dir}`,
  });

test('https with client certificates: given by flags, or by ETCDCTL_* alone; without a client certificate a problem, no crash', async (t) => {
  const tls = await certificates(t);
  const etcd = await startEtcd(t, { tls });
  t.regex(etcd.endpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
  await etcd.put(`${PREFIX}MAINT`, '1');

  // (a) --cacert, --cert, --key.
  const byFlags = tempDir(t);
  const flagged = await startSync(t, {
    flagsDir: byFlags,
    endpoint: etcd.endpoint,
    prefix: PREFIX,
    args: ['--cacert', tls.ca, '--cert', tls.client.cert, '--key', tls.client.key],
  });
  t.deepEqual(flagFiles(byFlags), { MAINT: '1' }, 'the listing');

  // (b) The same from the environment etcdctl reads, and no option at all.
  const byEnv = tempDir(t);
  await startSync(t, {
    flagsDir: byEnv,
    endpoint: null,
    prefix: PREFIX,
    env: { ETCDCTL_ENDPOINTS: etcd.endpoint, ETCDCTL_CACERT: tls.ca, ETCDCTL_CERT: tls.client.cert, ETCDCTL_KEY: tls.client.key },
  });
  t.deepEqual(flagFiles(byEnv), { MAINT: '1' });

  // (d) The CA but no client certificate: etcd refuses the handshake.
  const noCert = tempDir(t);
  const refused = await startSync(t, {
    flagsDir: noCert,
    endpoint: etcd.endpoint,
    prefix: PREFIX,
    args: ['--cacert', tls.ca],
    wait: false,
  });
  const problem = await refused.waitEvent((e) => e.event === 'sync.problem' && e.problem !== null, { timeout: 15_000 });
  t.log(`without a client certificate: ${problem.problem}`);
  t.is(problem.endpoint, etcd.endpoint);
  // In words: OpenSSL's error queue (addresses, source files) left out.
  t.regex(problem.problem, /^TLS handshake: .*alert bad certificate \(ERR_SSL_/);
  t.notRegex(problem.problem, /\.c:\d+|^[0-9A-F]{8,}:error:/);

  // A put reaches both syncs that have certificates, through their watches.
  await etcd.put(`${PREFIX}MAINT`, '0');
  await flagIs(byFlags, 'MAINT', '0');
  await flagIs(byEnv, 'MAINT', '0');
  t.deepEqual(flagFiles(noCert), {}, 'no flag written without a client certificate');
  t.is(refused.proc.exitCode, null, 'still running, retrying');
  t.false(refused.events.some((e) => e.event === 'sync.resync'));

  // SIGTERM ends a sync that is watching, at once and cleanly.
  flagged.proc.kill('SIGTERM');
  const exit = await Promise.race([flagged.exited, new Promise((r) => setTimeout(() => r(null), scaled(5000)))]);
  t.is(exit?.exitCode, 0, 'a watching sync exits 0 on SIGTERM');
});

test("etcd's users: --user NAME:PASSWORD, or ETCDCTL_USER and ETCDCTL_PASSWORD; a wrong password is a problem, writes nothing, and is retried", async (t) => {
  const tls = await certificates(t);
  const etcd = await startEtcd(t, { tls });
  await etcd.put(`${PREFIX}MAINT`, '1');
  await etcd.put('/flagman/test/flags/MAINT', '7'); // another prefix, which the sync's role cannot read
  // root, and a user `sync` that may read the prefix and nothing else.
  await etcd.ctl(['user', 'add', 'root', '--new-user-password=root-pw', '--interactive=false']);
  await etcd.ctl(['role', 'add', 'flags-reader']);
  await etcd.ctl(['role', 'grant-permission', 'flags-reader', '--prefix=true', 'read', PREFIX]);
  await etcd.ctl(['user', 'add', 'sync', '--new-user-password=old-pw', '--interactive=false']);
  await etcd.ctl(['user', 'grant-role', 'sync', 'flags-reader']);
  await etcd.ctl(['auth', 'enable']);
  etcd.user = 'root:root-pw';
  const certArgs = ['--cacert', tls.ca, '--cert', tls.client.cert, '--key', tls.client.key];

  // (c) A password etcd refuses: told, nothing written, and tried again until etcd takes it.
  const wrongDir = tempDir(t);
  const wrong = await startSync(t, {
    flagsDir: wrongDir,
    endpoint: etcd.endpoint,
    prefix: PREFIX,
    args: [...certArgs, '--user', 'sync:new-pw'],
    wait: false,
  });
  const problem = await wrong.waitEvent((e) => e.event === 'sync.problem' && e.problem !== null, { timeout: 15_000 });
  t.log(`a wrong password: ${problem.problem}`);
  t.regex(problem.problem, /authenticat/, 'the problem names the authentication');
  t.regex(problem.problem, /invalid user ID or password/);
  t.deepEqual(flagFiles(wrongDir), {}, 'nothing written');
  t.is(wrong.proc.exitCode, null, 'still running');
  // The password it has becomes the right one: the sync, still trying, gets in.
  await etcd.ctl(['user', 'passwd', 'sync', '--interactive=false'], { input: 'new-pw\n' });
  await wrong.waitEvent((e) => e.event === 'sync.resync', { timeout: 20_000 });
  t.deepEqual(flagFiles(wrongDir), { MAINT: '1' });

  // --user NAME:PASSWORD.
  const byFlag = tempDir(t);
  await startSync(t, { flagsDir: byFlag, endpoint: etcd.endpoint, prefix: PREFIX, args: [...certArgs, '--user', 'sync:new-pw'] });
  t.deepEqual(flagFiles(byFlag), { MAINT: '1' });
  // ETCDCTL_USER with the password in ETCDCTL_PASSWORD.
  const byEnv = tempDir(t);
  await startSync(t, {
    flagsDir: byEnv,
    endpoint: etcd.endpoint,
    prefix: PREFIX,
    args: certArgs,
    env: { ETCDCTL_USER: 'sync', ETCDCTL_PASSWORD: 'new-pw' },
  });
  t.deepEqual(flagFiles(byEnv), { MAINT: '1' });

  // A client certificate with a CommonName: etcd's gateway refuses it with auth on, and says why.
  const namedDir = tempDir(t);
  const named = await startSync(t, {
    flagsDir: namedDir,
    endpoint: etcd.endpoint,
    prefix: PREFIX,
    args: ['--cacert', tls.ca, '--cert', tls.namedClient.cert, '--key', tls.namedClient.key, '--user', 'sync:new-pw'],
    wait: false,
  });
  const refused = await named.waitEvent((e) => e.event === 'sync.problem' && e.problem !== null, { timeout: 15_000 });
  t.regex(refused.problem, /HTTP 400: CommonName of client sending a request against gateway will be ignored/);
  t.deepEqual(flagFiles(namedDir), {});

  // Watched changes reach all three.
  await etcd.put(`${PREFIX}MAINT`, '0');
  for (const dir of [wrongDir, byFlag, byEnv]) await flagIs(dir, 'MAINT', '0');
});
