// `flagman set` as an operator runs it: the file it leaves and the messages it prints, through the
// built CLI and a shell, without a running proxy.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { flagmanCli, flagmanCommand, sh, tempDir } from '../helpers/e2e.js';

function flagsDir(t) {
  const dir = path.join(tempDir(t), 'flags');
  fs.mkdirSync(dir, { mode: 0o750 });
  return dir;
}

test('flagman set writes a 0644 flag under a umask of 077', async (t) => {
  const dir = flagsDir(t);
  // The umask a root-run Ansible task or a hardened login shell may have.
  const flagman = flagmanCommand.map((a) => `"${a}"`).join(' ');
  await sh(`umask 077 && ${flagman} set X 3 -d "${dir}" && ${flagman} set X 4 -d "${dir}"`);
  const st = fs.statSync(path.join(dir, 'X'));
  t.is((st.mode & 0o777).toString(8), '644');
  t.is(fs.readFileSync(path.join(dir, 'X'), 'utf8'), '4\n');
});

test('flagman set refuses a value outside the safe range, quoting it as typed', async (t) => {
  const dir = flagsDir(t);
  for (const typed of ['99999999999999999999', '-9007199254740992', '+00009007199254740992']) {
    const r = await flagmanCli(['set', '-d', dir, '--', 'BIG', typed]);
    t.is(r.exitCode, 1, typed);
    t.true(r.stderr.includes(`"${typed}"`), r.stderr);
    t.true(r.stderr.includes('-9007199254740991..9007199254740991'), r.stderr);
    // Not the number JavaScript reads it as (99999999999999999999 becomes 100000000000000000000).
    t.false(r.stderr.replace(`"${typed}"`, '').includes(String(Number(typed)).replace(/^-/, '')), r.stderr);
  }
  t.deepEqual(fs.readdirSync(dir), []);
  const max = await flagmanCli(['set', 'BIG', '9007199254740991', '-d', dir]);
  t.is(max.exitCode, 0, max.stderr);
  t.is(fs.readFileSync(path.join(dir, 'BIG'), 'utf8'), '9007199254740991\n');
});
