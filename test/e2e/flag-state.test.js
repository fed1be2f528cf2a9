// A restart never changes a flag: the state file remembers every flag's last good value, so an
// emptied or invalid file reads after a restart as it did before, and `flagman get`/`list` read the
// same state and agree with the running proxy. Each test writes the flags as a shell would, stops
// flagman (SIGTERM), starts it again in the same folder, and compares what a client gets, /status,
// `get` and `list --json`.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { adminStatus, flagmanCli, request, sh, startFlagman, waitFor } from '../helpers/e2e.js';

const CONFIG = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
log: { access: off }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: flag("MAINT") > 0
        use: maintenance
      - use: open
backends:
  maintenance:
    respond: { status: 503, body: "maintenance\\n" }
  open:
    respond: { status: 200, body: "open\\n" }
`;

async function stop(fm) {
  fm.proc.kill('SIGTERM');
  const r = await fm.exited;
  if (r.exitCode !== 0) throw new Error(`flagman exited ${r.exitCode}`);
}

// Stops `fm` and starts flagman again on the same folder.
async function restart(t, fm) {
  await stop(fm);
  return startFlagman(t, CONFIG, { dir: fm.dir });
}

// The flag as every reader sees it: the proxy's routing, /status, `get`, `get --json`, `list --json`.
async function views(fm, name) {
  const status = await adminStatus(fm);
  const r = await request(fm.port);
  const get = await flagmanCli(['get', name, '-c', fm.configFile]);
  const getJson = await flagmanCli(['get', name, '--json', '-c', fm.configFile]);
  const list = await flagmanCli(['list', '--json', '-c', fm.configFile]);
  const listed = JSON.parse(list.stdout).find((f) => f.name === name);
  return {
    // Only MAINT steers the routing.
    routing: name !== 'MAINT' ? null : r.status === 503 ? 'maintenance' : 'open',
    status: status.flags[name]?.value ?? null,
    problem: status.flags[name]?.problem ?? null,
    get: get.stdout,
    getJson: JSON.parse(getJson.stdout).value,
    list: listed?.value ?? null,
  };
}

async function expectFlag(t, fm, name, value, { problem = null } = {}) {
  const v = await views(fm, name);
  t.deepEqual(
    { ...v, problem: v.problem === null ? null : 'some' },
    {
      routing: name !== 'MAINT' ? null : value > 0 ? 'maintenance' : 'open',
      status: value,
      problem: problem ? 'some' : null,
      get: value === null ? 'unset' : String(value),
      getJson: value,
      list: value,
    },
  );
}

const stateFile = (fm) => path.join(fm.dir, 'flagman.state.json');
const readState = (fm) => JSON.parse(fs.readFileSync(stateFile(fm), 'utf8'));

// Waits until the state file holds `value` for `name` (undefined: absent): the running proxy wrote it.
async function stateHolds(fm, name, value) {
  await waitFor(
    () => {
      try {
        return readState(fm).flags[name]?.value === value;
      } catch {
        return false;
      }
    },
    { what: `the state file to hold ${name}=${value}` },
  );
}

test('an emptied 0 stays 0 across a restart (without the state file it would read as touch = 1)', async (t) => {
  let fm = await startFlagman(t, CONFIG, { flags: { MAINT: '0\n' } });
  await stateHolds(fm, 'MAINT', 0);
  await sh(': > flags/MAINT', fm.dir);
  await expectFlag(t, fm, 'MAINT', 0);
  fm = await restart(t, fm);
  await expectFlag(t, fm, 'MAINT', 0);
  t.is(fs.readFileSync(path.join(fm.flagsDir, 'MAINT'), 'utf8'), '');
});

test('an emptied 1 stays 1 across a restart', async (t) => {
  let fm = await startFlagman(t, CONFIG, { flags: { MAINT: '0\n' } });
  const from = fm.events.length;
  await sh('echo 1 > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 1, { from });
  await stateHolds(fm, 'MAINT', 1);
  await sh(': > flags/MAINT', fm.dir);
  await expectFlag(t, fm, 'MAINT', 1);
  fm = await restart(t, fm);
  await expectFlag(t, fm, 'MAINT', 1);
});

test('echo abc over 1 keeps 1 across a restart, with the problem reported', async (t) => {
  let fm = await startFlagman(t, CONFIG, { flags: { MAINT: '1 # db migration\n' } });
  await stateHolds(fm, 'MAINT', 1);
  await sh('echo abc > flags/MAINT', fm.dir);
  await waitFor(async () => (await adminStatus(fm)).flags.MAINT?.problem, { what: 'the problem in /status' });
  await expectFlag(t, fm, 'MAINT', 1, { problem: true });
  fm = await restart(t, fm);
  await expectFlag(t, fm, 'MAINT', 1, { problem: true });
  t.is((await adminStatus(fm)).flags.MAINT.note, 'db migration');
  t.true(
    fm.events.some((e) => e.event === 'flag.problem' || (e.flag === 'MAINT' && e.problem)),
    'the problem is logged at start',
  );
});

test('a new empty file is still a touch (1), before and after a restart; rm while stopped unsets', async (t) => {
  let fm = await startFlagman(t, CONFIG, { flags: { OTHER: '5\n' } });
  const from = fm.events.length;
  await sh('touch flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 1, { from });
  await expectFlag(t, fm, 'MAINT', 1);
  await stateHolds(fm, 'MAINT', 1);
  await stop(fm);
  // Written while flagman is down: a new empty file, and a remembered flag's file removed.
  fs.writeFileSync(path.join(fm.flagsDir, 'NEW'), '');
  fs.rmSync(path.join(fm.flagsDir, 'OTHER'));
  fm = await startFlagman(t, CONFIG, { dir: fm.dir });
  await expectFlag(t, fm, 'MAINT', 1);
  await expectFlag(t, fm, 'OTHER', null);
  t.is((await adminStatus(fm)).flags.NEW?.value, 1);
  await stateHolds(fm, 'OTHER', undefined);
});

test('a deleted state file is reported and the flags start from their files alone', async (t) => {
  let fm = await startFlagman(t, CONFIG, { flags: { MAINT: '0\n' } });
  await stateHolds(fm, 'MAINT', 0);
  await sh(': > flags/MAINT', fm.dir);
  await stop(fm);
  fs.rmSync(stateFile(fm));
  fm = await startFlagman(t, CONFIG, { dir: fm.dir });
  const note = fm.events.find((e) => e.event === 'flags.state');
  t.regex(note.problem, /does not exist/);
  // No history: the empty file reads as a touch, and every reader says so alike.
  await expectFlag(t, fm, 'MAINT', 1);
  await stateHolds(fm, 'MAINT', 1);
});

test('a corrupt or foreign state file is reported, ignored, and never stops a start', async (t) => {
  let fm = await startFlagman(t, CONFIG, { flags: { MAINT: '1\n' } });
  await stateHolds(fm, 'MAINT', 1);
  await stop(fm);
  for (const [content, problem] of [
    ['{"format":"flagman flag state","version":1,"dir":"/x","fl', /not valid JSON/],
    [
      '{"format":"flagman flag state","version":1,"dir":"/elsewhere","flags":{"MAINT":{"value":0,"note":null,"changedAt":null}}}\n',
      /another flags directory/,
    ],
    ['{"some":"other program"}\n', /not a flagman flag state file/],
  ]) {
    fs.writeFileSync(stateFile(fm), content);
    const cli = await flagmanCli(['get', 'MAINT', '-c', fm.configFile]);
    t.is(cli.stdout, '1');
    fm = await startFlagman(t, CONFIG, { dir: fm.dir });
    const warning = fm.events.find((e) => e.event === 'flags.state');
    t.regex(warning.problem, problem);
    t.is(warning.level, 40);
    await expectFlag(t, fm, 'MAINT', 1);
    await stateHolds(fm, 'MAINT', 1); // and it is written anew
    await stop(fm);
  }
});

test('flags.state: off writes no state file; a path inside the flags directory is a config error', async (t) => {
  const fm = await startFlagman(t, CONFIG.replace('flags: { dir: ./flags }', 'flags: { dir: ./flags, state: off }'), {
    flags: { MAINT: '1\n' },
  });
  await expectFlag(t, fm, 'MAINT', 1);
  await stop(fm);
  t.false(fs.existsSync(stateFile(fm)));
  fs.writeFileSync(fm.configFile, CONFIG.replace('flags: { dir: ./flags }', 'flags: { dir: ./flags, state: ./flags/state.json }'));
  const check = await flagmanCli(['check', '-c', fm.configFile]);
  t.is(check.exitCode, 1);
  t.regex(
    check.stderr,
    /CONFIG_SCHEMA: flags\.state: the state file .*state\.json must not be inside the flags directory.* \(.*flagman\.yaml:2:\d+\)/,
  );
});
