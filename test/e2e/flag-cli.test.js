// `flagman set` as an operator runs it: the file it leaves and the messages it prints, through the
// built CLI and a shell, without a running proxy.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { cli, sh, tempDir } from '../helpers/e2e.js';

function flagsDir(t) {
  const dir = path.join(tempDir(t), 'flags');
  fs.mkdirSync(dir, { mode: 0o750 });
  return dir;
}

test('flagman set writes a 0644 flag under a umask of 077', async (t) => {
  const dir = flagsDir(t);
  // The umask a root-run Ansible task or a hardened login shell may have.
  await sh(`umask 077 && "${process.execPath}" "${cli}" set X 3 -d "${dir}" && "${process.execPath}" "${cli}" set X 4 -d "${dir}"`);
  const st = fs.statSync(path.join(dir, 'X'));
  t.is((st.mode & 0o777).toString(8), '644');
  t.is(fs.readFileSync(path.join(dir, 'X'), 'utf8'), '4\n');
});
