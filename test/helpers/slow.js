// One slowness factor for a test run: the helpers' default timeouts (an event awaited, flagman's
// start, a page's text…) are multiplied by it, so that a machine whose CPUs are taken by other work
// is given the time it needs instead of failing the waits; on an idle machine it is 1 and changes
// nothing. FLAGMAN_TEST_SLOW sets it; unset, it is measured once, when ava starts (ava.config.js,
// before its workers add their own load), and handed to every worker in that variable.
import os from 'node:os';

/** The measured factor's bounds: past ×4 a wait is no longer worth waiting for. */
export const MAX_SLOWNESS = 4;

/** A busy loop's CPU time: long enough to span several scheduler slices, short enough not to count. */
const SPIN_CPU_MS = 20;
let _sink = 0; // the busy loop's result, kept where the compiler cannot drop the loop

/**
 * How much slower than an idle machine this one runs now, from two views: the 1-minute load average
 * per CPU (runnable tasks queued for each), and a short busy loop's wall time over its CPU time (the
 * share of a CPU it got). The larger, bounded to ×1–×4.
 */
export function measureSlowness() {
  const cpus = os.availableParallelism();
  const perCpu = os.loadavg()[0] / cpus;
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  let cpuMs = 0;
  // Stops at the bound too: a loop that got under a quarter of a CPU has shown all it needs to.
  while (cpuMs < SPIN_CPU_MS && performance.now() - wall0 < SPIN_CPU_MS * MAX_SLOWNESS) {
    for (let i = 0; i < 10_000; i++) _sink += Math.sqrt(i);
    const used = process.cpuUsage(cpu0);
    cpuMs = (used.user + used.system) / 1000;
  }
  const share = (performance.now() - wall0) / Math.max(cpuMs, 0.001);
  const factor = Math.min(MAX_SLOWNESS, Math.max(1, perCpu, share));
  return { factor: Math.round(factor * 10) / 10, perCpu, share, cpus };
}

/** FLAGMAN_TEST_SLOW when it is a number ≥ 1, else null. */
export function slownessFromEnv(env = process.env) {
  const v = Number(env.FLAGMAN_TEST_SLOW);
  return env.FLAGMAN_TEST_SLOW && Number.isFinite(v) && v >= 1 ? v : null;
}

/** This run's factor: FLAGMAN_TEST_SLOW, or measured here (a test file run outside ava's config). */
export const SLOWNESS = slownessFromEnv() ?? measureSlowness().factor;

/** `ms` scaled by the run's slowness factor: for timeouts of waits, never for bounds a test asserts. */
export function scaled(ms) {
  return Math.round(ms * SLOWNESS);
}
