// `flagman run`: load, compile, watch flags, listen; recompile on every flag change; reload on SIGHUP
// or a config file change (reload.ts); stop gracefully.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { createMetrics, type AdminSources } from '../admin/metrics.js';
import { createAdminServer } from '../admin/server.js';
import { explain } from '../explain/explain.js';
import { loadConfig } from '../config/load.js';
import { FlagStore } from '../flags/store.js';
import { events, flushLogs } from '../log.js';
import { PageCache } from '../proxy/pages.js';
import { buildRuntime, compileProgram } from '../runtime/compile.js';
import { RuntimeHolder } from '../runtime/holder.js';
import { ObservedState } from '../runtime/servers.js';
import { VERSION } from '../version.js';
import { ConfigWatch } from './config-watch.js';
import { ListenerSet } from './listeners.js';
import { Live } from './reload.js';

/** Runs the proxy until SIGTERM/SIGINT; resolves with the exit code. */
export async function run(configFile: string): Promise<number> {
  const startedAt = Date.now();
  const config = loadConfig(configFile);
  const program = compileProgram(config);

  const store = new FlagStore({ dir: config.flags.dir, rescanMs: config.flags.rescan, allowWorldWritable: config.flags.allowWorldWritable, preferred: program.flags });
  await store.start();
  const observed = new ObservedState();
  const pages = new PageCache();
  const tunnels = new Set<Duplex>();
  const holder = new RuntimeHolder(buildRuntime(program, store.snapshot, { observed, pages, generation: 1 }));
  let live: Live | null = null;
  const sources: AdminSources = {
    pid: process.pid,
    version: VERSION,
    startedAt,
    configFile: config.file,
    lastReload: () => live!.lastReload,
    reloadFailures: () => live!.reloadFailures,
    explain: (req) =>
      explain(live!.program, live!.store.snapshot, req, (backend, server) => {
        const t = holder.current.targets.get(backend);
        return t?.kind === 'proxy' ? (t.servers.find((s) => s.name === server)?.health ?? null) : null;
      }),
    runtime: () => holder.current,
    flags: () => live!.store.snapshot,
    watcher: () => live!.store.watcherStatus,
  };
  // One registry, however often a reload moves the admin endpoint.
  const metrics = createMetrics(sources);
  const admin = (): http.Server => createAdminServer(sources, metrics);
  const listeners = new ListenerSet(holder, tunnels, admin);
  live = new Live({ config, program, store, startedAt, holder, observed, pages, listeners });
  holder.swap(live.build(store.snapshot)); // the same runtime, with its problems logged
  try {
    (await listeners.prepare(config)).commit();
  } catch (err) {
    // Start fails fast and whole (SPEC §6): nothing stays half-open.
    await listeners.close();
    await live.close();
    await pages.close();
    throw err;
  }
  const watch = new ConfigWatch(config.file, () => void live!.reload('file'));
  await watch.ready(); // an edit right after `start` must not be missed
  events.info({ event: 'start', pid: process.pid, version: VERSION, config: config.file, flags: config.flags.dir }, 'flagman started');
  // Checks start once traffic can flow: until then there is nothing their results would steer.
  live.startChecks();

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      events.info({ event: 'stop', signal }, `stopping on ${signal}`);
      const checksStopped = live!.stopChecks();
      await watch.close();
      const deadline = setTimeout(() => {
        listeners.forceClose();
        for (const t of tunnels) t.destroy();
      }, live!.config.timeouts.shutdown);
      deadline.unref();
      await listeners.close();
      clearTimeout(deadline);
      await checksStopped;
      await live!.close();
      await pages.close();
      observed.destroy();
      events.info({ event: 'exit' }, 'stopped');
      flushLogs();
      resolve(0);
    };
    // SIGHUP's default action would end the process; here it reloads, always (even the same bytes).
    process.on('SIGHUP', () => {
      if (stopping) return;
      watch.loaded();
      void live!.reload('SIGHUP');
    });
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
}
