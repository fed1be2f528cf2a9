// The model-based property over the flag store's decisions and step loop (src/flags/core.ts,
// src/flags/steps.ts): random sequences of what writers do to a few flags — `echo N >` and `printf`
// (truncate, then write: an empty moment a read may see), a writer writing a byte at a time (every
// prefix visible), `: >`, `touch`, `rm`, `mv` of a temp file, a ConfigMap `..data` swap (several
// files at once, events only on `..` names), invalid content, hostile entries (a directory, a FIFO, a
// file over 4 KiB), `rm -rf` of the directory and `mkdir` again with the same inode number (as ext4
// often does), and lost events (inotify's queue overflowing: no event at all) — run by the store's
// own step loop (steps.ts, the very code store.ts runs) on simulated effects: SimStore below is only
// a simulated file system, simulated event delivery and entry poll, and timers on a fake clock
// (steps.ts asks for reads, the simulated files answer with what they hold at that fake moment).
//
// Checked:
// (a) every value applied is one the flag rules allow at that moment: the value of the file as
//     the verifying read saw it; 1 only for an empty file that stayed empty for the settle time;
//     unset only for a file that stayed missing so; never the content of a write still in progress
//     (two reads ≥ 0.5 ms apart see it grow), unless events were lost between the two reads and
//     the first saw a whole write of that same value. Never the empty moment of `echo 0 >` as 1,
//     never the missing moment of a replace as unset. Where events may have been lost (an
//     overflow, or a directory made again and not re-watched yet), a change and back can go
//     unseen: there the state must only have been the same at the read that began the hold.
// (b) after the last operation, the applied values are the flag rules applied to the directory's
//     final content (README, "The flag rules"; decide.ts): a value for a valid file, nothing for a
//     missing one, an empty file keeps the value it had (1 when it had none), an invalid or hostile
//     one keeps its last good value with a problem. Once within EVENTS_MS when no event was lost
//     (events and the entry poll alone must get there: the backstop rescan is not needed), and
//     within two rescans in any case. "The value it had" is a set: a state that lasted long enough
//     must have been applied, a shorter one may or may not have been.
//
// Not a test file: scripts/fuzz.js runs it (`npm run fuzz`), test/unit/fuzz-flags.test.js runs it
// briefly with a fixed seed, and also runs a few such sequences against the real FlagStore.
import fc from 'fast-check';
import { observe } from '../../dist/flags/decide.js';
import { isFlagName, parseFlagContent } from '../../dist/flags/parse.js';
import { FlagSteps } from '../../dist/flags/steps.js';
import { FlagValues } from '../../dist/flags/values.js';

// The store's defaults (store.ts), and the default `flags.rescan`.
export const QUIET_MS = 2;
export const SETTLE_MS = 25;
export const RESCAN_MS = 1000;
// watcher.ts: how often the directory's entry is stat'ed.
const ENTRY_POLL_MS = 250;
// What one read costs on the fake clock, a turn of the event loop, a listing, a re-arm of the watch.
const READ_MS = 0.02;
const YIELD_MS = 0.01;
const LIST_MS = 0.2;
const REARM_MS = 0.3;
// (b) with every event delivered: the entry poll, a re-arm, a pass and a hold, with room to spare.
export const EVENTS_MS = ENTRY_POLL_MS + 150;
// The most between the two readings that apply a value (0.5 ms, a step or two, an event late).
const VERIFY_WINDOW_MS = 5;
// A state that lasted this long with its events delivered was applied for certain.
const CERTAIN_MS = SETTLE_MS + 30;
// The directory's name: events on its own entry come under it (and it is a flag name too).
const DIR_NAME = 'flags';

export const NAMES = ['A', 'B', 'C'];
const VALID = ['0\n', '1\n', '5\n', '7 # seven\n', '-3', '12\n'];
const INVALID = ['abc\n', '1.5\n', '99999999999999999999\n'];

// ---------------------------------------------------------------------------------------------
// Cases: plain JSON.

const name = fc.constantFrom(...NAMES);
const gap = fc.constantFrom(0, 0.05, 0.3, 0.6, 1, 2, 3, 5, 12, 26, 40, 80, 300);
const within = fc.constantFrom(0, 0.05, 0.4, 0.8, 1.5, 2.5, 4, 30);
const text = fc.constantFrom(...VALID);
const op = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constantFrom('echo', 'printf'), name, text, w: within, gap }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('slow'), name, text, byteMs: fc.constantFrom(0.05, 0.2, 0.45), gap }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate'), name, gap }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('touch'), name, gap }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rm'), name, gap }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('mv'), name, text, gap }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('swap'),
      set: fc.array(fc.tuple(name, fc.option(text, { nil: null, freq: 4 })), { minLength: 1, maxLength: 3 }),
      gap,
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('invalid'), name, text: fc.constantFrom(...INVALID), w: within, gap }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('hostile'), name, kind: fc.constantFrom('dir', 'fifo', 'huge'), gap }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('rmrf'), g: fc.constantFrom(0, 0, 0.5, 3, 20), gap }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('lose'), ms: fc.constantFrom(0.5, 3, 30), gap }) },
);

/** A sequence of operations, and how late events arrive (ms). */
export const cases = fc.record({ latency: fc.constantFrom(0, 0.02, 0.2), ops: fc.array(op, { minLength: 1, maxLength: 24, size: '+1' }) });

// ---------------------------------------------------------------------------------------------
// The simulated file system: every state each name has been in, precomputed from the operations.

/** What a name holds: missing, a file's text, or a hostile entry. */
const MISSING = { k: 'missing' };
const EMPTY = { k: 'file', text: '' };

/**
 * The timeline of a case: per name, its states [{t, s}] (a new entry at every operation on it,
 * even one that changes nothing: an event ends a hold); the directory's states [{t, present,
 * gen}]; the events [{t, name, rename, gen, self}]; the windows where events are lost; and when
 * the last change was.
 */
export function timeline(c) {
  const files = Object.fromEntries(NAMES.map((n) => [n, [{ t: -1, s: MISSING }]]));
  const dir = [{ t: -1, present: true, gen: 0 }];
  const events = [];
  const losses = [];
  let t = 0;
  let last = 0;
  let gen = 0;
  let present = true;
  let swaps = 0;
  const stateAt = (n) => files[n][files[n].length - 1].s;
  const set = (n, s, at, rename) => {
    files[n].push({ t: at, s });
    events.push({ t: at + c.latency, name: n, rename, gen });
    last = Math.max(last, at);
  };
  // echo/printf/invalid: truncate (creating the file if needed), then write `w` ms later.
  const write = (n, txt, w) => {
    const before = stateAt(n);
    if (before.k === 'dir' || before.k === 'fifo') return; // the shell's redirection fails, or blocks: the writer gives up
    set(n, EMPTY, t, before.k === 'missing');
    t += w; // one writer at a time: the next operation starts once this one is done
    set(n, { k: 'file', text: txt }, t, false);
  };
  for (const o of c.ops) {
    t += o.gap;
    if (!present) {
      // Nothing can be written into a directory that is not there.
      if (o.op !== 'lose') continue;
    }
    switch (o.op) {
      case 'echo':
      case 'printf':
        write(o.name, o.op === 'printf' ? o.text.trimEnd() : o.text, o.w);
        break;
      case 'invalid':
        write(o.name, o.text, o.w);
        break;
      case 'slow': {
        // A writer that writes a byte at a time (a slow pipe into the file): every prefix is seen
        // by a read at the right moment, and none is a value anyone wrote.
        const before = stateAt(o.name);
        if (before.k === 'dir' || before.k === 'fifo') break;
        set(o.name, EMPTY, t, before.k === 'missing');
        const whole = meaning({ k: 'file', text: o.text });
        for (let i = 1; i <= o.text.length; i++) {
          t += o.byteMs;
          const prefix = { k: 'file', text: o.text.slice(0, i) };
          // A prefix that already means the whole's value ("0" of "0\n") is no torn value.
          const m = meaning(prefix);
          set(o.name, m.kind === whole.kind && m.value === whole.value ? prefix : { ...prefix, partial: true }, t, false);
        }
        break;
      }
      case 'truncate': {
        const before = stateAt(o.name);
        if (before.k === 'dir' || before.k === 'fifo') break;
        set(o.name, EMPTY, t, before.k === 'missing');
        break;
      }
      case 'touch': {
        const before = stateAt(o.name);
        set(o.name, before.k === 'missing' ? EMPTY : before, t, before.k === 'missing');
        break;
      }
      case 'rm':
        if (stateAt(o.name).k !== 'missing' && stateAt(o.name).k !== 'dir') set(o.name, MISSING, t, true);
        break;
      case 'mv':
        if (stateAt(o.name).k !== 'dir') set(o.name, { k: 'file', text: o.text }, t, true);
        break;
      case 'swap': {
        // kubelet: the new files in a new `..` directory, then `..data` swapped (events on `..`
        // names only); a key no longer there loses its link right after (an event for it).
        swaps++;
        const seen = new Set();
        for (const [n, txt] of o.set) {
          if (seen.has(n) || stateAt(n).k === 'dir') continue;
          seen.add(n);
          if (txt === null) {
            if (stateAt(n).k !== 'missing') set(n, MISSING, t, true);
          } else {
            files[n].push({ t, s: { k: 'file', text: txt } });
            last = Math.max(last, t);
          }
        }
        events.push({ t: t + c.latency, name: `..${swaps}`, rename: true, gen });
        events.push({ t: t + c.latency, name: '..data', rename: true, gen });
        break;
      }
      case 'hostile': {
        // rm, then the hostile entry in its place.
        if (stateAt(o.name).k !== 'missing') set(o.name, MISSING, t, true);
        set(o.name, { k: o.kind }, t, true);
        break;
      }
      case 'rmrf': {
        for (const n of NAMES) if (stateAt(n).k !== 'missing') set(n, MISSING, t, true);
        // The directory's own deletion, on the watch of the directory (under its own name).
        events.push({ t: t + c.latency, name: DIR_NAME, rename: true, gen, self: true });
        dir.push({ t, present: false, gen: -1 });
        present = false;
        const back = t + o.g;
        gen++;
        dir.push({ t: back, present: true, gen });
        present = true;
        t = back;
        last = Math.max(last, t);
        break;
      }
      case 'lose':
        losses.push([t, t + o.ms]);
        break;
    }
  }
  events.sort((a, b) => a.t - b.t);
  return { files, dir, events, losses, last };
}

function at(list, t) {
  let found = list[0];
  for (const e of list) {
    if (e.t <= t) found = e;
    else break;
  }
  return found;
}

/** What a read of `n` at `t` returns (read.ts's FlagRead). */
function readAt(tl, n, t) {
  if (!at(tl.dir, t).present) return { kind: 'missing' };
  const s = NAMES.includes(n) ? at(tl.files[n], t).s : MISSING;
  switch (s.k) {
    case 'missing':
    case 'dir':
      return { kind: 'missing' };
    case 'fifo':
      return { kind: 'problem', problem: 'not a regular file (FIFO)' };
    case 'huge':
      return { kind: 'problem', problem: 'larger than 4 KiB' };
    default:
      return { kind: 'file', content: Buffer.from(s.text), uid: 0, mtime: 0 };
  }
}

// ---------------------------------------------------------------------------------------------
// The store: its step loop, on a fake clock.

/** A tiny discrete-event loop on a fake clock. */
class Loop {
  now = 0;
  #queue = [];
  #seq = 0;
  at(t, fn) {
    const item = { t: Math.max(t, this.now), seq: this.#seq++, fn, cancelled: false };
    // Insert in order (the queue stays short).
    let i = this.#queue.length;
    while (i > 0 && (this.#queue[i - 1].t > item.t || (this.#queue[i - 1].t === item.t && this.#queue[i - 1].seq > item.seq))) i--;
    this.#queue.splice(i, 0, item);
    return item;
  }
  cancel(item) {
    if (item) item.cancelled = true;
  }
  run(until) {
    while (this.#queue.length > 0 && this.#queue[0].t <= until) {
      const item = this.#queue.shift();
      if (item.cancelled) continue;
      this.now = Math.max(this.now, item.t);
      item.fn();
    }
    this.now = Math.max(this.now, until);
  }
}

/**
 * store.ts's step loop (src/flags/steps.ts, the very same) over the simulated directory, with its
 * effects simulated: reads of the timeline, timers on the fake clock, the watch and the entry poll.
 * `applied` records every applied update, at the time of the read that verified it.
 */
export class SimStore {
  loop = new Loop();
  table = new FlagValues();
  steps;
  applied = [];
  #tl;
  /** DirHealth's last key (the directory's dev:ino; the same inode after rm -rf + mkdir). */
  #key = 'ino';
  /** The generation the watch is armed on (null: none, the directory was missing). */
  #watchGen = 0;
  /** The entry poll's last key (watcher.ts entryKey: dev:ino:birthtime). */
  #entryKey = 'g0';
  /** When each name was last read: an applied update is dated by the read that verified it. */
  #readAt = new Map();

  constructor(tl) {
    this.#tl = tl;
    const loop = this.loop;
    this.steps = new FlagSteps({ quietMs: QUIET_MS, settleMs: SETTLE_MS, rescanMs: RESCAN_MS, initial: false }, this.table, {
      now: () => loop.now,
      wallClock: () => loop.now,
      look: () => this.#look(),
      read: (n) => this.#read(n),
      list: (_atStart, done) => this.#list(done),
      rearm: () => this.#rearm(),
      byEvents: () => true,
      setTimer: (ms, fn) => loop.at(loop.now + ms, fn),
      clearTimer: (item) => loop.cancel(item),
      // delay(wait) counts whole milliseconds; a yield is one turn of the loop.
      pause: (ms, fn) => loop.at(loop.now + (ms > 0 ? Math.max(1, Math.ceil(ms)) : YIELD_MS), fn),
      publish: () => undefined,
      applied: (u) => this.applied.push({ ...u, t: this.#readAt.get(u.name) }),
      excess: () => undefined,
      failed: (err) => {
        throw err;
      },
      loaded: () => undefined,
      idle: () => undefined,
    });
    for (const e of tl.events) loop.at(e.t, () => this.#event(e));
    this.steps.begin();
  }

  /** The decisions the step loop drives. */
  get core() {
    return this.steps.core;
  }

  /** Runs the simulation until `t`, with the entry poll every ENTRY_POLL_MS. */
  runUntil(t) {
    const first = Math.ceil(this.loop.now / ENTRY_POLL_MS) * ENTRY_POLL_MS;
    for (let p = first === this.loop.now ? first + ENTRY_POLL_MS : first; p <= t; p += ENTRY_POLL_MS)
      this.loop.at(p, () => this.#pollEntry());
    this.loop.run(t);
  }

  #dirAt(t) {
    return at(this.#tl.dir, t);
  }

  // watcher.ts's events: into the store's hints, unless the watch is not on this directory or
  // the queue overflowed.
  #event(e) {
    if (this.#watchGen !== e.gen) return; // the watch is on another directory, or none
    if (this.#tl.losses.some(([a, b]) => e.t >= a && e.t < b)) return; // the queue overflowed
    this.steps.hint(e.name, e.rename);
    if (e.self) {
      // watcher.ts: its own deletion or move: the next poll reports the entry whatever it finds.
      this.#entryKey = null;
      this.steps.entry();
    }
  }

  #pollEntry() {
    const d = this.#dirAt(this.loop.now);
    const key = d.present ? `g${d.gen}` : 'ENOENT';
    if (key === this.#entryKey) return;
    this.#entryKey = key;
    this.steps.entry();
  }

  // DirHealth's verdict: replaced when the key changed (never for the same inode), always safe.
  #look() {
    const d = this.#dirAt(this.loop.now);
    const key = d.present ? 'ino' : null;
    const replaced = key !== this.#key;
    this.#key = key;
    return { replaced, safe: true, resumed: false, there: d.present, present: d.present };
  }

  #rearm() {
    this.loop.at(this.loop.now + REARM_MS, () => {
      const d = this.#dirAt(this.loop.now);
      this.#watchGen = d.present ? d.gen : null;
      this.#entryKey = d.present ? `g${d.gen}` : 'ENOENT';
      this.steps.hint(null, false);
    });
  }

  #read(n) {
    this.#readAt.set(n, this.loop.now);
    const seen = observe(readAt(this.#tl, n, this.loop.now));
    this.loop.now += READ_MS; // a read takes time: the files may change meanwhile
    return seen;
  }

  // The listing takes LIST_MS, and sees the directory as it was halfway.
  #list(done) {
    this.loop.at(this.loop.now + LIST_MS, () => {
      const listedAt = this.loop.now - LIST_MS / 2;
      const d = this.#dirAt(listedAt);
      done(d.present ? NAMES.filter((n) => at(this.#tl.files[n], listedAt).s.k !== 'missing').filter(isFlagName) : []);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The model: the flag rules over the timeline.

/** What a state means under the flag rules. */
function meaning(s) {
  if (s.k === 'missing' || s.k === 'dir') return { kind: 'missing' };
  if (s.k !== 'file') return { kind: 'problem' };
  const p = parseFlagContent(Buffer.from(s.text));
  if (p.kind === 'invalid') return { kind: 'problem' };
  return p;
}

/** The state of `n` at `t` (the directory's absence counts as missing), and since when. */
function periodAt(tl, n, t) {
  const list = tl.files[n];
  let i = 0;
  while (i + 1 < list.length && list[i + 1].t <= t) i++;
  return { s: at(tl.dir, t).present ? list[i].s : MISSING, since: list[i].t };
}

const EPS = 1e-9;

/**
 * Where events may not have arrived: lost (the queue overflowed), or the directory made again and
 * its watch not re-armed yet (the entry poll notices within ENTRY_POLL_MS). Each: [from, to, how
 * much longer a state must last there to be applied for certain].
 */
function blindWindows(tl) {
  return [
    ...tl.losses.map(([a, b]) => [a, b, 2 * RESCAN_MS]),
    ...tl.dir.filter((d) => d.present && d.t > 0).map((d) => [d.t, d.t + EVENTS_MS, EVENTS_MS]),
  ];
}

/**
 * (a): throws unless the applied update `u` is one the flag rules allow. `prev`: when the update
 * before it for that flag was applied (that ended any hold).
 */
function checkApplied(tl, u, prev) {
  const old = u.before?.value ?? null;
  const value = u.entry?.value ?? null;
  if (old === value) return;
  const { s } = periodAt(tl, u.name, u.t);
  const m = meaning(s);
  const since = sameSince(tl, u.name, u.t);
  const blind = blindWindows(tl).some(([a, b]) => a < u.t && b > prev);
  // Seen with every event delivered: the same state all along for the settle time, up to the first
  // of the two readings that applied it (the second may see the same state again, after a change
  // whose event is still on its way). Blind: a change and back may have gone unseen, but the hold
  // began on a read of that same state.
  const settled = blind
    ? periods(tl, u.name).some((p) => meaning(p.s).kind === m.kind && p.t <= u.t - SETTLE_MS + EPS && p.end > prev)
    : runs(tl, u.name).some(
        (r) => r.kind === m.kind && r.t <= u.t && r.end >= u.t - VERIFY_WINDOW_MS && Math.min(r.end, u.t) - r.t >= SETTLE_MS - EPS,
      );
  const where = `${u.name} ${old ?? 'unset'} -> ${value ?? 'unset'} at ${u.t.toFixed(2)} ms, file ${JSON.stringify(s)} since ${since}`;
  if (value === null) {
    if (m.kind !== 'missing') throw new Error(`(a) unset applied while the file is there: ${where}`);
    if (!settled) throw new Error(`(a) unset applied before the file stayed missing ${SETTLE_MS} ms: ${where}`);
    return;
  }
  if (s.partial) {
    // Events lost between the two reads: the first may have seen a whole write, the second a torn
    // one that means the same value (`1\n`, then `1` of `12\n`). The value is still one written.
    const lost = blindWindows(tl).some(([a, b]) => a < u.t && b > u.t - VERIFY_WINDOW_MS);
    const written = periods(tl, u.name).some(
      (p) => !p.s.partial && p.t <= u.t && p.end > u.t - VERIFY_WINDOW_MS && meaning(p.s).value === value,
    );
    if (!lost || !written) throw new Error(`(a) a write in progress applied (the two reads, ≥ 0.5 ms apart, cannot agree on it): ${where}`);
    return;
  }
  if (m.kind === 'value' && m.value === value) return;
  if (m.kind === 'empty' && value === 1 && old === null) {
    if (!settled) throw new Error(`(a) an empty moment applied as 1 (touch) before it stayed empty ${SETTLE_MS} ms: ${where}`);
    return;
  }
  throw new Error(`(a) a value no writer wrote: ${where}`);
}

/**
 * Since when `n` has meant the same (missing, or an empty file) up to `t`, however many operations
 * (a `touch`, a directory in its place) left that meaning as it was.
 */
function sameSince(tl, n, t) {
  const kind = meaning(periodAt(tl, n, t).s).kind;
  const ps = periods(tl, n).filter((p) => p.t <= t);
  let since = ps[ps.length - 1].t;
  for (let i = ps.length - 2; i >= 0 && meaning(ps[i].s).kind === kind; i--) since = ps[i].t;
  return since;
}

/** The runs of `n`: its periods merged where they mean the same kind of thing. */
function runs(tl, n) {
  const out = [];
  for (const p of periods(tl, n)) {
    const kind = meaning(p.s).kind;
    const last = out[out.length - 1];
    if (last && last.kind === kind) last.end = p.end;
    else out.push({ t: p.t, end: p.end, kind });
  }
  return out;
}

/** The periods of `n`: its states split at every operation on it and at the directory's absence. */
function periods(tl, n) {
  const cuts = [...new Set([...tl.files[n].map((e) => e.t), ...tl.dir.map((e) => e.t)])].sort((a, b) => a - b);
  return cuts.map((t, i) => ({ t, end: cuts[i + 1] ?? Infinity, s: periodAt(tl, n, t).s }));
}

/**
 * (b)'s model: the values `n` may have once its last state has lasted: a set, since a state that
 * was short may or may not have been applied. `sure(period)`: that period was applied for certain.
 */
export function possible(tl, n, sure) {
  let values = new Set([null]);
  const blind = blindWindows(tl);
  let runStart = -Infinity;
  let runKind = null;
  for (const p of periods(tl, n)) {
    const m = meaning(p.s);
    // An empty or missing state applies once it has lasted the settle time, however many
    // operations left it as it was (or, where events were lost, maybe sooner).
    if (m.kind !== runKind) runStart = p.t;
    runKind = m.kind;
    const certain = sure(p);
    let next;
    if (p.s.partial) continue; // a write in progress: never applied
    if (m.kind === 'value') next = new Set([m.value]);
    else if (m.kind === 'problem') continue;
    else if (p.end - runStart < SETTLE_MS - EPS && !blind.some(([a, b]) => a < p.end && b > runStart))
      continue; // too short to apply
    else if (m.kind === 'empty') next = new Set([...values].map((v) => v ?? 1));
    else next = new Set([null]);
    values = certain ? next : new Set([...values, ...next]);
  }
  return values;
}

/** (b): throws unless the table holds the flag rules applied to the final content. */
export function checkFinal(table, tl, sure, when) {
  for (const n of NAMES) {
    const { s } = periodAt(tl, n, Infinity);
    const m = meaning(s);
    const entry = table.get(n);
    const got = entry
      ? `${entry.value ?? 'unset'}${entry.note ? ` # ${entry.note}` : ''}${entry.problem ? ` (problem: ${entry.problem})` : ''}`
      : 'no entry';
    const allowed = possible(tl, n, sure);
    const fail = (want) => {
      throw new Error(`(b) ${when}: ${n} is ${got}, the final file ${JSON.stringify(s)} wants ${want}`);
    };
    if (m.kind === 'missing') {
      if (entry) fail('no entry');
    } else if (m.kind === 'value') {
      if (!entry || entry.value !== m.value || entry.note !== m.note || entry.problem !== null)
        fail(`${m.value}${m.note ? ` # ${m.note}` : ''}`);
    } else if (m.kind === 'empty') {
      if (!entry || entry.problem !== null || !allowed.has(entry.value))
        fail(`one of ${[...allowed].map((v) => v ?? 1).join(', ')} (kept, or 1 for a touch)`);
    } else if (!entry || entry.problem === null || !allowed.has(entry.value)) {
      fail(`a problem, value one of ${[...allowed].map((v) => v ?? 'unset').join(', ')}`);
    }
  }
}

/** The property: (a) all along, (b) once events alone must have settled it, and after the rescan. */
export function check(c) {
  const tl = timeline(c);
  const sim = new SimStore(tl);
  const sure = certainty(tl);
  if (tl.losses.length === 0) {
    sim.runUntil(tl.last + EVENTS_MS);
    checkFinal(sim.table, tl, sure, `${EVENTS_MS} ms after the last change, every event delivered`);
  }
  sim.runUntil(tl.last + 2 * RESCAN_MS + EVENTS_MS);
  const prev = new Map();
  for (const u of sim.applied) {
    checkApplied(tl, u, prev.get(u.name) ?? -1);
    prev.set(u.name, u.t);
  }
  checkFinal(sim.table, tl, sure, 'after the backstop rescan');
}

/**
 * When a period was applied for certain: it lasted CERTAIN_MS; or, where events were lost, two
 * rescans more; or, where the directory had just been made again (its watch re-armed once the
 * entry poll notices), EVENTS_MS more.
 */
export function certainty(tl) {
  const blind = blindWindows(tl);
  return (p) => {
    let need = CERTAIN_MS;
    for (const [a, b, more] of blind) if (a < p.end && b > p.t - 1) need = Math.max(need, CERTAIN_MS + more);
    return p.end - p.t >= need;
  };
}

/** The target scripts/fuzz.js runs. */
export const target = {
  name: 'flags',
  what: 'flag store core vs the flag rules',
  cases,
  check,
  units: (c) => c.ops.length,
  unit: 'operations',
};
