// `flagman run`: load, compile, watch flags, listen; recompile on every flag change; stop gracefully.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { createAdminServer } from '../admin/server.js';
import type { ListenAddress } from '../config/schema.js';
import { loadConfig } from '../config/load.js';
import type { FlagSnapshot } from '../flags/snapshot.js';
import { FlagStore } from '../flags/store.js';
import { HealthChecker } from '../health/checker.js';
import { events, flushLogs } from '../log.js';
import { createFrontendServer, listen } from '../proxy/frontend.js';
import { PageCache } from '../proxy/pages.js';
import { buildRuntime, compileProgram } from '../runtime/compile.js';
import { RuntimeHolder } from '../runtime/holder.js';
import type { Runtime } from '../runtime/runtime.js';
import { ObservedState } from '../runtime/servers.js';
import { logStateChanges } from '../runtime/transitions.js';
import { VERSION } from '../version.js';

interface Listener {
  readonly server: http.Server;
  readonly address: ListenAddress;
  /** Fields of its `listen` event line: the frontend's name, or admin. */
  readonly label: { frontend: string } | { admin: true };
}

/** Runs the proxy until SIGTERM/SIGINT; resolves with the exit code. */
export async function run(configFile: string): Promise<number> {
  const startedAt = Date.now();
  const config = loadConfig(configFile);
  const program = compileProgram(config);

  const store = new FlagStore({ dir: config.flags.dir, rescanMs: config.flags.rescan, allowWorldWritable: config.flags.allowWorldWritable, preferred: program.flags });
  await store.start();
  const observed = new ObservedState();
  const pages = new PageCache();
  const generation = 1;
  let reported = new Set<string>();
  const build = (snapshot: FlagSnapshot): Runtime => {
    const runtime = buildRuntime(program, snapshot, { observed, pages, generation });
    // Each problem is logged when it appears, not again on every later flag change.
    for (const p of runtime.problems) if (!reported.has(p)) events.warn({ event: 'expr.problem', problem: p }, p);
    reported = new Set(runtime.problems);
    return runtime;
  };
  const holder = new RuntimeHolder(build(store.snapshot));
  // Recompiling is the only work a flag change or a change of health causes: requests never
  // evaluate flags or filter servers themselves.
  const rebuild = (snapshot: FlagSnapshot, why: string): void => {
    try {
      const prev = holder.current;
      holder.swap(build(snapshot));
      logStateChanges(prev, holder.current);
    } catch (err) {
      // Failure keeps the old world (STYLE 5): the previous runtime goes on serving.
      events.error({ event: 'runtime.error', err: String(err) }, `could not apply a ${why}; keeping the previous routing`);
    }
  };
  store.on('change', (snapshot: FlagSnapshot) => rebuild(snapshot, 'flag change'));
  // Health changes come from checks and from failing requests; those of one turn of the event
  // loop are applied together, before any other request is routed.
  let healthQueued = false;
  observed.on('health', () => {
    if (healthQueued) return;
    healthQueued = true;
    queueMicrotask(() => {
      healthQueued = false;
      rebuild(store.snapshot, 'change of server health');
    });
  });
  const checker = new HealthChecker(config, observed);

  const tunnels = new Set<Duplex>();
  const listeners: Listener[] = [];
  for (const [index, fe] of config.frontends.entries()) {
    for (const address of fe.listen) listeners.push({ server: createFrontendServer(holder, index, config.timeouts, tunnels), address, label: { frontend: fe.name } });
  }
  if (config.admin.listen !== null) {
    const admin = createAdminServer({
      pid: process.pid,
      version: VERSION,
      startedAt,
      configFile: config.file,
      lastReload: { at: startedAt, ok: true, error: null },
      runtime: () => holder.current,
      flags: () => store.snapshot,
      watcher: () => store.watcherStatus,
    });
    listeners.push({ server: admin, address: config.admin.listen, label: { admin: true } });
  }
  try {
    for (const l of listeners) {
      await listen(l.server, l.address);
      const bound = l.server.address();
      const port = typeof bound === 'object' && bound !== null ? bound.port : null;
      events.info({ event: 'listen', ...l.label, address: l.address.text, port }, `${'admin' in l.label ? 'admin endpoint' : `frontend ${l.label.frontend}`} listening on ${l.address.text}`);
    }
  } catch (err) {
    // Start fails fast and whole (SPEC §6): nothing stays half-open.
    for (const l of listeners) l.server.close();
    await store.close();
    await pages.close();
    throw err;
  }
  events.info({ event: 'start', pid: process.pid, version: VERSION, config: config.file, flags: config.flags.dir }, 'flagman started');
  // Checks start once traffic can flow: until then there is nothing their results would steer.
  checker.start();

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      events.info({ event: 'stop', signal }, `stopping on ${signal}`);
      const checksStopped = checker.stop();
      const servers = listeners.map((l) => l.server);
      const deadline = setTimeout(() => {
        for (const s of servers) s.closeAllConnections();
        for (const t of tunnels) t.destroy();
      }, config.timeouts.shutdown);
      deadline.unref();
      let open = servers.length;
      const closed = async (): Promise<void> => {
        if (--open > 0) return;
        clearTimeout(deadline);
        await checksStopped;
        await store.close();
        await pages.close();
        observed.destroy();
        events.info({ event: 'exit' }, 'stopped');
        flushLogs();
        resolve(0);
      };
      for (const s of servers) {
        // close() stops accepting and waits for in-flight requests; idle keep-alive connections
        // would hold it open until their timeout, so they are closed now.
        s.close(() => void closed());
        s.closeIdleConnections();
      }
    };
    // SIGHUP's default action would end the process: an operator's reload must never do that.
    process.on('SIGHUP', () => events.warn({ event: 'reload.unsupported' }, 'SIGHUP received: in-place reload is not available in this version; restart to apply config changes'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
