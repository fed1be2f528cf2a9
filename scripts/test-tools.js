// `npm test`'s pretest: the system tools the tests run, looked up on PATH before any test starts.
// When some are missing and this process can install them (root, apt-get on PATH), it does, with one
// `apt-get update` and one `apt-get install`; otherwise it stops, printing the command that would.
// When every tool is there it asks nothing of apt: the check is a few stat calls.
// FLAGMAN_TEST_TOOLS=check: only check, never install (a developer machine that should stay as is).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Each command the tests run from PATH, the Debian packages that bring it, and what needs it. */
export const TOOLS = [
  { command: 'chromium', packages: ['chromium'], usedBy: 'the dashboard tests (driven by playwright-core)' },
  { command: 'ansible-playbook', packages: ['ansible-core'], usedBy: 'the Ansible recipe test' },
  { command: 'systemd-analyze', packages: ['systemd'], usedBy: 'the unit file tests' },
  { command: 'systemd-socket-activate', packages: ['systemd'], usedBy: 'the socket activation tests (PID 1 need not be systemd)' },
  { command: 'openssl', packages: ['openssl'], usedBy: 'the TLS tests (certificates made at test time)' },
  { command: 'curl', packages: ['curl'], usedBy: 'the TLS tests (HTTP/1.1 and HTTP/2)' },
  { command: 'jq', packages: ['jq'], usedBy: "the README's recipes that read /status and the access log" },
  { command: 'etcd', packages: ['etcd-server'], usedBy: 'the etcd sync tests' },
  { command: 'etcdctl', packages: ['etcd-client'], usedBy: 'the etcd sync tests' },
];

/** The file `command` runs as, looked up in `searchPath` the way a shell does; null when none is executable. */
export function onPath(command, searchPath = process.env.PATH ?? '') {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, command);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

const INSTALL = ['install', '-y', '--no-install-recommends'];

/** Checks, installs if it may; returns the exit status (0: every tool is on PATH). */
export function ensureTools({
  env = process.env,
  euid = process.geteuid?.() ?? -1,
  log = (line) => process.stderr.write(`${line}\n`),
} = {}) {
  const missing = TOOLS.filter((tool) => !onPath(tool.command, env.PATH));
  if (missing.length === 0) return 0;
  const packages = [...new Set(missing.flatMap((tool) => tool.packages))];
  const list = missing.map((tool) => `  ${tool.command} (Debian package ${tool.packages.join(', ')}): ${tool.usedBy}`).join('\n');
  const apt = onPath('apt-get', env.PATH);
  const root = euid === 0;
  if (!root || !apt || env.FLAGMAN_TEST_TOOLS === 'check') {
    const sudo = root ? '' : 'sudo ';
    log(
      `npm test: tools the tests run are not on PATH:\n${list}\nInstall them (Debian, Ubuntu), then run npm test again:\n  ${sudo}apt-get update && ${sudo}apt-get ${[...INSTALL, ...packages].join(' ')}`,
    );
    return 1;
  }
  log(`npm test: installing ${packages.join(' ')} with apt-get, for:\n${list}`);
  for (const args of [['update'], [...INSTALL, ...packages]]) {
    // stdin closed and a noninteractive frontend: nothing can stop to ask a question.
    const r = spawnSync(apt, args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) {
      log(`npm test: apt-get ${args.join(' ')} failed (${r.error?.message ?? (r.signal ? `signal ${r.signal}` : `exit ${r.status}`)})`);
      return 1;
    }
  }
  const still = missing.filter((tool) => !onPath(tool.command, env.PATH));
  if (still.length > 0) {
    log(`npm test: still not on PATH after apt-get install: ${still.map((tool) => tool.command).join(', ')} (PATH=${env.PATH})`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) process.exitCode = ensureTools();
