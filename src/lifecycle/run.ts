// `flagman run`: load, compile, watch flags, listen; recompile on every flag change; reload on SIGHUP
// or a config file change (reload.ts); stop gracefully. With `workers` above 1 this process is the
// primary: it keeps the flag store, the checks and the admin endpoint, and its workers
// (cluster/worker.ts) serve the frontends. The admin endpoint is the command's to give (`surface`):
// this layer only hands it what it reads.
import cluster from 'node:cluster';
import type { Duplex } from 'node:stream';
import { budgetFor, measureBudget, type DescriptorBudget } from '../descriptors.js';
import { explain } from '../explain/explain.js';
import { lowerHelperThreads } from '../helper-threads.js';
import { loadConfig } from '../config/load.js';
import { storeFor } from '../flags/store.js';
import { events, logDrops, reopenAccess } from '../log.js';
import { ConnectionGate } from '../proxy/admission.js';
import { PageCache } from '../runtime/pages.js';
import { CertStore } from '../tls/certs.js';
import { ticketKeys } from '../tls/ticket-keys.js';
import { buildRuntime, compileProgram } from '../runtime/compile.js';
import { RuntimeHolder } from '../runtime/holder.js';
import { ObservedState, type CheckSource, type HealthChange } from '../runtime/servers.js';
import { makeUpstreamPool } from '../upstream/pool.js';
import type { Health } from '../runtime/server-state.js';
import { VERSION } from '../version.js';
import type { Stats, ToWorker } from '../cluster/messages.js';
import { WorkerPool } from '../cluster/pool.js';
import { flagDiff } from '../cluster/remote-flags.js';
import { runWorker } from '../cluster/worker.js';
import { addUp, addUpLogs } from '../cluster/stats.js';
import type { FlagSnapshot } from '../flags/snapshot.js';
import { prepareAccessLog } from './access-log.js';
import { ConfigWatch } from './config-watch.js';
import { ListenerSet } from './listeners.js';
import { Live, SINGLE, type LiveRole } from './reload.js';
import { release, Shutdown } from './shutdown.js';
import type { AdminSources, AdminSurface } from './sources.js';

/** Runs the proxy, its admin endpoint given by `surface`, until SIGTERM/SIGINT; resolves with the exit code. */
export async function run(configFile: string, surface: AdminSurface): Promise<number> {
  if (cluster.isWorker) return runWorker(configFile);
  // First of all: Node's own action on SIGUSR1 starts its inspector, on 127.0.0.1:9229, where anyone
  // on the machine could run code in flagman. Until the access log is where it goes, there is
  // nothing to reopen.
  let onReopen = (): void => undefined;
  process.on('SIGUSR1', () => onReopen());
  const startedAt = Date.now();
  const config = loadConfig(configFile);
  const program = compileProgram(config);
  // The access log's file is opened before anything else, so a path that cannot be opened is a
  // config error at start; with workers, each opens it, and this process only checks it.
  prepareAccessLog(null, config.log, config.workers.count === 1).commit();
  const pool =
    config.workers.count > 1
      ? new WorkerPool(config.workers.count, { init: () => initMessage(), check: (m) => onCheck(m.key, m.pass, m.source, m.detail) })
      : null;
  // SIGUSR1 (logrotate's postrotate): the process that writes the access log reopens its file;
  // a primary has each worker do it.
  onReopen = pool ? () => ((live?.config ?? config).log.file === null ? reopenAccess() : pool.broadcast({ t: 'reopen' })) : reopenAccess;

  const store = storeFor(config.flags, program.flags);
  await store.start();
  const observed = new ObservedState(makeUpstreamPool);
  const pages = new PageCache();
  const certs = new CertStore(true);
  const tunnels = new Set<Duplex>();
  // In a primary this runtime serves no request: it is what /status, /explain and the checks read.
  const holder = new RuntimeHolder(buildRuntime(program, store.snapshot, { observed, pages, generation: 1 }));
  let live: Live | null = null;
  // Measured once the listeners are open (descriptors.ts); unknown until then.
  let budget: DescriptorBudget = budgetFor(null, null);
  let sent: FlagSnapshot = store.snapshot;
  const initMessage = (): ToWorker => {
    const health: [string, Health, HealthChange | null][] = [];
    for (const [key, st] of observed.all().servers) health.push([key, st.health, st.change]);
    const snap = live?.store.snapshot ?? store.snapshot;
    return { t: 'init', ticketKeys: ticketKeys().toString('base64'), version: snap.version, flags: [...snap.flags], health };
  };
  // A request's failed connection in a worker: the primary applies it under its backend's rule.
  const onCheck = (key: string, pass: boolean, source: CheckSource, detail: string): void => {
    for (const t of holder.current.targets.values()) {
      if (t.kind !== 'proxy' || t.health === null) continue;
      const s = t.servers.find((c) => c.state.key === key);
      if (s) return s.state.check(pass, t.health, source, detail);
    }
  };
  const role: LiveRole = pool
    ? {
        listeners: 'admin',
        decides: true,
        refuse: (next) => (next.workers.count > 1 ? null : 'workers: going from several processes to one needs a restart'),
        afterReload: async (generation) => {
          const error = await pool.reload(generation);
          if (live && live.config.workers.count !== pool.size) await pool.resize(live.config.workers.count);
          return error;
        },
        onFlags: (snapshot) => {
          const { set, removed } = flagDiff(sent, snapshot);
          sent = snapshot;
          pool.broadcast({ t: 'flags', version: snapshot.version, set, removed });
        },
      }
    : { ...SINGLE, refuse: (next) => (next.workers.count > 1 ? 'workers: going from one process to several needs a restart' : null) };
  if (pool) observed.on('health', (st) => pool.broadcast({ t: 'health', key: st.key, health: st.health, change: st.change }));
  // The workers' latest counters, gathered before each read of the admin endpoint.
  let gathered: Stats[] = [];
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
    // With workers, each caps its own connections by the same limit; the primary adds them up.
    process: () => ({ budget, connections: observed.connections }),
    tls: () => certs.problems(),
    // The workers' counters, added up, before each read of the admin endpoint.
    refresh: pool
      ? async () => {
          gathered = await pool.gather();
          addUp(observed, gathered);
        }
      : undefined,
    logs: () => addUpLogs(logDrops(), gathered),
    workers: pool ? () => pool.pids() : undefined,
  };
  const admin = surface(sources);
  const gate = new ConnectionGate(observed.connections);
  const listeners = new ListenerSet(holder, tunnels, admin, certs, gate);
  live = new Live({ config, program, store, role, startedAt, holder, observed, pages, listeners });
  holder.swap(live.build(store.snapshot)); // the same runtime, with its problems logged
  try {
    (await listeners.prepare(config, role.listeners)).commit();
    budget = measureBudget();
    if (!pool) gate.apply(budget);
    await pool?.start();
  } catch (err) {
    // Start fails fast and whole: nothing stays half-open.
    await pool?.stop(1000);
    await listeners.close();
    await release({ live, pages, certs });
    throw err;
  }
  const watch = new ConfigWatch(config.file, () => void live!.reload('file'));
  await watch.ready(); // an edit right after `start` must not be missed
  lowerHelperThreads(); // once the threads of a start are there (src/helper-threads.ts)
  events.info(
    {
      event: 'start',
      pid: process.pid,
      version: VERSION,
      config: config.file,
      flags: config.flags.dir,
      workers: pool?.pids() ?? null,
      fdLimit: budget.limit,
      maxConnections: observed.connections.max,
    },
    'flagman started',
  );
  // Checks start once traffic can flow: until then there is nothing their results would steer.
  live.startChecks();

  const shutdown = new Shutdown(
    { listeners, tunnels, observed, live, pages, certs },
    {
      announce: true,
      first: async () => {
        await watch.close();
        // Workers finish their in-flight requests (their own shutdown timeout), then exit.
        await pool?.stop(live!.config.timeouts.shutdown + 5000);
      },
    },
  ).onSignals();
  // SIGHUP's default action would end the process; here it reloads, always (even the same bytes).
  process.on('SIGHUP', () => {
    if (shutdown.stopping) return;
    watch.loaded();
    void live!.reload('SIGHUP');
  });
  return shutdown.done;
}
