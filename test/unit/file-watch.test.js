// The one watch of single files (src/file-watch.ts) that the config file, the certificates and the
// respond pages use: a burst of events is one read, a write of the same bytes reports nothing, a
// file replaced (renamed over, a symlink re-pointed) is followed to its new inode, and a read that
// fails is a problem naming the file until the file is readable again.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { FileWatch } from '../../dist/file-watch.js';
import { tempDir, waitFor } from '../helpers/e2e.js';

const DEBOUNCE_MS = 300;

/**
 * Writes v1…v10, a few milliseconds apart: each write its own event (writes in one go reach the
 * watch as one, since inotify merges identical events not yet read).
 */
async function burst(file) {
  for (let i = 1; i <= 10; i++) {
    fs.writeFileSync(file, `v${i}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A wait that lets any read a stray event or the poll (1 s) would cause happen, to see that none does. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 1500));

/** Watches `file` (utf8) and records every read and what it was told. */
function watch(t, file, { wait = 'quiet', pollMs } = {}) {
  const seen = { reads: 0, hints: 0, changes: [], problems: [], recovered: 0 };
  const w = new FileWatch({
    files: [file],
    debounceMs: DEBOUNCE_MS,
    wait,
    read: () => {
      seen.reads++;
      return fs.readFileSync(file, 'utf8');
    },
    same: (a, b) => a === b,
    onChange: (next) => seen.changes.push(next),
    onProblem: (err, again) => seen.problems.push({ err, again }),
    onRecover: () => seen.recovered++,
    pollMs,
  });
  // Counts the hints (events, polls) that reach it.
  const poke = w.poke.bind(w);
  w.poke = () => {
    seen.hints++;
    poke();
  };
  t.teardown(() => w.close());
  return { w, seen };
}

// `quiet` reads once the burst is over, `first` debounce time after its first event: either way,
// once for a burst shorter than that.
for (const wait of ['quiet', 'first']) {
  test(`${wait}: a burst of writes is read once`, async (t) => {
    const file = path.join(tempDir(t), 'config.yaml');
    fs.writeFileSync(file, 'v0');
    const { w, seen } = watch(t, file, { wait });
    t.is(w.lastGood, 'v0');
    t.is(seen.reads, 1); // the start, read quietly
    await burst(file);
    await waitFor(() => seen.changes.length > 0, { what: 'the change' });
    await settle();
    t.true(seen.hints > 1, `${seen.hints} hints`);
    t.deepEqual(seen.changes, ['v10']);
    t.is(seen.reads, 2);
    t.is(w.lastGood, 'v10');
  });
}

test('a write of the same bytes, a touch and a chmod report nothing', async (t) => {
  const file = path.join(tempDir(t), 'config.yaml');
  fs.writeFileSync(file, 'same');
  const { seen } = watch(t, file);
  fs.writeFileSync(file, 'same');
  await waitFor(() => seen.reads === 2, { what: 'the read after the write' });
  const now = new Date();
  fs.utimesSync(file, now, now);
  fs.chmodSync(file, 0o600);
  await waitFor(() => seen.reads === 3, { what: 'the read after the touch and chmod' });
  await settle();
  t.deepEqual(seen.changes, []);
  t.deepEqual(seen.problems, []);
});

test('a file renamed over the watched one is followed: its content, then writes to the new inode', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'site.crt');
  fs.writeFileSync(file, 'one');
  // No poll to rescue a missed event: the events alone must lead to the new inode.
  const { seen } = watch(t, file, { pollMs: 3_600_000 });
  fs.writeFileSync(path.join(dir, '.site.crt.tmp'), 'two');
  fs.renameSync(path.join(dir, '.site.crt.tmp'), file);
  await waitFor(() => seen.changes.length === 1, { what: 'the replacement' });
  t.deepEqual(seen.changes, ['two']);
  // Written in place now: only a watch on the new inode sees it.
  fs.writeFileSync(file, 'three');
  await waitFor(() => seen.changes.length === 2, { what: 'the write to the new inode' });
  t.deepEqual(seen.changes, ['two', 'three']);
  t.deepEqual(seen.problems, []);
});

test('a symlink re-pointed while its old target stays is followed; the old target is let go', async (t) => {
  const dir = tempDir(t);
  const [a, b, link] = ['a.yaml', 'b.yaml', 'flagman.yaml'].map((f) => path.join(dir, f));
  fs.writeFileSync(a, 'from a');
  fs.writeFileSync(b, 'from b');
  fs.symlinkSync('a.yaml', link);
  const { seen } = watch(t, link);
  t.is(seen.reads, 1);
  // `ln -sf` the safe way (a ConfigMap's ..data swap): a new symlink renamed over the old one. No
  // event reaches the watch on a.yaml, which stays as it was.
  fs.symlinkSync('b.yaml', path.join(dir, '.tmp-link'));
  fs.renameSync(path.join(dir, '.tmp-link'), link);
  await waitFor(() => seen.changes.length === 1, { what: 'the re-pointed symlink' });
  t.deepEqual(seen.changes, ['from b']);
  fs.writeFileSync(b, 'b again');
  await waitFor(() => seen.changes.length === 2, { what: 'a write to the new target' });
  const reads = seen.reads;
  fs.writeFileSync(a, 'a again');
  await settle();
  t.is(seen.reads, reads, 'a write to the old target reads nothing');
  t.deepEqual(seen.changes, ['from b', 'b again']);
});

test('a read that fails is a problem naming the file, once per cause; the file readable again recovers', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'maintenance.html');
  fs.writeFileSync(file, 'page');
  const { w, seen } = watch(t, file);
  fs.rmSync(file);
  await waitFor(() => seen.problems.length === 1, { what: 'the problem' });
  const { err, again } = seen.problems[0];
  t.is(err.name, 'FlagmanError');
  t.is(err.code, 'CONFIG_READ');
  t.is(err.at.file, file);
  t.true(err.message.includes(file) && err.message.includes('ENOENT'), err.message);
  t.false(again);
  t.is(w.problem, err);
  t.is(w.lastGood, 'page', 'the last good content stays');
  // Back with the same bytes: recovered, nothing changed. The file is found by the poll (no watch
  // is left on a file that is gone, and the folder is not watched).
  fs.writeFileSync(file, 'page');
  await waitFor(() => seen.recovered === 1, { what: 'the recovery' });
  t.is(w.problem, null);
  t.deepEqual(seen.changes, []);
  // Gone again (a problem anew, not `again`: the file was fine in between), then back with new
  // bytes: a change.
  fs.rmSync(file);
  await waitFor(() => seen.problems.length === 2, { what: 'the second problem' });
  t.false(seen.problems[1].again);
  fs.writeFileSync(file, 'new page');
  await waitFor(() => seen.changes.length === 1, { what: 'the change after the problem' });
  t.deepEqual(seen.changes, ['new page']);
  t.is(w.problem, null);
  t.is(seen.recovered, 1);
});

test('the same problem read twice is told as `again`', async (t) => {
  const file = path.join(tempDir(t), 'gone.pem');
  fs.writeFileSync(file, 'x');
  const { w, seen } = watch(t, file);
  fs.rmSync(file);
  await waitFor(() => seen.problems.length === 1, { what: 'the problem' });
  w.poke();
  await waitFor(() => seen.problems.length === 2, { what: 'the second read' });
  t.deepEqual(
    seen.problems.map((p) => p.again),
    [false, true],
  );
});
