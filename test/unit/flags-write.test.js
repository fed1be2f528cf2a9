// The CLI side: `flagman set`/`unset` write atomically, and `get`/`list`/`check` read the directory
// with the same rules as a starting proxy (readFlagsOnce).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { events } from '../../dist/log.js';
import { FlagStore } from '../../dist/flags/store.js';
import { readFlagsOnce, setFlag, unsetFlag } from '../../dist/flags/write.js';
import { distModule, underUmask } from '../helpers/umask.js';

for (const level of ['info', 'warn', 'error']) events[level] = () => undefined;

function tempFlags(t) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-write-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, 'flags');
  fs.mkdirSync(dir, { mode: 0o755 });
  return { root, dir, at: (name) => path.join(dir, name) };
}

test('setFlag writes value and note, leaves no temp file, and reads back as written', (t) => {
  const { dir, at } = tempFlags(t);
  setFlag(dir, 'MAINT', 1, 'db migration, back 14:00');
  t.is(fs.readFileSync(at('MAINT'), 'utf8'), '1 # db migration, back 14:00\n');
  setFlag(dir, 'app2.weight', -3);
  t.is(fs.readFileSync(at('app2.weight'), 'utf8'), '-3\n');
  t.deepEqual(fs.readdirSync(dir).sort(), ['MAINT', 'app2.weight']);
  const { flags, problem } = readFlagsOnce(dir);
  t.is(problem, null);
  t.like(flags.get('MAINT'), { value: 1, note: 'db migration, back 14:00', problem: null });
  t.like(flags.get('app2.weight'), { value: -3, note: null });
});

test('setFlag writes mode 0644 whatever the umask, so the proxy can read what root wrote', (t) => {
  const { dir, at } = tempFlags(t);
  underUmask(0o077, `import { setFlag } from ${distModule('flags/write.js')}; setFlag(${JSON.stringify(dir)}, 'UMASK', 1);`);
  t.is((fs.statSync(at('UMASK')).mode & 0o777).toString(8), '644');
});

test('setFlag refuses bad names, values and notes with stable codes', (t) => {
  const { dir } = tempFlags(t);
  for (const name of ['', '.MAINT', '1x', 'MAINT.swp', 'MAINT~', 'a/b', 'x'.repeat(129)]) {
    t.throws(() => setFlag(dir, name, 1), { code: 'FLAG_NAME' }, name);
  }
  for (const v of [1.5, Number.NaN, Infinity, 2 ** 53]) {
    t.throws(() => setFlag(dir, 'X', v), { code: 'FLAG_VALUE' }, String(v));
  }
  t.throws(() => setFlag(dir, 'X', 1, 'two\nlines'), { code: 'FLAG_VALUE' });
  t.throws(() => setFlag(dir, 'X', 1, 'n'.repeat(5000)), { code: 'FLAG_VALUE' });
  t.deepEqual(fs.readdirSync(dir), []);
});

test('setFlag into a missing directory is FLAG_DIR', (t) => {
  const { root } = tempFlags(t);
  t.throws(() => setFlag(path.join(root, 'nope'), 'X', 1), { code: 'FLAG_DIR' });
});

test('unsetFlag removes the file; an unset flag is fine; a bad name is refused', (t) => {
  const { dir, at } = tempFlags(t);
  setFlag(dir, 'GONE', 4);
  unsetFlag(dir, 'GONE');
  t.false(fs.existsSync(at('GONE')));
  t.notThrows(() => unsetFlag(dir, 'GONE'));
  t.throws(() => unsetFlag(dir, '..data'), { code: 'FLAG_NAME' });
  fs.mkdirSync(at('DIR'));
  t.throws(() => unsetFlag(dir, 'DIR'), { code: 'FLAG_WRITE' });
});

test('a running store sees flagman set and unset', async (t) => {
  const { dir } = tempFlags(t);
  const store = new FlagStore({ dir, rescanMs: 60_000 });
  t.teardown(() => store.close());
  await store.start();
  const set = new Promise((resolve) => store.on('change', (s) => s.flags.get('CLI')?.value === 9 && resolve(s)));
  setFlag(dir, 'CLI', 9, 'via cli');
  t.is((await set).flags.get('CLI').note, 'via cli');
  const unset = new Promise((resolve) => store.on('change', (s) => !s.flags.has('CLI') && resolve(s)));
  unsetFlag(dir, 'CLI');
  await unset;
  t.pass();
});

test('readFlagsOnce reads like a starting proxy, with problems', (t) => {
  const { root, dir, at } = tempFlags(t);
  fs.writeFileSync(at('EMPTY'), '');
  fs.writeFileSync(at('COMMENT'), '# only a comment\n');
  fs.writeFileSync(at('BAD'), 'secret-text');
  fs.writeFileSync(at('.ignored'), '1');
  fs.writeFileSync(path.join(root, 'outside'), '1');
  fs.symlinkSync('../outside', at('OUT'));
  execFileSync('mkfifo', [at('PIPE')]);
  const { flags, problem } = readFlagsOnce(dir);
  t.is(problem, null);
  t.deepEqual([...flags.keys()].sort(), ['BAD', 'COMMENT', 'EMPTY', 'OUT', 'PIPE']);
  t.like(flags.get('EMPTY'), { value: 1, problem: null });
  t.like(flags.get('COMMENT'), { value: 1, problem: null });
  t.like(flags.get('BAD'), { value: null, problem: 'not a base-10 integer' });
  t.regex(flags.get('OUT').problem, /outside/);
  t.regex(flags.get('PIPE').problem, /FIFO/);
});

test('readFlagsOnce reports a missing or world-writable directory instead of throwing', (t) => {
  const { root, dir } = tempFlags(t);
  const missing = readFlagsOnce(path.join(root, 'nope'));
  t.regex(missing.problem, /missing/);
  t.is(missing.flags.size, 0);
  setFlag(dir, 'WW', 2);
  fs.chmodSync(dir, 0o777);
  const unsafe = readFlagsOnce(dir);
  t.regex(unsafe.problem, /world-writable/);
  t.is(unsafe.flags.get('WW').value, 2);
  t.is(readFlagsOnce(dir, { allowWorldWritable: true }).problem, null);
});
