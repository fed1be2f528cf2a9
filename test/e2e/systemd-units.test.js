// The systemd units (docs/systemd.md) as systemd itself judges them: `systemd-analyze verify` accepts them,
// `systemd-analyze security --offline=true` rates flagman.service and flagman-sync.service OK
// (exposure at most 2.0), and the commands the unit runs to start and reload do what the unit says.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { DEFAULTS } from '../../dist/config/schema.js';
import { root, startFlagman, tempDir, upstream } from '../helpers/e2e.js';
import { INSTALLED, flagmanExecutable, localize, unitValues } from '../helpers/units.js';

const UNITS = [
  'systemd/flagman.service',
  'systemd/flagman.socket',
  'systemd/flagman-sync.service',
  'systemd/examples/flagman-maint-on.service',
  'systemd/examples/flagman-maint-on.timer',
  'systemd/examples/flagman-maint-off.service',
  'systemd/examples/flagman-maint-off.timer',
];

async function systemdAnalyze(t, args) {
  const r = await execa('systemd-analyze', args, { reject: false, all: true, env: { SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' } });
  if (r.failed && r.code === 'ENOENT') t.fail('systemd-analyze is missing: apt-get install systemd (npm test does, as root)');
  return r;
}

// verify insists that each Exec binary exists and is executable. No flagman is installed at
// /usr/local/bin here, and a test must not install one system-wide: the units are verified from a
// temp copy whose flagman path points at an executable that runs this checkout.
function localUnits(t) {
  const dir = tempDir(t, 'flagman-units-');
  const bin = flagmanExecutable(t);
  for (const unit of UNITS) {
    fs.writeFileSync(path.join(dir, path.basename(unit)), localize(fs.readFileSync(path.join(root, unit), 'utf8'), bin));
  }
  return { dir, files: UNITS.map((u) => path.join(dir, path.basename(u))) };
}

/** The "Overall exposure level" line of `systemd-analyze security --offline=true`, parsed. */
async function exposure(t, file) {
  const r = await systemdAnalyze(t, ['security', '--offline=true', '--no-pager', file]);
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?) (\w+)/.exec(r.all);
  if (m === null) t.fail(`no exposure level in:\n${r.all}`);
  return { level: Number(m[1]), rating: m[2] };
}

test('systemd-analyze verify accepts flagman.service, flagman.socket, flagman-sync.service and the maintenance-window timers', async (t) => {
  const { files } = localUnits(t);
  const r = await systemdAnalyze(t, ['verify', ...files]);
  t.is(r.exitCode, 0, r.all);
  t.is(r.all.trim(), '', 'not one warning');
  for (const unit of UNITS.filter((u) => u.endsWith('.service'))) {
    t.true(unitValues(unit, 'ExecStart')[0].startsWith(`${INSTALLED} `), `${unit} runs ${INSTALLED}`);
  }
});

test('systemd-analyze security --offline=true rates flagman.service OK, exposure at most 2.0, with MemoryDenyWriteExecute off', async (t) => {
  const { level, rating } = await exposure(t, path.join(root, 'systemd/flagman.service'));
  t.log(`flagman.service: exposure ${level} ${rating}`);
  t.true(level <= 2.0, `exposure ${level}`);
  t.true(['OK', 'SAFE'].includes(rating), rating);
  t.deepEqual(unitValues('systemd/flagman.service', 'MemoryDenyWriteExecute'), [], 'V8 writes machine code at run time');
  t.deepEqual(unitValues('systemd/flagman.service', 'ProtectSystem'), ['strict']);
  t.deepEqual(
    unitValues('systemd/flagman.service', 'ReadWritePaths'),
    ['/etc/flagman/flags'],
    'the flags directory is the one writable path besides the state directory',
  );
  t.deepEqual(unitValues('systemd/flagman.service', 'StateDirectory'), ['flagman'], "the flags' state file: /var/lib/flagman/flags.json");
  for (const unit of ['systemd/examples/flagman-maint-on.service', 'systemd/examples/flagman-maint-off.service']) {
    const timerService = await exposure(t, path.join(root, unit));
    t.log(`${path.basename(unit)}: exposure ${timerService.level} ${timerService.rating}`);
    t.true(timerService.level <= 2.0, `${unit}: exposure ${timerService.level}`);
    t.deepEqual(unitValues(unit, 'ReadWritePaths'), ['/etc/flagman/flags'], `${unit} may write the flags directory only`);
  }
});

test('systemd-analyze security --offline=true rates flagman-sync.service OK, exposure at most 2.0: a writer of the flags directory only', async (t) => {
  const unit = 'systemd/flagman-sync.service';
  const { level, rating } = await exposure(t, path.join(root, unit));
  t.log(`flagman-sync.service: exposure ${level} ${rating}`);
  t.true(level <= 2.0, `exposure ${level}`);
  t.true(['OK', 'SAFE'].includes(rating), rating);
  t.deepEqual(unitValues(unit, 'ProtectSystem'), ['strict']);
  t.deepEqual(unitValues(unit, 'ReadWritePaths'), ['/etc/flagman/flags'], 'the flags directory is its one writable path');
  t.deepEqual(unitValues(unit, 'StateDirectory'), [], 'its manifest is a dotfile in the flags directory');
  t.deepEqual(unitValues(unit, 'RestrictAddressFamilies'), ['AF_INET AF_INET6'], 'TCP out to etcd, nothing else');
  t.deepEqual(unitValues(unit, 'CapabilityBoundingSet'), ['']);
  t.deepEqual(unitValues(unit, 'MemoryDenyWriteExecute'), [], 'V8 writes machine code at run time');
});

test('flagman-sync.service runs `flagman sync etcd` as its own user, from sync.env, restarts always, and outlives the proxy', (t) => {
  const unit = 'systemd/flagman-sync.service';
  t.deepEqual(unitValues(unit, 'Type'), ['exec']);
  t.deepEqual(unitValues(unit, 'ExecStart'), [`${INSTALLED} sync etcd`]);
  t.deepEqual(unitValues(unit, 'User'), ['flagman-sync']);
  t.deepEqual(unitValues(unit, 'Group'), ['flagman'], 'reads /etc/flagman and the config, as the proxy does');
  t.deepEqual(unitValues(unit, 'SupplementaryGroups'), ['flagman-ops'], "writes the flags directory as its writers' group");
  t.deepEqual(unitValues(unit, 'EnvironmentFile'), ['/etc/flagman/sync.env']);
  t.deepEqual(unitValues(unit, 'Restart'), ['always']);
  t.deepEqual(unitValues(unit, 'Wants'), ['network-online.target']);
  for (const key of ['PartOf', 'BindsTo', 'Requires', 'Requisite']) {
    t.deepEqual(unitValues(unit, key), [], `no ${key}=: the sync runs while the proxy is stopped`);
  }
  t.false(unitValues(unit, 'After').join(' ').includes('flagman.service'), 'not ordered after the proxy');

  // The example sync.env sets only what the sync reads, and names every one of them.
  const names = [
    'ETCDCTL_ENDPOINTS',
    'ETCDCTL_CACERT',
    'ETCDCTL_CERT',
    'ETCDCTL_KEY',
    'ETCDCTL_USER',
    'ETCDCTL_PASSWORD',
    'FLAGMAN_SYNC_PREFIX',
  ];
  const lines = fs.readFileSync(path.join(root, 'systemd/examples/sync.env'), 'utf8').split('\n');
  for (const line of lines.filter((l) => l.trim() !== '' && !l.startsWith('#'))) {
    t.regex(line, /^[A-Z_]+=\S+$/, `a line systemd reads as one assignment: ${line}`);
    t.true(names.includes(line.slice(0, line.indexOf('='))), `${line}: a variable the sync reads`);
  }
  for (const name of names)
    t.true(
      lines.some((l) => l.replace(/^#/, '').startsWith(`${name}=`)),
      `${name} shown`,
    );
});

test('the units run one flagman with no PID file, stop after the shutdown timeout, and name the socket', (t) => {
  const service = 'systemd/flagman.service';
  t.deepEqual(unitValues(service, 'PIDFile'), []);
  t.deepEqual(unitValues(service, 'Type'), ['exec']);
  t.deepEqual(unitValues(service, 'ExecStart'), [`${INSTALLED} run`]);
  const [stop] = unitValues(service, 'TimeoutStopSec');
  t.true(
    Number(/^(\d+)s$/.exec(stop)?.[1]) * 1000 > DEFAULTS.timeouts.shutdown,
    `TimeoutStopSec=${stop} leaves flagman its shutdown timeout`,
  );
  t.deepEqual(unitValues('systemd/flagman.socket', 'FileDescriptorName'), ['web']);
  t.deepEqual(unitValues(service, 'Requires'), ['flagman.socket']);
});

test("the unit keeps Node's compile cache in a directory of its own, and a flagman started with it fills it", async (t) => {
  const service = 'systemd/flagman.service';
  t.deepEqual(unitValues(service, 'CacheDirectory'), ['flagman']);
  t.true(unitValues(service, 'Environment').includes('NODE_COMPILE_CACHE=%C/flagman'));
  // Node 20 has no compile cache and ignores the variable.
  if (Number(process.versions.node.split('.')[0]) < 22) return;
  const cache = tempDir(t, 'flagman-cache-');
  const fm = await startFlagman(
    t,
    `
flags: { dir: ./flags }
frontends:
  web: { listen: ["127.0.0.1:0"], rules: [{ use: hello }] }
backends:
  hello: { respond: { status: 200, body: "hi" } }
`,
    { env: { NODE_COMPILE_CACHE: cache } },
  );
  fm.proc.kill('SIGTERM');
  t.is((await fm.exited).exitCode, 0);
  const files = fs.readdirSync(cache, { recursive: true }).filter((f) => fs.statSync(path.join(cache, f)).isFile());
  t.true(files.length > 0, 'the cache holds the compiled code after a stop');
});

test("the unit's ExecStartPre refuses a broken config, and its ExecReload checks, then reloads the running flagman", async (t) => {
  const bin = flagmanExecutable(t);
  const service = 'systemd/flagman.service';
  t.deepEqual(unitValues(service, 'ExecStartPre'), [`${INSTALLED} check`]);
  t.deepEqual(unitValues(service, 'ExecReload'), [`${INSTALLED} check`, '/bin/kill -HUP $MAINPID']);
  const app = await upstream(t, 'app');
  const fm = await startFlagman(
    t,
    `
flags: { dir: ./flags }
frontends:
  web: { listen: ["127.0.0.1:0"], rules: [{ use: app }] }
backends:
  app: { servers: { app1: { address: "127.0.0.1:${app.port}" } } }
`,
  );
  // systemd runs each Exec line with the unit's Environment= and $MAINPID set; so does this.
  const env = { FLAGMAN_CONFIG: fm.configFile, MAINPID: String(fm.proc.pid) };
  const run = (line) => execa('sh', ['-c', localize(line, bin)], { env, reject: false });
  const [pre] = unitValues(service, 'ExecStartPre');
  t.is((await run(pre)).exitCode, 0);

  const from = fm.events.length;
  for (const line of unitValues(service, 'ExecReload')) t.is((await run(line)).exitCode, 0, line);
  const reload = await fm.waitEvent((e) => e.event === 'reload', { from });
  t.is(reload.trigger, 'SIGHUP');

  const broken = tempDir(t);
  fs.writeFileSync(path.join(broken, 'flagman.yaml'), 'frontends: { web: { listen: ["127.0.0.1:0"], rules: [{ use: nowhere }] } }\n');
  const failed = await execa('sh', ['-c', localize(pre, bin)], {
    env: { FLAGMAN_CONFIG: path.join(broken, 'flagman.yaml') },
    reject: false,
  });
  t.is(failed.exitCode, 1, 'ExecStartPre (and the first ExecReload line) stop a broken config before it is used');
  t.regex(failed.stderr, /flagman\.yaml:1:\d+/);
});
