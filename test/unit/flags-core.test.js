// The flag core's orderings (src/flags/core.ts), one test per ordering its header describes, on a
// fake clock: the time is a number, a file is a string in a table, and a tiny driver does what
// the step loop (steps.ts) does (reads what the core asks for, when it asks), one call at a time so
// each test can stop between them. No file system, no timers.
import test from 'ava';
import { FlagCore } from '../../dist/flags/core.js';
import { observe } from '../../dist/flags/decide.js';

const QUIET = 2;
const SETTLE = 25;

/** A core over a Map, files as strings (undefined: missing; an object: a read's result as is). */
function harness() {
  const map = new Map();
  const table = {
    get: (n) => map.get(n),
    set: (n, e) => (e ? map.set(n, e) : map.delete(n)),
    get size() {
      return map.size;
    },
  };
  const core = new FlagCore({ quietMs: QUIET, settleMs: SETTLE }, table);
  const h = {
    core,
    now: 0,
    files: {},
    there: true,
    /** The driver's hold timer (steps.ts #armHolds): when it fires, null when not armed. */
    holdTimer: null,
    /** Every update the core made, with its time. */
    updates: [],
    read(n) {
      const f = h.files[n];
      if (f === undefined) return observe({ kind: 'missing' });
      if (typeof f === 'object') return f;
      return observe({ kind: 'file', content: Buffer.from(f), uid: 0, mtime: 0 });
    },
    value: (n) => map.get(n)?.value ?? null,
    entry: (n) => map.get(n),
    hint(n, rename = false) {
      return core.hint(n, rename, h.now);
    },
    /** A write with its event. */
    write(n, text, rename = false) {
      if (text === undefined) delete h.files[n];
      else h.files[n] = text;
      h.hint(n, rename);
    },
    /** The first readings of the dirty names that are due; returns the names read. */
    readDirty() {
      const read = [];
      if (!core.dirtyDue(h.now)) return read;
      for (let n = core.takeDirty(); n !== undefined; n = core.takeDirty()) {
        core.firstReading(n, h.read(n), h.now, true);
        read.push(n);
      }
      return read;
    },
    /** A pass's first reading of `n` (skipped when claimed); returns whether it read. */
    pass(n) {
      if (core.claimed(n)) return false;
      core.firstReading(n, h.read(n), h.now, true);
      return true;
    },
    /** The verifications due now; returns the names verified. */
    verify() {
      const due = core.dueVerifications(h.now);
      for (const v of due) {
        const u = core.secondReading(v, v.reread ? h.read(v.name) : null, h.there, h.now, h.now);
        if (u) h.updates.push({ ...u, t: h.now });
        if (u?.kind === 'hold') h.holdTimer = Math.min(h.holdTimer ?? Infinity, u.due);
      }
      return due.map((v) => v.name);
    },
    /** The step loop until `t`: hold timer, verifications, dirty reads, each when due. */
    runUntil(t) {
      for (;;) {
        const holdAt = h.holdTimer === null ? Infinity : h.holdTimer + 1;
        const next = Math.min(h.now + core.dueIn(h.now), holdAt);
        if (next > t) break;
        h.now = Math.max(h.now + 0.01, next);
        if (h.now >= holdAt) h.holdTimer = core.holdsDue(h.now).next;
        h.verify();
        h.readDirty();
      }
      h.now = t;
    },
    /** The values applied, in order (value changes only). */
    changes: () => h.updates.filter((u) => u.kind === 'applied' && u.change).map((u) => [u.name, u.change.value]),
  };
  return h;
}

test('a hint is read after the quiet time, read again ≥ 0.5 ms later, and applied when both agree', (t) => {
  const h = harness();
  h.write('A', '5\n', true);
  t.false(h.core.dirtyDue(h.now + QUIET - 1.01)); // a burst of hints coalesces first
  t.true(h.core.dirtyDue(h.now + QUIET - 1)); // (1 ms of timer slack: readings.ts)
  h.now = QUIET;
  t.deepEqual(h.readDirty(), ['A']);
  t.is(h.value('A'), null);
  h.now += 0.4;
  t.deepEqual(h.verify(), []); // too young
  h.now += 0.1;
  t.deepEqual(h.verify(), ['A']);
  t.is(h.value('A'), 5);
});

test('a second read that disagrees applies nothing and reads the flag again after the quiet time', (t) => {
  const h = harness();
  h.write('A', '5\n');
  h.now = QUIET;
  h.readDirty();
  h.files.A = '6\n'; // changed, its event not here yet
  h.now += 1;
  h.verify();
  t.is(h.value('A'), null);
  t.false(h.core.dirtyDue(h.now));
  h.runUntil(20);
  t.deepEqual(h.changes(), [['A', 6]]);
});

test('a second hint during verification drops the first reading', (t) => {
  const h = harness();
  h.write('A', '5\n');
  h.now = QUIET;
  h.readDirty();
  h.now += 0.2;
  h.write('A', '7\n'); // a write in progress when the first reading was taken
  h.now += 1;
  t.deepEqual(h.verify(), []); // nothing left to verify: the reading was dropped
  t.is(h.value('A'), null);
  h.runUntil(20);
  t.deepEqual(h.changes(), [['A', 7]]); // 5 was never applied
});

test('a pass skips a name an event has claimed, and an event after the pass read it drops that reading', (t) => {
  const h = harness();
  h.files.A = '5\n';
  h.hint('A');
  t.false(h.pass('A')); // dirty: the event has it read (twice)
  h.runUntil(10);
  t.deepEqual(h.changes(), [['A', 5]]);
  h.files.A = '6\n'; // no event yet: the pass finds it
  t.true(h.pass('A'));
  t.true(h.core.claimed('A'));
  h.now += 0.3;
  h.write('A', '8\n'); // the event comes while the pass's reading waits
  h.now += 1;
  t.deepEqual(h.verify(), []);
  h.runUntil(30);
  t.deepEqual(h.changes(), [
    ['A', 5],
    ['A', 8],
  ]); // never 6
});

test('a `..data` swap during a first reading keeps it; an event with no name drops it', (t) => {
  const h = harness();
  h.write('A', '5\n');
  h.write('B', '6\n');
  h.now = QUIET;
  h.readDirty();
  h.now += 0.2;
  t.true(h.hint('..data', true));
  t.true(h.core.allDirty); // a pass over everything
  h.now += 0.5;
  t.deepEqual(h.verify().sort(), ['A', 'B']); // kept: a `..` name changes no file in place
  t.is(h.value('A'), 5);

  const g = harness();
  g.write('A', '5\n');
  g.now = QUIET;
  g.readDirty();
  g.now += 0.2;
  t.true(g.hint(null));
  t.true(g.core.allDirty);
  g.now += 0.5;
  t.deepEqual(g.verify(), []); // dropped: it may have been about any flag
  t.true(g.core.claimed('A')); // and read again, twice
  g.runUntil(20);
  t.deepEqual(g.changes(), [['A', 5]]);
});

test('an empty new file holds; an event before the settle time ends restarts the hold', (t) => {
  const h = harness();
  h.write('A', '', true); // echo 0 > A: the empty moment
  h.runUntil(QUIET + 5);
  t.is(h.core.holding, 1);
  t.is(h.entry('A'), undefined);
  h.now = SETTLE - 2;
  h.write('A', ''); // an event (touch) before the hold is due
  t.is(h.core.holding, 0);
  h.runUntil(SETTLE + 3); // when the first hold would have been due
  t.is(h.entry('A'), undefined);
  h.now = SETTLE + 4;
  h.write('A', '0\n'); // the write ends it: the empty moment never counted
  h.runUntil(100);
  t.deepEqual(h.changes(), [['A', 0]]);
});

test('an empty new file that stays empty for the settle time becomes 1 (touch); a write after it applies', (t) => {
  const h = harness();
  h.write('A', '', true);
  h.runUntil(QUIET + 0.6);
  const due = h.core.holdsDueAt();
  t.true(due >= SETTLE && due <= SETTLE + QUIET + 1);
  h.runUntil(due + 1.5); // the hold timer has it read again, verified, applied
  t.deepEqual(h.changes(), [['A', 1]]);
  t.is(h.entry('A').note, null);
  h.write('A', '3\n'); // an event after the settle time: an ordinary change
  h.runUntil(100);
  t.deepEqual(h.changes(), [
    ['A', 1],
    ['A', 3],
  ]);
});

test('an emptied file keeps the value of a flag that has one, without a hold', (t) => {
  const h = harness();
  h.write('A', '5\n', true);
  h.runUntil(10);
  h.write('A', '');
  h.runUntil(200);
  t.is(h.value('A'), 5);
  t.is(h.core.holding, 0);
  t.deepEqual(h.changes(), [['A', 5]]);
});

test('a file missing after having a value holds, then unsets; an event before the settle time keeps it', (t) => {
  const h = harness();
  h.write('A', '5\n', true);
  h.runUntil(10);
  h.write('A', undefined, true); // rm
  h.runUntil(10 + SETTLE - 1);
  t.is(h.value('A'), 5); // held, not applied
  h.write('A', '5\n', true); // mv of a new file over it: the missing moment is never applied
  h.runUntil(100);
  t.deepEqual(h.changes(), [['A', 5]]);
  h.write('A', undefined, true);
  h.runUntil(200);
  t.deepEqual(h.changes(), [
    ['A', 5],
    ['A', null],
  ]);
  t.is(h.entry('A'), undefined);
});

test('invalid content keeps the value and sets a problem; valid content clears it', (t) => {
  const h = harness();
  h.write('A', '5 # five\n', true);
  h.runUntil(10);
  h.write('A', 'abc\n');
  h.runUntil(20);
  t.like(h.entry('A'), { value: 5, note: 'five', problem: 'not a base-10 integer' });
  h.files.A = { kind: 'problem', problem: 'not a regular file (FIFO)' }; // read.ts refuses a FIFO
  h.hint('A', true);
  h.runUntil(30);
  t.is(h.entry('A').problem, 'not a regular file (FIFO)');
  t.is(h.value('A'), 5);
  h.write('A', '5\n');
  h.runUntil(40);
  t.is(h.entry('A').problem, null);
  t.deepEqual(h.changes(), [['A', 5]]);
});

test('an event on the directory entry re-arms the watch and reads everything again, even when its identity is the same', (t) => {
  const h = harness();
  h.write('A', '5\n');
  h.now = QUIET;
  h.readDirty();
  h.core.entry(h.now); // `rm -rf flags; mkdir flags` on ext4: the same inode number
  t.true(h.core.allDirty);
  t.deepEqual(h.core.looked({ replaced: false, resumed: false, present: true }, h.now, false), { rearm: true });
  t.true(h.core.takeAllDirty()); // a pass over everything
  t.false(h.core.takeAllDirty());
  h.now += 1;
  t.deepEqual(h.verify(), []); // the old directory's reading is dropped, A is read again
  t.true(h.core.claimed('A'));
  // Once: the next look re-arms only if something happened again.
  t.deepEqual(h.core.looked({ replaced: false, resumed: false, present: true }, h.now, false), { rearm: false });
});

test('a replaced directory re-arms and reads everything again; not while it is gone, nor during start-up', (t) => {
  const h = harness();
  t.deepEqual(h.core.looked({ replaced: true, resumed: false, present: true }, 0, false), { rearm: true });
  t.true(h.core.takeAllDirty());
  t.deepEqual(h.core.looked({ replaced: true, resumed: false, present: false }, 0, false), { rearm: false });
  t.true(h.core.takeAllDirty());
  t.deepEqual(h.core.looked({ replaced: true, resumed: false, present: true }, 0, true), { rearm: false });
  t.deepEqual(h.core.looked({ replaced: false, resumed: true, present: true }, 0, false), { rearm: false });
  t.true(h.core.takeAllDirty()); // safe again: what was dropped is read again
});

test('while the directory is gone a missing file is removed only with a delete event for it', (t) => {
  const h = harness();
  h.write('A', '5\n', true);
  h.write('B', '6\n', true);
  h.runUntil(10);
  h.there = false; // rm -rf flags: A's deletion told, B's not (or the directory renamed away)
  delete h.files.B;
  h.write('A', undefined, true);
  h.hint('B'); // an event without rename evidence
  h.runUntil(200);
  t.is(h.entry('A'), undefined);
  t.is(h.value('B'), 6);
});

test('a due hold is read again when its timer fires, even with nothing else to do', (t) => {
  const h = harness();
  h.write('A', '', true);
  h.runUntil(QUIET + 0.6);
  t.false(h.core.claimed('A'));
  const due = h.core.holdsDueAt();
  t.deepEqual(h.core.holdsDue(due - 0.1), { any: false, next: due });
  t.deepEqual(h.core.holdsDue(due), { any: true, next: null });
  t.true(h.core.claimed('A'));
  t.true(h.core.dirtyDue(due));
});

test('a flag name an event gives is tracked; names that are no flag are ignored', (t) => {
  const h = harness();
  t.false(h.hint('.A.swp'));
  t.false(h.hint('A.tmp'));
  t.false(h.core.claimed('A.tmp'));
  t.true(h.hint('A'));
  t.deepEqual([...h.core.trackedNames()], ['A']);
});

// A hold is for the state it began on. With the event lost (the inotify queue overflowed, or the
// directory made again and its watch not re-armed yet), a flag held missing whose file comes back
// empty must not count the time it was missing as time empty: that would apply the empty moment
// of `echo 5 >` as 1.
test('a hold counts only for the state it was begun on: held missing, then empty with no event, holds again', (t) => {
  const h = harness();
  h.write('A', 'abc\n', true); // an entry with no value, only a problem
  h.runUntil(10);
  t.like(h.entry('A'), { value: null, problem: 'not a base-10 integer' });
  h.write('A', undefined, true); // rm: held missing
  h.runUntil(20);
  t.is(h.core.holding, 1);
  h.files.A = ''; // `echo 5 > A` begins, its events lost
  h.runUntil(10 + SETTLE + 6); // the missing hold is due: A is read again, empty
  t.like(h.entry('A'), { value: null });
  t.is(h.core.holding, 1); // held again, empty this time
  h.files.A = '5\n'; // the write, its event lost too: the backstop pass finds it
  t.true(h.pass('A'));
  h.runUntil(100);
  t.deepEqual(h.changes(), [['A', 5]]);
});
