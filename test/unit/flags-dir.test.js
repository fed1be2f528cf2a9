// The flags directory's safety (README, "The flag rules"): world-writable is refused, except where the mount is
// read-only (a Kubernetes ConfigMap volume is mode 0777 but mounted read-only).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { inspectDir, worldWritableProblem } from '../../dist/flags/dir.js';

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-dir-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a world-writable directory is reported, naming it; 0755 is fine; allowed is fine', (t) => {
  const dir = tempDir(t);
  fs.chmodSync(dir, 0o777);
  const state = inspectDir(dir);
  t.true(state.worldWritable);
  t.regex(worldWritableProblem(dir, state, false), new RegExp(`${dir}.*world-writable`));
  t.is(worldWritableProblem(dir, state, true), null);
  fs.chmodSync(dir, 0o755);
  t.is(worldWritableProblem(dir, inspectDir(dir), false), null);
});

test('a world-writable directory on a read-only mount (ConfigMap volume) is accepted', async (t) => {
  const dir = tempDir(t);
  // Mounting needs privileges the CI machine has (root); say so rather than pass silently elsewhere.
  const mounted = await execa('mount', ['-t', 'tmpfs', '-o', 'ro,mode=0777', 'tmpfs', dir], { reject: false });
  if (mounted.exitCode !== 0) {
    t.log(`cannot mount here (${mounted.stderr.trim()}); this case is not shown on this machine`);
    t.pass();
    return;
  }
  t.teardown(() => execa('umount', [dir], { reject: false }));
  t.is((fs.statSync(dir).mode & 0o777).toString(8), '777');
  const state = inspectDir(dir);
  t.false(state.worldWritable);
  t.is(worldWritableProblem(dir, state, false), null);
});
