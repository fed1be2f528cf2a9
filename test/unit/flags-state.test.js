// The state file (flags/state.ts): what it keeps, what it refuses to read, how often it is written,
// and that a one-shot read (get/list/check) and a starting store read the directory through it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { events } from '../../dist/log.js';
import { FlagStore } from '../../dist/flags/store.js';
import { findState, loadState, renderState, STATE_WRITE_INTERVAL_MS } from '../../dist/flags/state.js';
import { StateWriter } from '../../dist/flags/state-writer.js';
import { readFlagsOnce } from '../../dist/flags/write.js';
import { distModule, underUmask } from '../helpers/umask.js';

for (const level of ['info', 'warn', 'error']) events[level] = () => undefined;

function temp(t) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-state-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, 'flags');
  fs.mkdirSync(dir, { mode: 0o755 });
  return { root, dir, file: path.join(root, 'flagman.state.json'), at: (name) => path.join(dir, name) };
}

const flag = (value, note = null, changedAt = null) => ({ value, note, changedAt, problem: null });

test('renderState keeps the flags that have a value, with note and change time, and loadState reads them back', (t) => {
  const { dir, file } = temp(t);
  const flags = new Map([
    ['MAINT', flag(0, 'db migration', 1_700_000_000_000)],
    ['app2.weight', flag(-3)],
    ['BROKEN', { value: null, note: null, changedAt: null, problem: 'not an integer' }],
  ]);
  fs.writeFileSync(file, renderState(dir, flags));
  const loaded = loadState(file, dir);
  t.is(loaded.status, 'ok');
  t.is(loaded.problem, null);
  t.deepEqual(
    [...loaded.flags],
    [
      ['MAINT', flag(0, 'db migration', 1_700_000_000_000)],
      ['app2.weight', flag(-3)],
    ],
  );
});

test('loadState refuses what it did not write: missing, corrupt, foreign, another directory, bad entries', (t) => {
  const { dir, file } = temp(t);
  t.is(loadState(file, dir).status, 'missing');
  const cases = [
    ['{"format":"flagman flag state","version":1,"dir":', 'ignored', /not valid JSON/],
    ['[]', 'foreign', /not a flagman flag state file/],
    ['{"format":"flagman flag state","version":2,"dir":"x","flags":{}}', 'foreign', /not a flagman flag state file/],
    [renderState('/elsewhere', new Map([['MAINT', flag(1)]])), 'foreign', /another flags directory \(\/elsewhere\)/],
  ];
  for (const [text, status, problem] of cases) {
    fs.writeFileSync(file, text);
    const loaded = loadState(file, dir);
    t.is(loaded.status, status, text);
    t.regex(loaded.problem, problem);
    t.is(loaded.flags.size, 0);
  }
  const doc = {
    format: 'flagman flag state',
    version: 1,
    dir,
    flags: {
      MAINT: { value: 1, note: null, changedAt: null },
      '1bad': { value: 1, note: null, changedAt: null },
      X: { value: 1.5, note: null, changedAt: null },
      Y: { value: 2, note: 3, changedAt: null },
    },
  };
  fs.writeFileSync(file, JSON.stringify(doc));
  const loaded = loadState(file, dir);
  t.is(loaded.status, 'ok');
  t.deepEqual([...loaded.flags.keys()], ['MAINT']);
  t.regex(loaded.problem, /3 entries not understood/);
  fs.rmSync(file);
  fs.mkdirSync(file);
  t.regex(loadState(file, dir).problem, /not a regular file/);
});

test('findState takes the first candidate written for this directory, passing over missing and foreign ones', (t) => {
  const { root, dir, file } = temp(t);
  const other = path.join(root, 'other.json');
  fs.writeFileSync(other, renderState('/elsewhere', new Map([['MAINT', flag(1)]])));
  fs.writeFileSync(file, renderState(dir, new Map([['MAINT', flag(0)]])));
  const found = findState(dir, [path.join(root, 'none.json'), other, file]);
  t.is(found.file, file);
  t.is(found.state.flags.get('MAINT').value, 0);
  t.is(findState(dir, [path.join(root, 'none.json')]), null);
  t.is(findState(dir, [other]).state.status, 'foreign');
});

test('StateWriter coalesces: many saves make one write per interval, the last flags win, flush writes at once', async (t) => {
  const { dir, file } = temp(t);
  const w = new StateWriter(file, dir);
  const t0 = Date.now();
  // 100 saves ≥ 2 ms apart, as a burst of flag changes would make.
  let i = 0;
  for (; i < 100; i++) {
    w.save(new Map([['N', flag(i)]]));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await w.flush();
  const elapsed = Date.now() - t0;
  t.true(w.writes <= Math.floor(elapsed / STATE_WRITE_INTERVAL_MS) + 2, `${w.writes} writes in ${elapsed} ms`);
  t.true(w.writes < 20, `${w.writes} writes`);
  t.is(loadState(file, dir).flags.get('N').value, i - 1);
  w.save(new Map([['N', flag(-1)]]));
  await w.flush();
  t.is(loadState(file, dir).flags.get('N').value, -1);
  t.deepEqual(fs.readdirSync(path.dirname(file)).sort(), ['flagman.state.json', 'flags'], 'no temp file left');
});

test('StateWriter writes mode 0644 under a umask of 077, and reports a folder it cannot write', async (t) => {
  const { root, dir, file } = temp(t);
  underUmask(
    0o077,
    `import { StateWriter } from ${distModule('flags/state-writer.js')};
    const w = new StateWriter(${JSON.stringify(file)}, ${JSON.stringify(dir)});
    w.save(new Map([['MAINT', { value: 1, note: null, changedAt: null, problem: null }]]));
    await w.flush();`,
  );
  t.is(fs.statSync(file).mode & 0o777, 0o644);
  const w = new StateWriter(path.join(root, 'no-such-folder', 'state.json'), dir);
  w.save(new Map([['MAINT', flag(1)]]));
  await w.flush();
  t.regex(w.problem, /cannot be written \(ENOENT\)/);
});

test('readFlagsOnce reads through the state: emptied and invalid files keep the remembered value, missing ones are unset, new empty ones are 1', (t) => {
  const { dir, file, at } = temp(t);
  fs.writeFileSync(
    file,
    renderState(
      dir,
      new Map([
        ['EMPTIED', flag(0, 'kept')],
        ['TYPO', flag(1)],
        ['GONE', flag(7)],
        ['SET', flag(2)],
      ]),
    ),
  );
  fs.writeFileSync(at('EMPTIED'), '');
  fs.writeFileSync(at('TYPO'), 'abc\n');
  fs.writeFileSync(at('NEW'), '');
  fs.writeFileSync(at('SET'), '3\n');
  const { flags, state, stateProblem } = readFlagsOnce(dir, { state: [file] });
  t.is(state, file);
  t.is(stateProblem, null);
  t.deepEqual(Object.fromEntries([...flags].map(([n, s]) => [n, [s.value, s.note, s.problem !== null]])), {
    EMPTIED: [0, 'kept', false],
    TYPO: [1, null, true],
    NEW: [1, null, false],
    SET: [3, null, false],
  });
  // Without the state the same files read as a fresh start would have read them.
  const bare = readFlagsOnce(dir);
  t.is(bare.flags.get('EMPTIED').value, 1);
  t.is(bare.flags.get('TYPO').value, null);
});

test('a starting store reads through the state file and writes it back once loaded', async (t) => {
  const { dir, file, at } = temp(t);
  fs.writeFileSync(
    file,
    renderState(
      dir,
      new Map([
        ['EMPTIED', flag(0)],
        ['TYPO', flag(1)],
        ['GONE', flag(7)],
      ]),
    ),
  );
  fs.writeFileSync(at('EMPTIED'), '');
  fs.writeFileSync(at('TYPO'), 'abc\n');
  const store = new FlagStore({ dir, rescanMs: 0, state: file });
  await store.start();
  const values = Object.fromEntries([...store.snapshot.flags].map(([n, s]) => [n, s.value]));
  t.deepEqual(values, { EMPTIED: 0, TYPO: 1 });
  t.truthy(store.snapshot.flags.get('TYPO').problem);
  await store.close();
  t.deepEqual(Object.fromEntries([...loadState(file, dir).flags].map(([n, s]) => [n, s.value])), { EMPTIED: 0, TYPO: 1 });
});
