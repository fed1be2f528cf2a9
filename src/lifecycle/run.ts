// `flagman run`: load, compile, watch flags, listen; recompile on every flag change; stop gracefully.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { loadConfig } from '../config/load.js';
import type { FlagSnapshot } from '../flags/snapshot.js';
import { FlagStore } from '../flags/store.js';
import { events, flushLogs } from '../log.js';
import { createFrontendServer, listen } from '../proxy/frontend.js';
import { PageCache } from '../proxy/pages.js';
import { buildRuntime, compileProgram } from '../runtime/compile.js';
import { RuntimeHolder } from '../runtime/holder.js';
import type { Runtime } from '../runtime/runtime.js';
import { ObservedState } from '../runtime/servers.js';

/** Runs the proxy until SIGTERM/SIGINT; resolves with the exit code. */
export async function run(configFile: string): Promise<number> {
  const config = loadConfig(configFile);
  const program = compileProgram(config);

  const store = new FlagStore({ dir: config.flags.dir, rescanMs: config.flags.rescan, allowWorldWritable: config.flags.allowWorldWritable });
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
  // Recompiling is the only work a flag change causes; requests never evaluate flags themselves.
  store.on('change', (snapshot: FlagSnapshot) => {
    try {
      holder.swap(build(snapshot));
    } catch (err) {
      // Failure keeps the old world (STYLE 5): the previous runtime goes on serving.
      events.error({ event: 'runtime.error', err: String(err) }, 'could not apply a flag change; keeping the previous routing');
    }
  });

  const servers: http.Server[] = [];
  const tunnels = new Set<Duplex>();
  try {
    for (const [index, fe] of config.frontends.entries()) {
      for (const address of fe.listen) {
        const server = createFrontendServer(holder, index, config.timeouts, tunnels);
        servers.push(server);
        await listen(server, address);
        const bound = server.address();
        events.info({ event: 'listen', frontend: fe.name, address: address.text, port: typeof bound === 'object' && bound !== null ? bound.port : null }, `frontend ${fe.name} listening on ${address.text}`);
      }
    }
  } catch (err) {
    for (const s of servers) s.close();
    await store.close();
    await pages.close();
    throw err;
  }
  events.info({ event: 'start', pid: process.pid, config: config.file, flags: config.flags.dir }, 'flagman started');

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      events.info({ event: 'stop', signal }, `stopping on ${signal}`);
      const deadline = setTimeout(() => {
        for (const s of servers) s.closeAllConnections();
        for (const t of tunnels) t.destroy();
      }, config.timeouts.shutdown);
      deadline.unref();
      let open = servers.length;
      const closed = async (): Promise<void> => {
        if (--open > 0) return;
        clearTimeout(deadline);
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
      if (servers.length === 0) void closed();
    };
    // SIGHUP's default action would end the process: an operator's reload must never do that.
    process.on('SIGHUP', () => events.warn({ event: 'reload.unsupported' }, 'SIGHUP received: in-place reload is not available in this version; restart to apply config changes'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
