// A worker process (`workers` > 1): serves the frontends with the primary's flags and health, and
// counts what it serves. It reads no flag file, runs no check and no admin endpoint; it loads the
// config itself (the primary has validated it) and reloads when the primary says so.
import cluster from 'node:cluster';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { loadConfig } from '../config/load.js';
import { measureBudget } from '../descriptors.js';
import { lowerHelperThreads } from '../helper-threads.js';
import { ListenerSet } from '../lifecycle/listeners.js';
import { Live } from '../lifecycle/reload.js';
import { Shutdown } from '../lifecycle/shutdown.js';
import { bindAccess, events, reopenAccess } from '../log.js';
import { prepareAccessLog } from '../lifecycle/access-log.js';
import { ConnectionGate } from '../proxy/admission.js';
import { PageCache } from '../runtime/pages.js';
import { CertStore } from '../tls/certs.js';
import { buildRuntime, compileProgram } from '../runtime/compile.js';
import { RuntimeHolder } from '../runtime/holder.js';
import { ObservedState } from '../runtime/servers.js';
import { makeUpstreamPool } from '../upstream/pool.js';
import type { ToPrimary, ToWorker } from './messages.js';
import { RemoteFlags } from './remote-flags.js';
import { chargeSpent, RATE_SYNC_MS, takeSpent } from './rate-sync.js';
import { STATS_REPORT_MS, takeStats } from './stats.js';
import { adoptTicketKeys } from '../tls/ticket-keys.js';

// Once stopped, a worker ends when its last log writes are done; this long at most, should a pipe
// nobody reads (or a handle left open) hold it.
const EXIT_GRACE_MS = 2000;

function send(m: ToPrimary): void {
  if (process.connected) process.send!(m);
}

/** Asks the primary for the flags and health, and waits for them. */
function initMessage(): Promise<Extract<ToWorker, { t: 'init' }>> {
  return new Promise((resolve) => {
    const on = (m: ToWorker): void => {
      if (m.t !== 'init') return;
      process.off('message', on);
      resolve(m);
    };
    process.on('message', on);
    // Asked for, not pushed at fork: a message that arrives before this module has loaded is lost.
    send({ t: 'hello' });
  });
}

/** Runs one worker until the primary (or a signal) stops it; resolves with the exit code. */
export async function runWorker(configFile: string): Promise<number> {
  // The primary tells every worker to reopen the access log ('reopen'); SIGUSR1 sent to the whole
  // group (`systemctl kill -s USR1`) must not make a worker do it twice, nor start Node's inspector,
  // its default action.
  process.on('SIGUSR1', () => undefined);
  const slot = Number(process.env.FLAGMAN_WORKER_SLOT ?? '0');
  events.setBindings({ worker: slot });
  bindAccess({ worker: slot });
  const init = await initMessage();
  // Before any TLS context is made: a ticket any worker gave resumes on every other.
  adoptTicketKeys(Buffer.from(init.ticketKeys, 'base64'));
  const config = loadConfig(configFile);
  const program = compileProgram(config);
  // Each worker appends to the file itself (log.ts): no line goes through the primary.
  prepareAccessLog(null, config.log, true).commit();
  const flags = new RemoteFlags(init.version, init.flags);
  const observed = new ObservedState(makeUpstreamPool, (key, pass, source, detail) => send({ t: 'check', key, pass, source, detail }));
  // Every worker's rate limits hear what the others admitted (rate-sync.ts).
  observed.shareRates = true;
  for (const [key, health, change] of init.health) observed.adopt(key, health, change);
  const pages = new PageCache();
  const tunnels = new Set<Duplex>();
  const holder = new RuntimeHolder(buildRuntime(program, flags.snapshot, { observed, pages, generation: 1 }));
  const noAdmin = (): http.Server => {
    throw new Error('a worker opens no admin endpoint');
  };
  // The primary reports certificate problems; each worker reads and watches the files it serves.
  const certs = new CertStore(false);
  const gate = new ConnectionGate(observed.connections);
  const listeners = new ListenerSet(holder, tunnels, noAdmin, certs, gate);
  const live = new Live({
    config,
    program,
    store: flags,
    role: { listeners: 'frontends', decides: false },
    startedAt: Date.now(),
    holder,
    observed,
    pages,
    listeners,
  });
  holder.swap(live.build(flags.snapshot));
  (await listeners.prepare(config, 'frontends')).commit();
  // Each worker holds its own connections and descriptors: it caps them itself.
  gate.apply(measureBudget());
  lowerHelperThreads(); // src/helper-threads.ts

  // The counters go to the primary unasked too, so that a worker killed outright takes at most the
  // last STATS_REPORT_MS of them along (the primary keeps the rest). An unchanged report is not sent:
  // an idle worker does not wake the primary ten times a second.
  let reported = '';
  const report = setInterval(() => {
    const stats = takeStats(observed);
    const json = JSON.stringify(stats);
    if (json === reported) return;
    reported = json;
    send({ t: 'stats', id: null, stats });
  }, STATS_REPORT_MS);
  report.unref();
  const sync = setInterval(() => {
    const spent = takeSpent(observed);
    if (spent !== null) send({ t: 'spent', spent });
  }, RATE_SYNC_MS);
  sync.unref();

  // As a single process ends (cut at the deadline, every line written), but silently: the primary
  // logs the instance's stop. Then the last counters, and the IPC channel let go.
  const shutdown = new Shutdown(
    { listeners, tunnels, observed, live, pages, certs },
    {
      announce: false,
      closed: () => {
        clearInterval(report);
        clearInterval(sync);
        send({ t: 'stats', id: null, stats: takeStats(observed) });
      },
      last: () => {
        // The IPC channel would keep this process alive: close it, and the process ends once its
        // writes are done. Closed through cluster, which tells the primary first: a plain
        // process.disconnect() looks like a lost primary to cluster, which exits at once, before an
        // asynchronous write of the last access lines has finished.
        setTimeout(() => process.exit(0), EXIT_GRACE_MS).unref();
        if (process.connected) cluster.worker?.disconnect();
      },
    },
  );
  process.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'flags':
        flags.apply(m.version, m.set, m.removed);
        break;
      case 'health':
        observed.adopt(m.key, m.health, m.change);
        break;
      case 'reload':
        void live
          .reload('primary')
          .then((r) => send({ t: 'reloaded', generation: m.generation, id: m.id, error: r.ok ? null : r.error, codes: r.codes }));
        break;
      case 'stats':
        send({ t: 'stats', id: m.id, stats: takeStats(observed) });
        break;
      case 'spent':
        chargeSpent(holder.current, m.spent, performance.now());
        break;
      case 'reopen':
        reopenAccess();
        break;
      case 'stop':
        void shutdown.stop('stop');
        break;
    }
  });
  // Under systemd (KillMode=control-group) every process of the unit gets the signal.
  shutdown.onSignals();
  // The primary reloads; a SIGHUP sent to the whole group must not end a worker.
  process.on('SIGHUP', () => undefined);
  // Without its primary a worker would serve stale flags forever.
  process.on('disconnect', () => void shutdown.stop('disconnect'));
  send({ t: 'ready' });
  return shutdown.done;
}
