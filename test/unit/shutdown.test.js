// lifecycle/shutdown.ts: the one stop sequence of a serving process, a single process, a primary or
// a worker alike, run here on fakes that record what is done to them and in which order.
import { EventEmitter } from 'node:events';
import test from 'ava';
import { Shutdown } from '../../dist/lifecycle/shutdown.js';

/**
 * A serving process's parts, each noting its steps in `log`. `drainMs`: how long the listeners take
 * to close unless cut first (null: until cut); `active`: a frontend's exchanges still logging.
 */
function fakes({ shutdownMs = 30_000, drainMs = 0, checksMs = 0 } = {}) {
  const log = [];
  const frontend = { active: 0 };
  let closed = null;
  const listeners = {
    close: () => {
      log.push('listeners.close');
      return new Promise((resolve) => {
        closed = () => {
          log.push('listeners.closed');
          resolve();
        };
        if (drainMs !== null) setTimeout(closed, drainMs);
      });
    },
    forceClose: () => {
      log.push('listeners.forceClose');
      closed?.();
    },
  };
  const tunnel = new EventEmitter();
  tunnel.destroy = () => log.push('tunnel.destroy');
  const step = (name) => async () => {
    log.push(name);
  };
  const serving = {
    listeners,
    tunnels: new Set([tunnel]),
    observed: { all: () => ({ frontends: new Map([['web', frontend]]) }), destroy: step('observed.destroy') },
    live: {
      config: { timeouts: { shutdown: shutdownMs } },
      stopChecks: () => {
        log.push('live.stopChecks');
        return new Promise((resolve) =>
          setTimeout(() => {
            log.push('checks.stopped');
            resolve();
          }, checksMs),
        );
      },
      close: step('live.close'),
    },
    pages: { close: step('pages.close') },
    certs: { close: step('certs.close') },
  };
  return { log, serving, frontend };
}

// What a primary adds (its watch and workers end first) and what a worker adds (its last counters,
// then its IPC channel), as the two give them.
const stepsOf = (log) => ({
  announce: false,
  first: async () => log.push('first'),
  closed: () => log.push('closed'),
  last: () => log.push('last'),
});

test('the steps run in one order: first, drain, checks awaited, release, destroy, closed, flush, last', async (t) => {
  const { log, serving } = fakes({ checksMs: 20 });
  const shutdown = new Shutdown(serving, stepsOf(log));
  t.false(shutdown.stopping);
  await shutdown.stop('SIGTERM');
  t.true(shutdown.stopping);
  t.is(await shutdown.done, 0);
  t.deepEqual(log, [
    'live.stopChecks',
    'first',
    'listeners.close',
    'listeners.closed',
    'checks.stopped',
    'live.close',
    'pages.close',
    'certs.close',
    'observed.destroy',
    'closed',
    'last',
  ]);
});

test('a second stop (another signal, the primary word) joins the first: the sequence runs once', async (t) => {
  const { log, serving } = fakes({ drainMs: 20 });
  const shutdown = new Shutdown(serving, stepsOf(log));
  const a = shutdown.stop('SIGTERM');
  const b = shutdown.stop('SIGINT');
  t.is(a, b);
  await Promise.all([a, b]);
  t.is(log.filter((s) => s === 'listeners.close').length, 1);
  t.is(log.filter((s) => s === 'last').length, 1);
  t.is(await shutdown.done, 0);
});

test('what is still in flight at timeouts.shutdown is cut: listeners forced, tunnels destroyed', async (t) => {
  const { log, serving } = fakes({ shutdownMs: 50, drainMs: null });
  const shutdown = new Shutdown(serving, { announce: false });
  // The deadline's timer does not hold a process open (an open listener does); here nothing else would.
  const alive = setTimeout(() => undefined, 60_000);
  await shutdown.stop('SIGTERM');
  clearTimeout(alive);
  const cut = log.filter((s) => s.startsWith('listeners.') || s === 'tunnel.destroy');
  t.deepEqual(cut, ['listeners.close', 'listeners.forceClose', 'listeners.closed', 'tunnel.destroy']);
  t.true(log.indexOf('tunnel.destroy') < log.indexOf('live.close'));
});

test('nothing is released before every exchange has left its frontend (written its line)', async (t) => {
  const { log, serving, frontend } = fakes();
  frontend.active = 1;
  setTimeout(() => {
    log.push('exchange.logged');
    frontend.active = 0;
  }, 30);
  await new Shutdown(serving, { announce: false }).stop('SIGTERM');
  t.true(log.indexOf('exchange.logged') < log.indexOf('live.close'), log.join(' '));
});
