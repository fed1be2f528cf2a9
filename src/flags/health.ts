// The flags directory's health between passes of the store: there or not, the same directory or a
// replaced one, safe or world-writable, within the flag limit. Each problem is logged once, when it
// appears and when it goes, and all of them together make `watcher.problem` in status.
import { events as log } from '../log.js';
import { MAX_FLAGS, worldWritableProblem, type DirState } from './dir.js';

/** What a pass must do after looking at the directory. */
export interface DirVerdict {
  /** Not the directory seen last time (deleted and recreated, a symlink re-pointed, back again). */
  readonly replaced: boolean;
  /** Changes may be applied (README, "The flag rules": not while world-writable, unless allowed). */
  readonly safe: boolean;
  /** It was unsafe and is safe again: changes were dropped meanwhile, so re-read everything. */
  readonly resumed: boolean;
  /** A missing file means the flag was removed (not so while the directory itself is gone). */
  readonly there: boolean;
}

/** Tracks one flags directory's problems. */
export class DirHealth {
  readonly #dir: string;
  readonly #allowWorldWritable: boolean;
  /** dev:ino last seen; null: absent; undefined: not looked at yet. */
  #key: string | null | undefined = undefined;
  /** The file system the directory was last seen holding flags on. */
  #dev: number | undefined = undefined;
  #absent: string | null = null;
  #unsafe: string | null = null;
  #limit: string | null = null;

  constructor(dir: string, allowWorldWritable: boolean) {
    this.#dir = dir;
    this.#allowWorldWritable = allowWorldWritable;
  }

  /** Every current problem, joined; null when there is none. */
  get problem(): string | null {
    const all = [this.#absent, this.#unsafe, this.#limit].filter((p) => p !== null);
    return all.length > 0 ? all.join('; ') : null;
  }

  /**
   * Records the directory as just found. `hasFlags` tells whether it holds any flag file; it is
   * asked only when the directory moved to another file system.
   */
  note(state: DirState, hasFlags: () => boolean): DirVerdict {
    // docs/flags.md: a directory that went away while its files were not deleted keeps the values. An
    // unmounted volume leaves its mount point: an empty directory on another file system.
    const kept =
      state.kind === 'absent' && state.missing
        ? 'flags whose files were deleted with it are unset, the others keep their last values until it is back'
        : 'flags keep their last values until it can be read again';
    let absent = state.kind === 'absent' ? `${state.problem}; ${kept}` : null;
    if (state.kind === 'present' && this.#dev !== undefined && state.dev !== this.#dev && !hasFlags()) {
      absent = `flags directory ${this.#dir} is now empty and on another file system (an unmounted volume?); flags keep their last values`;
    } else if (state.kind === 'present') {
      this.#dev = state.dev;
    }
    this.#absent = this.#logChange(this.#absent, absent, `flags directory ${this.#dir} is back`);
    const ww = worldWritableProblem(this.#dir, state, this.#allowWorldWritable);
    const unsafe = ww && `${ww}; changes are not applied until it is fixed`;
    const resumed = this.#unsafe !== null && unsafe === null;
    this.#unsafe = this.#logChange(this.#unsafe, unsafe, `flags directory ${this.#dir} is no longer world-writable`);
    const key = state.kind === 'present' ? state.key : null;
    const replaced = key !== this.#key;
    this.#key = key;
    return { replaced, safe: unsafe === null, resumed, there: absent === null };
  }

  /** Records how many flag files are beyond MAX_FLAGS (0: none). */
  noteExcess(excess: number, example?: string): void {
    const text = excess > 0 ? `more than ${MAX_FLAGS} flags: ${example ? `${example} and others` : excess} not tracked` : null;
    this.#limit = this.#logChange(this.#limit, text, `${MAX_FLAGS} flags or fewer again`);
  }

  #logChange(before: string | null, after: string | null, cleared: string): string | null {
    if (after === before) return after;
    if (after !== null) log.warn({ event: 'flags.dir', dir: this.#dir, problem: after }, after);
    else log.info({ event: 'flags.dir', dir: this.#dir, problem: null }, cleared);
    return after;
  }
}
