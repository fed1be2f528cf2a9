// `npm test` on a fresh Debian machine: its pretest (scripts/test-tools.js) finds the system tools
// the tests run, or installs them as root with apt-get, or names the command that would. Shown with
// a PATH from which the tools are hidden and an apt-get stub that records its calls and "installs"
// stubs of the tools: the real apt-get is never run here. And CI runs the README's commands only.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { TOOLS } from '../../scripts/test-tools.js';
import { root, tempDir } from '../helpers/e2e.js';

const script = path.join(root, 'scripts/test-tools.js');
const asRoot = process.getuid() === 0;
const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p));
// Installing is for root only: elsewhere there is nothing of it to show.
const rootTest = asRoot ? test : test.skip;

// What each Debian package puts on PATH, as far as the tests go.
const PROVIDES = {
  chromium: ['chromium'],
  'ansible-core': ['ansible-playbook'],
  systemd: ['systemd-analyze', 'systemd-socket-activate'],
  openssl: ['openssl'],
  curl: ['curl'],
  jq: ['jq'],
  'etcd-server': ['etcd'],
  'etcd-client': ['etcdctl'],
};

/**
 * A PATH with everything of this one but `hide` (and apt-get): a dir of symlinks to every other
 * command. Then `stub/`, where a fake apt-get records each call (its arguments, and its
 * DEBIAN_FRONTEND) in `calls` and, for `install`, writes an executable stub of each command of the
 * packages named. The dirs are world-readable, for a run as nobody.
 */
function fakeSystem(t, hide) {
  const dir = tempDir(t, 'flagman-tools-');
  fs.chmodSync(dir, 0o755);
  const bin = path.join(dir, 'bin');
  const stub = path.join(dir, 'stub');
  fs.mkdirSync(bin);
  fs.mkdirSync(stub);
  const hidden = new Set([...hide, 'apt-get']);
  for (const from of process.env.PATH.split(path.delimiter)) {
    let names;
    try {
      names = fs.readdirSync(from);
    } catch {
      continue;
    }
    for (const name of names) {
      const link = path.join(bin, name);
      if (!hidden.has(name) && !fs.existsSync(link)) fs.symlinkSync(path.join(from, name), link);
    }
  }
  const calls = path.join(dir, 'calls');
  const cases = Object.entries(PROVIDES)
    .map(
      ([pkg, commands]) =>
        `      ${pkg}) for c in ${commands.join(' ')}; do printf '#!/bin/sh\\necho stub\\n' > "${stub}/$c"; chmod 755 "${stub}/$c"; done ;;`,
    )
    .join('\n');
  fs.writeFileSync(
    path.join(stub, 'apt-get'),
    `#!/bin/sh
echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> "${calls}"
if [ "$1" = install ]; then
  for p in "$@"; do
    case "$p" in
${cases}
    esac
  done
fi
`,
    { mode: 0o755 },
  );
  const recorded = () => (fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean) : []);
  return { PATH: [bin, stub].join(path.delimiter), stub, recorded };
}

/** Runs the pretest script with `PATH`, as `prefix` says (e.g. setpriv to nobody). */
function pretest(PATH, { prefix = [], env = {} } = {}) {
  const command = [...prefix, process.execPath, script];
  return execa(command[0], command.slice(1), { env: { PATH, ...env }, extendEnv: false, reject: false, cwd: root });
}

const ALL = TOOLS.map((tool) => tool.command);

rootTest(
  'as root, tools missing from PATH are installed with one apt-get update and one noninteractive install; a second run asks apt nothing',
  async (t) => {
    const sys = fakeSystem(t, ALL);
    const r = await pretest(sys.PATH);
    t.is(r.exitCode, 0, r.stderr);
    t.deepEqual(sys.recorded(), [
      'DEBIAN_FRONTEND=noninteractive update',
      'DEBIAN_FRONTEND=noninteractive install -y --no-install-recommends chromium ansible-core systemd openssl curl jq etcd-server etcd-client',
    ]);
    for (const command of ALL) t.true(fs.existsSync(path.join(sys.stub, command)), command);
    t.regex(r.stderr, /installing chromium ansible-core systemd openssl curl jq etcd-server etcd-client/);
    const again = await pretest(sys.PATH);
    t.is(again.exitCode, 0, again.stderr);
    t.is(again.stderr, '');
    t.is(sys.recorded().length, 2, 'no apt-get call when every tool is there');
  },
);

rootTest('as root, only the packages of the missing tools are installed', async (t) => {
  const sys = fakeSystem(t, ['curl', 'systemd-socket-activate']);
  const r = await pretest(sys.PATH);
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(sys.recorded(), [
    'DEBIAN_FRONTEND=noninteractive update',
    'DEBIAN_FRONTEND=noninteractive install -y --no-install-recommends systemd curl',
  ]);
});

rootTest('as root, an install that does not bring the tool fails, naming it', async (t) => {
  const sys = fakeSystem(t, ['openssl']);
  fs.writeFileSync(path.join(sys.stub, 'apt-get'), '#!/bin/sh\nexit 0\n', { mode: 0o755 }); // installs nothing
  const r = await pretest(sys.PATH);
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /still not on PATH after apt-get install: openssl/);
});

/** The message when nothing is installed: the tools, and the one command that installs them. */
function assertTold(t, r, recorded, sudo) {
  t.is(r.exitCode, 1);
  t.deepEqual(recorded, [], 'apt-get was not run');
  t.regex(r.stderr, /tools the tests run are not on PATH:\n {2}chromium \(Debian package chromium\): the dashboard tests/);
  const p = sudo ? 'sudo ' : '';
  t.true(
    r.stderr.endsWith(
      `\n  ${p}apt-get update && ${p}apt-get install -y --no-install-recommends chromium ansible-core systemd openssl curl jq etcd-server etcd-client`,
    ),
    r.stderr,
  );
}

test('not root: nothing is installed; the run stops, printing the exact command (with sudo)', async (t) => {
  const sys = fakeSystem(t, ALL);
  // As root, flagman's tests drop to nobody for this (setpriv); anyone else is not root already.
  if (asRoot && !setpriv) return t.fail('setpriv (util-linux) is needed to run as nobody');
  const prefix = asRoot ? [setpriv, '--reuid=nobody', '--regid=nogroup', '--clear-groups'] : [];
  const r = await pretest(sys.PATH, { prefix });
  assertTold(t, r, sys.recorded(), true);
});

test('FLAGMAN_TEST_TOOLS=check: only checks, even as root', async (t) => {
  const sys = fakeSystem(t, ALL);
  const r = await pretest(sys.PATH, { env: { FLAGMAN_TEST_TOOLS: 'check' } });
  assertTold(t, r, sys.recorded(), !asRoot);
});

test('every tool present: exit 0, nothing printed, apt-get never called', async (t) => {
  const sys = fakeSystem(t, []);
  for (const command of ALL) fs.writeFileSync(path.join(sys.stub, command), '#!/bin/sh\n', { mode: 0o755 });
  const r = await pretest(sys.PATH);
  t.deepEqual([r.exitCode, r.stdout, r.stderr, sys.recorded()], [0, '', '', []]);
});

test('package.json runs the script before the tests (pretest)', (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  t.is(pkg.scripts.pretest, 'node scripts/test-tools.js');
});

/** The commands of a ```sh block's lines (comments dropped, `a && b` split), in order. */
const commandsOf = (lines) =>
  lines
    .flatMap((line) => line.replace(/#.*/, '').split('&&'))
    .map((c) => c.trim())
    .filter(Boolean);

/** The lines of the first ```sh block after `heading` in the README. */
function readmeBlock(heading) {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const from = readme.indexOf(`\n${heading}\n`);
  const start = readme.indexOf('```sh\n', from) + '```sh\n'.length;
  return readme.slice(start, readme.indexOf('```', start)).split('\n');
}

test(".ci/run runs the README's test commands and nothing else", (t) => {
  const quickStart = commandsOf(readmeBlock('## Quick start').filter((line) => line.includes('# the test suite')));
  t.deepEqual(quickStart, ['npm install', 'npm test']);
  t.deepEqual(commandsOf(readmeBlock('## Development')).slice(0, 2), quickStart);
  const run = fs.readFileSync(path.join(root, '.ci/run'), 'utf8').split('\n').slice(1); // after the #!
  // The shell's own set-up and the node version in the log are not commands of the README.
  const setup = ['set -euo pipefail', 'cd "$(dirname "$0")/.."', 'node --version'];
  t.deepEqual(
    commandsOf(run).filter((c) => !setup.includes(c)),
    quickStart,
  );
});
