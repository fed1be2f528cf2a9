// Zero-downtime restart (README, "Run it under systemd"): with the listening socket held outside flagman, as flagman.socket
// holds it, restarting flagman — SIGTERM, wait for the exit, start again, which is what
// `systemctl restart flagman` does — refuses no connection and fails no request, under continuous
// load from both kept-alive and fresh connections. A flagman that exits without draining (SIGKILL)
// in the same harness does fail requests: the test can tell.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import test from 'ava';
import { keepAliveLoad, tempDir, upstream } from '../helpers/e2e.js';
import { holdSocket, startWithSocket } from '../helpers/socket-unit.js';
import { scaled } from '../helpers/slow.js';

const CONFIG = `
flags: { dir: ./flags }
log: { access: off }
timeouts: { shutdown: 10s }
frontends:
  web:
    listen: ["systemd:web"]
    rules:
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
`;

// How long a request may wait for its answer: a restart under the whole suite once left four
// requests, one per client, unanswered after 11 s, all waiting in the held socket's backlog for
// the next flagman, which a loaded machine was slow to start. Waiting is what a restart asks of
// clients; failing is what the test looks for.
const ANSWER_WITHIN_MS = 30_000;

/** Requests back to back, each on a new connection, until stopped: every new connection lands on the held socket. */
function freshConnectionLoad(port) {
  const result = { count: 0, labels: {}, errors: [] };
  let stopping = false;
  const one = () =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, agent: false }, (res) => {
        res.resume();
        res.on('end', () => {
          result.labels[res.statusCode] = (result.labels[res.statusCode] ?? 0) + 1;
          resolve();
        });
      });
      // A connection waits in the held socket's backlog while flagman restarts: as long as a start
      // takes, which a loaded machine stretches (15 s at load 25).
      req.setTimeout(scaled(ANSWER_WITHIN_MS), () => req.destroy(new Error(`no response within ${scaled(ANSWER_WITHIN_MS)} ms`)));
      req.on('error', (err) => {
        result.errors.push(err.message);
        resolve();
      });
    });
  const done = (async () => {
    while (!stopping) {
      await one();
      result.count++;
    }
    return result;
  })();
  return {
    result,
    stop() {
      stopping = true;
      return done;
    },
  };
}

// An upstream that takes a few milliseconds per request, so that requests are in flight at each stop.
async function slowApp(t) {
  const app = await upstream(t, 'app', (req, res) => {
    app.pending++;
    req.resume();
    setTimeout(() => {
      app.pending--;
      res.end('app');
    }, 5);
  });
  app.pending = 0;
  return app;
}

/** Resolves once `cond()` holds, checked at each request the app receives. */
function until(app, cond) {
  if (cond()) return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (!cond()) return;
      app.server.off('request', check);
      resolve();
    };
    app.server.on('request', check);
  });
}

/** Runs the load through `restarts` restarts, each stopping the running flagman with `signal` while a request is in flight. */
async function restartsUnderLoad(t, { signal, restarts }) {
  const app = await slowApp(t);
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'flags'));
  const configFile = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(configFile, CONFIG.replace('{{app}}', String(app.port)));
  const socket = holdSocket(t);
  let flagman = await startWithSocket(t, socket, configFile);

  const loads = [
    keepAliveLoad(socket.port, { timeoutMs: ANSWER_WITHIN_MS }),
    keepAliveLoad(socket.port, { timeoutMs: ANSWER_WITHIN_MS }),
    freshConnectionLoad(socket.port),
    freshConnectionLoad(socket.port),
  ];
  t.teardown(() => Promise.all(loads.map((l) => l.stop())));
  const exits = [];
  const took = []; // ms from each stop to the next flagman's start, said when a request failed
  for (let i = 0; i < restarts; i++) {
    // Let the running flagman take traffic, then stop it with a request in flight.
    const seen = app.seen.length;
    await until(app, () => app.seen.length >= seen + 10 && app.pending > 0);
    const t0 = performance.now();
    exits.push(await flagman.stop(signal));
    flagman = await startWithSocket(t, socket, configFile);
    took.push(Math.round(performance.now() - t0));
  }
  const seen = app.seen.length;
  await until(app, () => app.seen.length >= seen + 20);
  const results = await Promise.all(loads.map((l) => l.stop()));
  await flagman.stop('SIGTERM');
  return { results, exits, took };
}

test('10 restarts under continuous load: no connection error, no failed request', async (t) => {
  t.timeout(scaled(90_000));
  const { results, exits, took } = await restartsUnderLoad(t, { signal: 'SIGTERM', restarts: 10 });
  t.deepEqual(
    exits.map((r) => r.exitCode),
    Array(10).fill(0),
    'each flagman drained and exited 0',
  );
  const errors = results.flatMap((r) => r.errors);
  t.deepEqual(errors, [], `no connection error (stop to next start, ms: ${took.join(', ')})`);
  const statuses = {};
  for (const r of results) for (const [status, n] of Object.entries(r.labels)) statuses[status] = (statuses[status] ?? 0) + n;
  t.deepEqual(Object.keys(statuses), ['200'], `every response was a 200: ${JSON.stringify(statuses)}`);
  t.true(
    results.every((r) => r.count >= 20),
    `every client kept being served: ${results.map((r) => r.count).join(', ')}`,
  );
});

test('the same harness catches a flagman that exits without draining (SIGKILL)', async (t) => {
  t.timeout(scaled(60_000));
  const { results, exits } = await restartsUnderLoad(t, { signal: 'SIGKILL', restarts: 3 });
  t.true(exits.every((r) => r.signal === 'SIGKILL'));
  const errors = results.flatMap((r) => r.errors);
  t.true(errors.length > 0, 'requests in flight on a killed flagman fail, and the load sees it');
});
