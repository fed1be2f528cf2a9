// A real etcd (Debian's etcd-server, 3.4) for the etcd sync tests: one member on 127.0.0.1 only,
// client and peer ports from freePort(), its data in a temp dir, killed by PID in teardown. Keys are
// written with etcdctl, as operators write them, not through the client under test.
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { execa } from './execa.js';
import { freePort, tempDir, waitFor } from './e2e.js';
import { scaled } from './slow.js';

/** How much of etcd's stderr is kept for failure messages: its tail is what explains a failure. */
const STDERR_KEPT = 16 * 1024;

/**
 * The environment for etcd and etcdctl: this one without ETCD_* and ETCDCTL_* (etcd refuses a flag
 * that an ETCD_ variable also sets, and a developer's ETCDCTL_ENDPOINTS would point elsewhere).
 */
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^ETCD(CTL)?_/.test(k)) env[k] = v;
  return { ...env, ETCDCTL_API: '3' };
}

/**
 * etcd's flags for one member named `t`; light and quiet: warnings only, a small quota, few
 * snapshots. With `tls`, the client port is https and asks every client for a certificate the CA signed.
 */
function etcdArgs({ dataDir, clientPort, peerPort, tls }) {
  const client = `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    '--name=t',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=t=${peer}`,
    '--initial-cluster-state=new',
    '--logger=zap',
    '--log-outputs=stderr',
    '--log-level=warn',
    `--quota-backend-bytes=${64 * 1024 * 1024}`,
    '--snapshot-count=10000',
    ...(tls ? [`--cert-file=${tls.cert}`, `--key-file=${tls.key}`, '--client-cert-auth', `--trusted-ca-file=${tls.ca}`] : []),
  ];
}

/** etcdctl's flags for the client certificate `tls.client` ({ cert, key }) and the CA. */
function tlsFlags(tls) {
  return tls ? [`--cacert=${tls.ca}`, `--cert=${tls.client.cert}`, `--key=${tls.client.key}`] : [];
}

/** GET `url` over https with the CA and client certificate of `tls`, as fetch would answer it. */
function httpsGet(url, tls) {
  return new Promise((resolve, reject) => {
    const ca = fs.readFileSync(tls.ca);
    const [cert, key] = [fs.readFileSync(tls.client.cert), fs.readFileSync(tls.client.key)];
    const req = https.get(url, { ca, cert, key, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ ok: res.statusCode === 200, json: async () => JSON.parse(body) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** True when etcd at `endpoint` answers /health with {"health":"true"} (it has a leader). */
async function healthy(endpoint, tls) {
  try {
    const res = tls ? await httpsGet(`${endpoint}/health`, tls) : await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(2000) });
    const body = await res.json();
    return res.ok && body.health === 'true';
  } catch {
    return false; // not listening yet, or no leader yet
  }
}

/** Runs etcdctl against `endpoint` with `args` (and `flags`: TLS, user); rejects with its stderr when it fails. */
async function etcdctl(endpoint, args, { input, flags = [] } = {}) {
  const timeout = `--command-timeout=${Math.ceil(scaled(10_000) / 1000)}s`;
  const r = await execa('etcdctl', [`--endpoints=${endpoint}`, timeout, ...flags, ...args], {
    env: cleanEnv(),
    extendEnv: false,
    reject: false,
    input,
    stdin: input === undefined ? 'ignore' : undefined,
  });
  if (r.exitCode !== 0) throw new Error(`etcdctl ${args.join(' ')} failed (${r.exitCode ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

/**
 * Writes `pairs` ([key, value] lists, or an object) in transactions of up to 128 puts (etcd's
 * default --max-txn-ops): each transaction is one revision, as a watcher sees it. Keys and values
 * are quoted (etcdctl txn unquotes Go-style strings, which JSON's are), and `--` keeps a value that
 * starts with '-' from being read as a flag.
 */
export async function etcdPutMany(endpoint, pairs, { flags = [] } = {}) {
  const list = Array.isArray(pairs) ? pairs : Object.entries(pairs);
  for (let i = 0; i < list.length; i += 128) {
    const ops = list.slice(i, i + 128).map(([k, v]) => `put -- ${JSON.stringify(String(k))} ${JSON.stringify(String(v))}`);
    // No compares (empty first block), the puts on success, no failure ops.
    const out = await etcdctl(endpoint, ['txn'], { input: `\n${ops.join('\n')}\n\n\n`, flags });
    if (!out.startsWith('SUCCESS')) throw new Error(`etcdctl txn did not succeed: ${out}`);
  }
}

/**
 * Starts etcd and resolves once it is healthy (30 s, scaled: a loaded machine is slow to elect).
 * Without given ports, a port taken between freePort() and etcd's bind is retried with new ones.
 * `tls` ({ ca, cert, key, client: { cert, key } }, files): an https client port that requires a
 * client certificate signed by `ca`; etcdctl and the health check present `client`. `user`
 * ("name:password", settable later, once etcd's auth is enabled) is what etcdctl logs in as.
 */
export async function startEtcd(t, { dataDir, clientPort, peerPort, tls } = {}) {
  const dir = dataDir ?? tempDir(t, 'flagman-etcd-');
  const fixedPorts = clientPort !== undefined || peerPort !== undefined;
  let stderr = '';
  let proc = null;
  let exited = null;
  const tail = () => (stderr ? `\netcd's stderr (tail):\n${stderr.slice(-4000)}` : '\n(etcd wrote nothing on stderr)');

  const self = {
    dataDir: dir,
    clientPort,
    peerPort,
    endpoint: '',
    user: null,
    get pid() {
      return proc?.pid;
    },
    /** What etcd wrote on stderr so far (its tail, STDERR_KEPT bytes). */
    stderr: () => stderr,
    /** etcdctl `args` against this etcd, with its TLS flags and user; resolves with its stdout. */
    ctl: (args, { input } = {}) => etcdctl(self.endpoint, args, { input, flags: ctlFlags() }),
    put: (key, value) => self.ctl(['put', '--', key, value]).then(() => undefined),
    del: (key) => self.ctl(['del', '--', key]).then(() => undefined),
    /** The value of `key` (a string), or null when there is none. */
    async get(key) {
      // JSON, whose values are base64: exact bytes, where the simple output cannot tell a value's
      // trailing newline from its own.
      const out = JSON.parse(await self.ctl(['get', '-w', 'json', '--', key]));
      const kv = out.kvs?.[0];
      return kv ? Buffer.from(kv.value ?? '', 'base64').toString('utf8') : null;
    },
    putMany: (pairs) => etcdPutMany(self.endpoint, pairs, { flags: ctlFlags() }),
    /** SIGTERM, then waits for etcd to exit. */
    stop: () => self.kill('SIGTERM'),
    /** Sends `signal` (SIGKILL: a crash), then waits for etcd to exit; SIGKILL if it has not in 10 s (scaled). */
    async kill(signal = 'SIGKILL') {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), scaled(10_000));
      await exited;
      clearTimeout(timer);
    },
    /** Starts it again on the same data dir and ports (after stop() or kill()); waits until healthy. */
    async restart() {
      await self.kill('SIGKILL');
      await launch();
    },
  };

  const ctlFlags = () => [...tlsFlags(tls), ...(self.user === null ? [] : [`--user=${self.user}`])];

  async function launch() {
    stderr = '';
    proc = execa('etcd', etcdArgs({ dataDir: dir, clientPort: self.clientPort, peerPort: self.peerPort, tls }), {
      env: cleanEnv(),
      extendEnv: false,
      reject: false,
      buffer: false,
      stdin: 'ignore',
      stdout: 'ignore',
    });
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-STDERR_KEPT);
    });
    exited = proc.then((r) => r);
    const endpoint = self.endpoint;
    const exit = exited.then((r) => {
      throw new Error(`etcd exited before it was healthy (${r.exitCode ?? r.signal}) on ${endpoint}${tail()}`);
    });
    // Once the race is decided (etcd exited), the polling ends too: left running it would poll
    // /health every 10 ms for the rest of its 30 s, keeping the test file's process alive that long.
    let decided = false;
    try {
      await Promise.race([
        waitFor(() => decided || healthy(endpoint, tls), { timeout: 30_000, what: `etcd healthy on ${endpoint}` }),
        exit,
      ]);
    } catch (err) {
      await self.kill('SIGKILL');
      err.message += err.message.includes("etcd's stderr") ? '' : tail();
      throw err;
    } finally {
      decided = true;
      exit.catch(() => {}); // a later exit (stop, kill) is no failure
    }
  }

  // Registered after tempDir's removal, so it runs first (ava runs teardowns last in, first out).
  t.teardown(() => self.kill('SIGKILL'));
  for (let attempt = 1; ; attempt++) {
    self.clientPort = clientPort ?? (await freePort());
    do self.peerPort = peerPort ?? (await freePort());
    while (peerPort === undefined && self.peerPort === self.clientPort);
    self.endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${self.clientPort}`;
    try {
      await launch();
      return self;
    } catch (err) {
      if (fixedPorts || attempt >= 3 || !/address already in use/.test(err.message)) throw err;
      // A member dir written with the taken ports would name them again: start afresh, if ours.
      if (dataDir === undefined) fs.rmSync(path.join(dir, 'member'), { recursive: true, force: true });
    }
  }
}
