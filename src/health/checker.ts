// Active health checks (docs/health.md): each server of a backend with `health` is probed every
// `interval`, one probe at a time, and each result goes to its observed state, where rise and fall
// decide its health (runtime/server-state.ts). Started once the listeners are up; stop() aborts
// the probes in flight, waits for them (an exec check's process included) and leaves no timer.
import { proxyVersion, type Config, type HealthConfig } from '../config/schema.js';
import { isDescriptorShortage } from '../descriptors.js';
import type { ObservedServer, ObservedState } from '../runtime/servers.js';
import { probeFor, type Probe, type ProbeResult, type ProbeTarget } from './probes.js';

interface Job {
  readonly probe: Probe;
  readonly target: ProbeTarget;
  readonly state: ObservedServer;
  readonly health: HealthConfig;
}

export class HealthChecker {
  readonly #jobs: Job[] = [];
  readonly #stop = new AbortController();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #running = new Set<Promise<void>>();

  /** Checks for every server of every backend of `config` that has `health`; nothing runs before start(). */
  constructor(config: Config, observed: ObservedState) {
    for (const be of config.backends) {
      if (be.kind !== 'proxy' || be.health === null) continue;
      const probe = probeFor(be.health);
      for (const s of be.servers) {
        const target = { backend: be.name, server: s.name, host: s.host, port: s.port, sendProxy: proxyVersion(s.sendProxy) };
        this.#jobs.push({ probe, target, state: observed.server(be.name, s.name), health: be.health });
      }
    }
  }

  /** Starts checking; a backend's first checks are spread over one interval, not fired at once. */
  start(): void {
    const perBackend = new Map<string, number>();
    for (const job of this.#jobs) perBackend.set(job.target.backend, (perBackend.get(job.target.backend) ?? 0) + 1);
    const seen = new Map<string, number>();
    for (const job of this.#jobs) {
      const i = seen.get(job.target.backend) ?? 0;
      seen.set(job.target.backend, i + 1);
      this.#after(Math.floor((job.health.interval * i) / perBackend.get(job.target.backend)!), job);
    }
  }

  /** Stops checking: no probe starts after this, and the promise resolves once none is running. */
  async stop(): Promise<void> {
    this.#stop.abort();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await Promise.all(this.#running);
  }

  #after(ms: number, job: Job): void {
    if (this.#stop.signal.aborted) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      const run = this.#check(job).finally(() => this.#running.delete(run));
      this.#running.add(run);
    }, ms);
    // Never what keeps the process alive: the listeners are.
    timer.unref();
    this.#timers.add(timer);
  }

  async #check(job: Job): Promise<void> {
    const started = performance.now();
    const result = await this.#probe(job);
    if (this.#stop.signal.aborted) return; // a result cut short by stopping says nothing about the server
    // A probe that could not even open its socket or start its command (EMFILE, ENFILE) says
    // nothing about the server either: no result at all, the next check is on time.
    const said = result.pass || !isDescriptorShortage(result.detail);
    if (said && !result.pass) {
      job.state.failures++;
      job.state.checkFailures++;
    }
    if (said) job.state.check(result.pass, job.health, job.health.type, result.detail);
    // The next check starts one interval after this one started, or at once if this one took longer.
    this.#after(Math.max(0, job.health.interval - (performance.now() - started)), job);
  }

  // One probe under a signal that aborts at the check's timeout or at stop. A controller and a
  // timer of its own, cleared at once, rather than AbortSignal.any/timeout: a check every few
  // seconds for months must leave nothing behind for the collector to catch up with.
  async #probe(job: Job): Promise<ProbeResult> {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new DOMException(`timed out after ${job.health.timeout}ms`, 'TimeoutError')),
      job.health.timeout,
    );
    const onStop = (): void => controller.abort(this.#stop.signal.reason);
    this.#stop.signal.addEventListener('abort', onStop, { once: true });
    try {
      return await job.probe(job.target, controller.signal);
    } catch (err) {
      // Probes settle with a result; anything else is still a failed check, never a crash.
      return { pass: false, detail: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
      this.#stop.signal.removeEventListener('abort', onStop);
    }
  }
}
