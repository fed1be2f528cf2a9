// A flag change rebuilds the runtime only when it changes a value the runtime was folded with
// (sameFolding, src/runtime/compile.ts; used by src/lifecycle/reload.ts): the flags a rule, a
// weight, a maxconn or a rate limit names. Another flag, or a note, leaves the runtime in place.
import test from 'ava';
import { parseConfigText } from '../../dist/config/load.js';
import { buildRuntime, compileProgram, sameFolding } from '../../dist/runtime/compile.js';
import { ObservedState } from '../../dist/runtime/servers.js';
import { PageCache } from '../../dist/runtime/pages.js';
import { makeSnapshot } from '../../dist/flags/snapshot.js';
import { makeUpstreamPool } from '../../dist/upstream/pool.js';

const CONFIG = `
frontends:
  web:
    listen: "127.0.0.1:0"
    rules:
      - when: flag("MAINT") > 0
        use: maintenance
      - use: app
        limit: { rate: 'flag("RATE", 100)' }
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:9001", weight: 'flag("app1.weight", 1)' }
      app2: { address: "127.0.0.1:9002", maxconn: 'flag("app2.maxconn", 0)' }
  maintenance:
    respond: { status: 503, body: "down" }
`;

let version = 0;
/** A snapshot of `flags`: name → value, or name → {value, note, problem}. */
const snapshot = (flags) =>
  makeSnapshot(
    ++version,
    new Map(
      Object.entries(flags).map(([name, v]) => [
        name,
        typeof v === 'object' && v !== null
          ? { changedAt: null, note: null, problem: null, ...v }
          : { value: v, note: null, changedAt: null, problem: null },
      ]),
    ),
  );

const program = compileProgram(parseConfigText(CONFIG, '/etc/flagman/flagman.yaml'));
const observed = new ObservedState(makeUpstreamPool);
const build = (s) => buildRuntime(program, s, { observed, pages: new PageCache(), generation: 1 });
const base = { MAINT: 0, RATE: 50, 'app1.weight': 3 };

test('the runtime records the value of every flag its expressions read, unset as null, and no other', (t) => {
  const runtime = build(snapshot({ ...base, NOTE_ONLY: 1 }));
  t.deepEqual(Object.fromEntries(runtime.folded), { MAINT: 0, RATE: 50, 'app1.weight': 3, 'app2.maxconn': null });
});

test('a flag nobody reads, a note, or a problem with the same value: the same folding (no rebuild)', (t) => {
  const runtime = build(snapshot(base));
  t.true(sameFolding(runtime, snapshot({ ...base, UNUSED: 7 })), 'a flag no expression names');
  t.true(sameFolding(runtime, snapshot({ ...base, MAINT: { value: 0, note: 'deploy at 14:00' } })), 'a new note');
  t.true(sameFolding(runtime, snapshot({ ...base, RATE: { value: 50, problem: 'invalid content; keeping 50' } })), 'a problem, value kept');
});

test('a value a rule, a weight, a maxconn or a limit reads changes: a rebuild, which folds the new value', (t) => {
  const runtime = build(snapshot(base));
  for (const [name, value] of [
    ['MAINT', 1],
    ['app1.weight', 0],
    ['app2.maxconn', 10],
    ['RATE', 60],
  ]) {
    const next = snapshot({ ...base, [name]: value });
    t.false(sameFolding(runtime, next), `${name} = ${value}`);
    t.is(build(next).folded.get(name), value);
  }
  const { MAINT: _gone, ...rest } = base;
  t.false(sameFolding(runtime, snapshot(rest)), 'MAINT deleted: unset is not 0');
});
