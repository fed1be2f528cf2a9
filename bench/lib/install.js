// Makes sure the Debian tools the bench drives are installed: for each missing command, one
// `apt-get install` of its package (after one `apt-get update`). Idempotent; says what it does.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

/** command → Debian package */
export const TOOLS = {
  haproxy: 'haproxy',
  nginx: 'nginx',
  wrk: 'wrk',
  strace: 'strace',
  taskset: 'util-linux',
  h2load: 'nghttp2-client',
  openssl: 'openssl',
  'systemd-socket-activate': 'systemd',
  heaptrack: 'heaptrack',
};

/** True when `cmd` is on PATH (or in /usr/sbin, where nginx and haproxy live). */
export function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd} || test -x /usr/sbin/${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * `apt-get update`, then `apt-get install` of `pkgs` (sudo unless root), noninteractive; `log` gets
 * each command. Throws on failure. On a machine with an init system Debian also starts the packages'
 * own services (nginx on :80); the bench never uses them: it runs its own copies on ports it picks,
 * in the foreground.
 */
function aptInstall(pkgs, log) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const asRoot = process.getuid?.() === 0 ? [] : ['sudo'];
  for (const args of [
    ['apt-get', 'update', '-qq'],
    ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...pkgs],
  ]) {
    log(`tools: ${[...asRoot, ...args].join(' ')}`);
    const r = spawnSync(asRoot[0] ?? args[0], asRoot.length ? args : args.slice(1), {
      stdio: ['ignore', 'ignore', 'inherit'],
      env,
      timeout: 600_000,
    });
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status ?? r.signal ?? r.error})`);
  }
}

/** Installs the packages of the missing `commands`; `log` gets one line per step. Throws on failure. */
export function ensureTools(commands, log = (m) => console.error(m)) {
  const missing = commands.filter((c) => !have(c));
  if (missing.length === 0) {
    log(`tools: ${commands.join(', ')} already installed`);
    return;
  }
  aptInstall([...new Set(missing.map((c) => TOOLS[c] ?? c))], log);
  const still = missing.filter((c) => !have(c));
  if (still.length) throw new Error(`still missing after apt-get install: ${still.join(', ')}`);
}

/** One-line versions of the tools, for the results header. */
export function versions() {
  const first = (cmd, args, re) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
    const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    const m = re.exec(text);
    return m ? m[1] : null;
  };
  return {
    node: process.version,
    haproxy: first('haproxy', ['-v'], /version (\S+)/),
    nginx: first('nginx', ['-v'], /nginx\/(\S+)/),
    wrk: first('wrk', ['-v'], /wrk (\S+)/),
    strace: first('strace', ['-V'], /version (\S+)/),
    h2load: first('h2load', ['--version'], /nghttp2\/(\S+)/),
    openssl: first('openssl', ['version'], /OpenSSL (\S+)/),
  };
}

/** Installs Debian package `pkg` (after one `apt-get update`) when `file`, one it ships, is missing; `log` as ensureTools. Throws on failure. */
export function ensurePackageFile(pkg, file, log = (m) => console.error(m)) {
  if (fs.existsSync(file)) return;
  aptInstall([pkg], log);
  if (!fs.existsSync(file)) throw new Error(`${file} still missing after apt-get install ${pkg}`);
}
