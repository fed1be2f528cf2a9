// `flagman sync etcd`: keeps the flags directory equal to an etcd key prefix. Each key
// PREFIX/NAME is the flag file NAME, its value written verbatim with the same temp file, fsync and
// rename as `flagman set`; a deleted key removes the file. The proxy then does what it does with
// any writer's change. (docs/fleet.md)
//
// The cycle: list the prefix at a revision R and make the directory match (write what differs,
// remove what this sync wrote and etcd no longer has), then watch from R+1. Anything that breaks
// the watch (etcd down, a compacted revision, a lost connection, a check that gets no answer) is
// reported and ends in the same place: a new listing, after a backoff. Meanwhile the files keep
// their values, so the proxy keeps serving on what was last mirrored.
import fs from 'node:fs';
import path from 'node:path';
import { FlagmanError } from '../errors.js';
import { unsetFlag, writeFlagFile } from '../flags/write.js';
import { events } from '../log.js';
import { EtcdError, type EtcdGateway, type KeyValue, type Watch, type WatchEvent } from './gateway.js';
import { flagOfKey, showKey } from './keys.js';
import { type Ledger, readWritten, type Skipped, writeLedger } from './ledger.js';

export interface MirrorOptions {
  readonly dir: string;
  readonly prefix: string;
  readonly gateway: EtcdGateway;
  /** How often etcd is asked for its revision while the watch is quiet: a hung connection shows within this. */
  readonly checkMs: number;
  /** The first wait after a failure, doubled after each further one up to `maxBackoffMs`. */
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
}

// The ledger's contactAt is brought up to date at most this often when nothing else changes: a
// write of the flags directory every check would be noise for the proxy's watcher.
const CONTACT_WRITE_MS = 30_000;

/** A file's content, or null when it cannot be read (absent, a directory, unreadable). */
function contentOf(file: string): Buffer | null {
  try {
    return fs.readFileSync(file);
  } catch {
    return null;
  }
}

export class EtcdMirror {
  readonly #o: MirrorOptions;
  readonly #prefix: Buffer;
  readonly #written: Set<string>;
  readonly #startedAt = Date.now();
  #revision = 0;
  #appliedAt: number | null = null;
  #contactAt: number | null = null;
  #ledgerContactAt: number | null = null;
  #problem: string | null = null;
  // Keys not mirrored, by key as shown: each is told once, until it changes or goes.
  readonly #skipped = new Map<string, string>();
  #stopped = false;
  #watch: Watch | null = null;
  // Ends the running watch's wait (its promise rejects), so stop() reaches run()'s loop: closing
  // the watch alone would call no handler and leave the wait, and its check timer, running forever.
  #abandon: ((err: unknown) => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  #wake: (() => void) | null = null;

  constructor(options: MirrorOptions) {
    this.#o = options;
    this.#prefix = Buffer.from(options.prefix, 'utf8');
    this.#written = readWritten(options.dir);
  }

  /** Runs until stop(): list, watch, and again after each failure. */
  async run(): Promise<void> {
    let backoff = this.#o.backoffMs;
    let next = false;
    events.info(
      { event: 'sync.start', endpoint: this.#o.gateway.endpoint, prefix: this.#o.prefix, dir: this.#o.dir, written: this.#written.size },
      `mirroring etcd keys ${this.#o.prefix}* from ${this.#o.gateway.endpoint} into ${this.#o.dir}`,
    );
    while (!this.#stopped) {
      let compacted = false;
      try {
        await this.#o.gateway.connect(next);
        const listing = await this.#o.gateway.list(this.#prefix);
        // Stopped while the listing was on its way: write nothing more.
        if (this.#stopped) break;
        this.#contact();
        this.#resync(listing.kvs, listing.revision);
        backoff = this.#o.backoffMs;
        next = false;
        await this.#watchFrom(listing.revision + 1);
      } catch (err) {
        if (this.#stopped) break;
        this.#report(err);
        compacted = err instanceof EtcdError && err.compacted;
        // Another endpoint may answer where this one did not.
        next = !compacted;
      }
      if (this.#stopped) break;
      // A compaction is no failure of etcd's: list again at once.
      if (!compacted) {
        await this.#sleep(backoff);
        backoff = Math.min(backoff * 2, this.#o.maxBackoffMs);
      }
    }
    this.#o.gateway.close();
  }

  /** Ends the watch and any wait; run() then resolves. */
  stop(): void {
    this.#stopped = true;
    // A watch in progress: ending its wait closes it, and its checks with it.
    this.#abandon?.(new EtcdError('stopping', this.#o.gateway.endpoint));
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#wake?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
    });
  }

  // Resolves never: it rejects when the watch ends, or when a check of etcd gets no answer.
  #watchFrom(start: number): Promise<void> {
    return new Promise((_resolve, reject) => {
      let checking = false;
      const fail = (err: unknown): void => {
        clearInterval(check);
        this.#abandon = null;
        this.#watch?.close();
        this.#watch = null;
        reject(err);
      };
      this.#abandon = fail;
      this.#watch = this.#o.gateway.watch(this.#prefix, start, {
        onCreated: () => {
          this.#contact();
          this.#clearProblem();
        },
        onEvents: (changes, revision) => {
          this.#contact();
          try {
            this.#apply(changes, revision);
          } catch (err) {
            fail(err);
          }
        },
        onEnd: fail,
      });
      // A watch can sit silent for hours, and a connection cut without a word looks the same: ask
      // etcd for its revision now and then, and start again when it does not answer.
      const check = setInterval(() => {
        if (checking || this.#stopped) return;
        checking = true;
        this.#o.gateway.revision(this.#prefix).then(
          () => {
            checking = false;
            this.#contact();
          },
          (err: unknown) => {
            checking = false;
            fail(err);
          },
        );
      }, this.#o.checkMs);
      if (this.#stopped) fail(new EtcdError('stopping', this.#o.gateway.endpoint));
    });
  }

  /** Makes the directory match a listing of the prefix at `revision`. */
  #resync(kvs: readonly KeyValue[], revision: number): void {
    const wanted = new Map<string, Buffer>();
    const skipped = new Map<string, string>();
    for (const kv of kvs) {
      const mapped = flagOfKey(kv.key, this.#prefix);
      if (mapped.kind === 'skip') skipped.set(showKey(kv.key), mapped.reason);
      else wanted.set(mapped.name, kv.value);
    }
    // Forget what was skipped before and is gone; tell what is newly skipped.
    for (const key of [...this.#skipped.keys()]) if (!skipped.has(key)) this.#skipped.delete(key);
    for (const [key, reason] of skipped) this.#skip(key, reason);
    // Names go into the ledger before their files: a crash in between leaves a name the ledger
    // knows, which the next listing writes or removes, never a file nobody knows it wrote.
    this.#claim(wanted.keys());
    let wrote = 0;
    for (const [name, value] of wanted) if (this.#write(name, value)) wrote++;
    let removed = 0;
    for (const name of [...this.#written]) {
      if (wanted.has(name)) continue;
      this.#remove(name);
      removed++;
    }
    this.#revision = revision;
    this.#appliedAt = Date.now();
    this.#saveLedger();
    events.info(
      { event: 'sync.resync', revision, keys: kvs.length, wrote, removed, skipped: skipped.size },
      `listed ${kvs.length} keys at revision ${revision}: ${wrote} flag files written, ${removed} removed, ${skipped.size} keys skipped`,
    );
  }

  /** Applies a batch of watched changes, in order. */
  #apply(changes: readonly WatchEvent[], revision: number): void {
    const names: (string | null)[] = changes.map((c) => {
      const mapped = flagOfKey(c.key, this.#prefix);
      const key = showKey(c.key);
      if (mapped.kind === 'flag') return mapped.name;
      if (c.type === 'put') this.#skip(key, mapped.reason);
      else this.#skipped.delete(key);
      return null;
    });
    this.#claim(names.filter((n, i): n is string => n !== null && changes[i]?.type === 'put'));
    const applied: string[] = [];
    changes.forEach((change, i) => {
      const name = names[i];
      if (name === null || name === undefined) return;
      if (change.type === 'put') {
        if (this.#write(name, change.value)) applied.push(name);
      } else if (this.#written.has(name)) {
        this.#remove(name);
        applied.push(name);
      }
    });
    this.#revision = Math.max(revision, ...changes.map((c) => c.modRevision));
    this.#appliedAt = Date.now();
    this.#saveLedger();
    if (applied.length > 0) {
      events.info(
        { event: 'sync.applied', revision: this.#revision, flags: applied },
        `applied revision ${this.#revision}: ${applied.join(', ')}`,
      );
    }
  }

  /** Adds names to the ledger (written at once when any is new). */
  #claim(names: Iterable<string>): void {
    let added = false;
    for (const name of names) {
      if (this.#written.has(name)) continue;
      this.#written.add(name);
      added = true;
    }
    if (added) this.#saveLedger();
  }

  /**
   * Writes a flag file unless it already holds `value`; true when written. A file that cannot be
   * written is skipped and reported; a flags directory that is gone fails the whole pass.
   */
  #write(name: string, value: Buffer): boolean {
    const current = contentOf(path.join(this.#o.dir, name));
    if (current?.equals(value)) return false;
    try {
      writeFlagFile(this.#o.dir, name, value);
      return true;
    } catch (err) {
      if (err instanceof FlagmanError && err.code === 'FLAG_WRITE') {
        this.#skip(`${this.#o.prefix}${name}`, err.reason);
        return false;
      }
      throw err;
    }
  }

  #remove(name: string): void {
    try {
      unsetFlag(this.#o.dir, name);
    } catch (err) {
      if (!(err instanceof FlagmanError && err.code === 'FLAG_WRITE')) throw err;
      this.#skip(`${this.#o.prefix}${name}`, err.reason);
    }
    this.#written.delete(name);
  }

  #skip(key: string, reason: string): void {
    if (this.#skipped.get(key) === reason) return;
    this.#skipped.set(key, reason);
    events.warn({ event: 'sync.skipped', key, reason }, `etcd key ${key} skipped: ${reason}`);
  }

  #contact(): void {
    this.#contactAt = Date.now();
    if (this.#ledgerContactAt === null || this.#contactAt - this.#ledgerContactAt >= CONTACT_WRITE_MS) this.#saveLedger();
  }

  #report(err: unknown): void {
    const problem = err instanceof Error ? err.message : String(err);
    const endpoint = err instanceof EtcdError ? err.endpoint : this.#o.gateway.endpoint;
    const text = `${endpoint}: ${problem}`;
    if (text === this.#problem) return;
    this.#problem = text;
    events.warn(
      { event: 'sync.problem', endpoint, problem, revision: this.#revision },
      `etcd at ${endpoint}: ${problem}; the flags keep the values of revision ${this.#revision}, retrying`,
    );
    this.#saveLedger();
  }

  #clearProblem(): void {
    if (this.#problem === null) return;
    this.#problem = null;
    events.info(
      { event: 'sync.problem', endpoint: this.#o.gateway.endpoint, problem: null, revision: this.#revision },
      `in step with etcd at ${this.#o.gateway.endpoint} again (revision ${this.#revision})`,
    );
    this.#saveLedger();
  }

  /** The ledger as it stands. */
  ledger(): Ledger {
    const skipped: Skipped[] = [...this.#skipped].map(([key, reason]) => ({ key, reason }));
    return {
      source: 'etcd',
      endpoint: this.#o.gateway.endpoint,
      prefix: this.#o.prefix,
      pid: process.pid,
      startedAt: this.#startedAt,
      revision: this.#revision,
      appliedAt: this.#appliedAt,
      contactAt: this.#contactAt,
      problem: this.#problem,
      skipped,
      written: [...this.#written].sort(),
    };
  }

  // A ledger that cannot be written (the directory gone) is retried with the next change; what the
  // flags hold is unaffected.
  #saveLedger(): void {
    try {
      writeLedger(this.#o.dir, this.ledger());
      this.#ledgerContactAt = this.#contactAt;
    } catch (err) {
      if (!(err instanceof FlagmanError)) throw err;
      if (this.#problem === null) this.#problem = err.message;
    }
  }
}
