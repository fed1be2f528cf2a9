// The serving thread first: every other thread of the process runs 10 nice levels below it.
//
// Besides the thread that serves, a flagman process has V8's helper threads (they compile hot
// functions with the optimizing compiler and mark and sweep the heap while JavaScript runs) and
// libuv's (file reads, DNS lookups). Where they share a core with the serving thread (a process
// pinned to one, a container given one), each of their bursts holds the requests up as long: after
// a reload, the optimizing compiler took 10-21 ms over the YAML reader's functions, every third
// reload, and requests waited that long (bench/RESULTS.md, "The serving thread first"). At nice +10
// a helper gets about a tenth of a core the serving thread wants, so it runs in the serving
// thread's idle time instead; where cores are free, nothing changes.
//
// Linux keeps a nice value per thread, and setpriority() takes a thread's id (a process id is its
// first thread's). Elsewhere this does nothing. Lowering a priority needs no privilege.
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** Nice levels the helper threads run below the serving thread (docs/proxying.md, "Threads"). */
const HELPER_NICE_STEP = 10;
/** The most a nice value can be on Linux. */
const NICE_MAX = 19;

/** `FLAGMAN_HELPER_NICE`: on (unset: on) or off; null for any other value (the caller refuses it). */
export function helperNiceWanted(value = process.env.FLAGMAN_HELPER_NICE): boolean | null {
  if (value === undefined || value === '' || value === 'on') return true;
  if (value === 'off') return false;
  return null;
}

/**
 * Sets every thread of this process but its first, the serving thread, HELPER_NICE_STEP levels
 * below that one, where a thread is not already as low. Called on the serving thread, whose nice
 * value it reads (getPriority(0) is the calling thread's). Threads come and go (libuv starts its
 * pool at the first file read or lookup), so it is called at start and after each reload; the
 * threads already lowered are left as they are. Returns how many it lowered.
 */
export function lowerHelperThreads(): number {
  if (process.platform !== 'linux' || helperNiceWanted() !== true) return 0;
  let tids: string[];
  let target: number;
  try {
    tids = readdirSync('/proc/self/task');
    target = Math.min(NICE_MAX, getPriority(0) + HELPER_NICE_STEP);
  } catch {
    return 0; // no /proc: nothing to do
  }
  let lowered = 0;
  for (const name of tids) {
    const tid = Number(name);
    if (!Number.isSafeInteger(tid) || tid === process.pid) continue;
    try {
      if (getPriority(tid) >= target) continue;
      setPriority(tid, target);
      lowered++;
    } catch {
      // Gone meanwhile (a thread that ended), or refused: it keeps its priority.
    }
  }
  return lowered;
}
