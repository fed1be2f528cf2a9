// Linux /proc readings of one process (ours to measure, by PID): memory and CPU time.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

let clkTck = null;

/** Clock ticks per second (getconf CLK_TCK; 100 on every Linux we know). */
export function ticksPerSecond() {
  if (clkTck === null) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
    const n = Number(r.stdout?.trim());
    clkTck = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clkTck;
}

/** {rssKB, hwmKB} from /proc/PID/status, or nulls when it cannot be read. */
export function memory(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
      return m ? Number(m[1]) : null;
    };
    return { rssKB: kb('VmRSS'), hwmKB: kb('VmHWM') };
  } catch {
    return { rssKB: null, hwmKB: null };
  }
}

/**
 * The fields of /proc/PID/stat after the command name, which may hold spaces (so the split starts
 * after its closing parenthesis): [0] is field 3 (state), [11] utime, [12] stime, [13] cutime,
 * [14] cstime. null when the process is gone.
 */
function statFields(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** utime + stime of PID in clock ticks (null when gone). */
export function cpuTicks(pid) {
  const f = statFields(pid);
  return f === null ? null : Number(f[11]) + Number(f[12]);
}

/** Starts a CPU window on PID; the returned function gives the CPU % (of one core) since then. */
export function cpuWindow(pid, now = () => performance.now()) {
  const t0 = now();
  const c0 = cpuTicks(pid);
  return () => {
    const c1 = cpuTicks(pid);
    const wall = (now() - t0) / 1000;
    if (c0 === null || c1 === null || wall <= 0) return null;
    return Math.round(((c1 - c0) / ticksPerSecond() / wall) * 1000) / 10;
  };
}

/** utime + stime + cutime + cstime of PID (its reaped children included), in clock ticks. */
export function cpuTicksWithChildren(pid) {
  const f = statFields(pid);
  return f === null ? null : Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

/** Busy clock ticks of the whole machine, all CPUs (from /proc/stat: total − idle − iowait). */
export function systemBusyTicks() {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // user … steal (guest is inside user)
    return total - v[3] - v[4];
  } catch {
    return null;
  }
}

/**
 * Starts a window measuring CPU used on this machine by processes that are not ours: all busy time
 * minus the time of `pids()` (ours: the bench with its reaped children, the world, flagman).
 * Returns a function giving that "foreign" CPU as % of one core since the start, and loadavg.
 */
export function foreignWindow(pids) {
  const t0 = performance.now();
  const ours = () => pids().reduce((sum, p) => sum + (cpuTicksWithChildren(p) ?? 0), 0);
  const b0 = systemBusyTicks();
  const o0 = ours();
  return () => {
    const wall = (performance.now() - t0) / 1000;
    const b1 = systemBusyTicks();
    const o1 = ours();
    if (b0 === null || b1 === null || wall <= 0) return null;
    const pct = ((b1 - b0 - (o1 - o0)) / ticksPerSecond() / wall) * 100;
    return Math.max(0, Math.round(pct));
  };
}

/** The 1-minute load average. */
export function loadavg1() {
  try {
    return Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}

/** PID and all its descendants (from /proc/PID/task/TID/children), PID first. */
export function processTree(pid) {
  const out = [];
  const walk = (p) => {
    out.push(p);
    let tasks = [];
    try {
      tasks = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let kids = '';
      try {
        kids = fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const k of kids.trim().split(/\s+/).filter(Boolean)) walk(Number(k));
    }
  };
  walk(pid);
  return out;
}

/** utime + stime summed over PID's process tree, in clock ticks (threads are in each process's figure). */
export function treeCpuTicks(pid) {
  return processTree(pid).reduce((sum, p) => sum + (cpuTicks(p) ?? 0), 0);
}

/** cutime + cstime of PID: the CPU of the children it has exited and waited for, in clock ticks. */
export function reapedChildrenTicks(pid) {
  const f = statFields(pid);
  return f === null ? null : Number(f[13]) + Number(f[14]);
}

/**
 * utime + stime + cutime + cstime summed over PID's process tree, in clock ticks: the CPU of every
 * process in it now and of those it had that exited and were waited for by one of them (a process
 * that a shell loop starts again, an old worker its master retired). A process's time moves into
 * its parent's cutime when it is waited for, so each tick is counted once across that.
 */
export function treeCpuTicksWithChildren(pid) {
  return processTree(pid).reduce((sum, p) => sum + (cpuTicksWithChildren(p) ?? 0), 0);
}

/** VmRSS summed over PID's process tree, in kB. */
export function treeRssKB(pid) {
  return processTree(pid).reduce((sum, p) => sum + (memory(p).rssKB ?? 0), 0);
}
