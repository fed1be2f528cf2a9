// EtcdMirror and EtcdGateway (src/sync/) against a fake etcd JSON gateway on 127.0.0.1: the paths a
// real etcd is hard to drive into (a compacted watch, a silent one whose check gets no answer, a
// listing in pages, a flag file that cannot be written). The fake speaks etcd 3.4's wire format:
// JSON objects, int64 as strings, keys and values base64, empty fields left out; the watch is one
// HTTP 200 answer streaming one JSON object per line.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import test from 'ava';
import { events } from '../../dist/log.js';
import { EtcdGateway } from '../../dist/sync/gateway.js';
import { EtcdMirror } from '../../dist/sync/mirror.js';
import { waitFor } from '../helpers/e2e.js';
import { scaled } from '../helpers/slow.js';

const PREFIX = '/flagman/prod/flags/';
const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s) => Buffer.from(s ?? '', 'base64').toString('utf8');

// The mirror's events, kept to be looked at instead of written to stderr.
const logged = [];
for (const level of ['info', 'warn', 'error']) events[level] = (fields) => logged.push(fields);

/** A header as etcd sends it. */
const header = (revision) => ({
  cluster_id: '14841639068965178418',
  member_id: '10276657743932975437',
  revision: String(revision),
  raft_term: '2',
});

/** A key-value as etcd sends it; an empty value is left out. */
function kv(name, value, revision) {
  return {
    key: b64(PREFIX + name),
    create_revision: String(revision),
    mod_revision: String(revision),
    version: '1',
    ...(value === '' ? {} : { value: b64(value) }),
  };
}

/** A range answer: `kvs` at `revision`; `more` when another page follows. */
function rangeAnswer(revision, kvs, more = false) {
  return { header: header(revision), ...(kvs.length > 0 ? { kvs, count: String(kvs.length) } : {}), ...(more ? { more: true } : {}) };
}

/**
 * A fake etcd gateway. `range(body, call)` answers /v3/kv/range with a document ({ raw: { status,
 * type, body } }: that answer as it is), or undefined to leave the call unanswered; `watch(body, send, call)` gets each /v3/watch, `send(doc)` writing one
 * line of its stream (left open); `authenticate(body)`, when given, answers /v3/auth/authenticate
 * with the token it returns. Every call is kept in `calls` ({ path, body, at, req, res }).
 */
async function fakeEtcd(t, { range, watch, authenticate = null }) {
  const calls = [];
  const emitter = new EventEmitter();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const call = { path: req.url, body: text === '' ? {} : JSON.parse(text), at: performance.now(), req, res, closed: false };
      res.on('close', () => {
        call.closed = true;
      });
      calls.push(call);
      if (req.url === '/v3/kv/range') {
        const doc = range(call.body, call);
        if (doc?.raw !== undefined) {
          res.writeHead(doc.raw.status, { 'content-type': doc.raw.type });
          res.end(doc.raw.body);
        } else if (doc !== undefined) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(doc));
        }
      } else if (req.url === '/v3/auth/authenticate' && authenticate !== null) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ header: header(1), token: authenticate(call.body, call) }));
      } else if (req.url === '/v3/watch') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        watch(call.body, (doc) => res.write(`${JSON.stringify(doc)}\n`), call);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('Not Found\n');
      }
      emitter.emit('call', call);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  /** The first call from index `from` on that `match`es, as soon as there is one. */
  const waitCall = (match, { from = 0, timeout = 5000, what = 'a call' } = {}) => {
    const found = calls.slice(from).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        emitter.off('call', offer);
        reject(
          new Error(
            `no ${what} within ${scaled(timeout)} ms; calls: ${calls.map((c) => `${c.path} ${JSON.stringify(c.body)}`).join('; ')}`,
          ),
        );
      }, scaled(timeout));
      const offer = (call) => {
        if (calls.indexOf(call) < from || !match(call)) return;
        clearTimeout(timer);
        emitter.off('call', offer);
        resolve(call);
      };
      emitter.on('call', offer);
    });
  };
  return { endpoint: `http://127.0.0.1:${server.address().port}`, calls, waitCall };
}

const isListing = (c) => c.path === '/v3/kv/range' && c.body.count_only !== true;
const isCheck = (c) => c.path === '/v3/kv/range' && c.body.count_only === true;
const isWatch = (c) => c.path === '/v3/watch';

function tempFlags(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-mirror-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a mirror of PREFIX from the fake into `dir`; stopped at teardown. */
function startMirror(
  t,
  fake,
  dir,
  { checkMs = 60_000, backoffMs = 10_000, timeoutMs = 5000, user = null, password = null, endpoints = [fake.endpoint] } = {},
) {
  const gateway = new EtcdGateway({
    endpoints: endpoints.map((e) => new URL(e)),
    cacert: null,
    cert: null,
    key: null,
    user,
    password,
    timeoutMs,
  });
  const mirror = new EtcdMirror({ dir, prefix: PREFIX, gateway, checkMs, backoffMs, maxBackoffMs: backoffMs * 4 });
  const running = mirror.run();
  const stopped = { done: false };
  running.finally(() => {
    stopped.done = true;
  });
  t.teardown(async () => {
    mirror.stop();
    await Promise.race([running, new Promise((r) => setTimeout(r, 2000))]);
  });
  return { mirror, running, stopped };
}

const flagFile = (dir, name) => {
  try {
    return fs.readFileSync(path.join(dir, name), 'utf8');
  } catch {
    return null;
  }
};

test.serial('a watch cancelled for a compacted revision lists again at once, without the backoff', async (t) => {
  let revision = 9;
  const fake = await fakeEtcd(t, {
    range: () => rangeAnswer(revision, [kv('MAINT', String(revision), revision)]),
    watch: (_body, send) => send({ result: { header: header(revision), created: true } }),
  });
  const dir = tempFlags(t);
  startMirror(t, fake, dir, { backoffMs: 10_000 });
  const watch = await fake.waitCall(isWatch, { what: 'the first watch' });
  t.is(Number(watch.body.create_request.start_revision), 10, 'watched from the listing revision + 1');
  t.is(flagFile(dir, 'MAINT'), '9');

  const listings = fake.calls.filter(isListing).length;
  revision = 12;
  const sentAt = performance.now();
  // etcd cancels the watch, and leaves the stream open.
  watch.res.write(`${JSON.stringify({ result: { header: {}, canceled: true, compact_revision: '8' } })}\n`);
  const again = await fake.waitCall(isListing, { from: fake.calls.length, timeout: 5000, what: 'a second listing' });
  const waited = again.at - sentAt;
  t.log(`second listing ${waited.toFixed(0)} ms after the compaction`);
  t.true(waited < scaled(1000), `listed again after ${waited.toFixed(0)} ms: no 10 s backoff`);
  t.is(fake.calls.filter(isListing).length, listings + 1);
  await fake.waitCall(isWatch, { from: fake.calls.indexOf(again), what: 'the second watch' });
  t.is(flagFile(dir, 'MAINT'), '12', 'the new listing is applied');
  const problem = logged.find((e) => e.event === 'sync.problem' && /compacted/.test(e.problem ?? ''));
  t.truthy(problem, 'the compaction is told');
});

test.serial('a silent watch whose check gets no answer is abandoned after checkMs + timeout, and a new listing follows', async (t) => {
  let answerChecks = true;
  const fake = await fakeEtcd(t, {
    range: (body) => (body.count_only ? (answerChecks ? { header: header(5), count: '1' } : undefined) : rangeAnswer(5, [kv('A', '1', 5)])),
    watch: (_body, send) => send({ result: { header: header(5), created: true } }),
  });
  const dir = tempFlags(t);
  const checkMs = 100;
  const timeoutMs = 400;
  startMirror(t, fake, dir, { checkMs, timeoutMs, backoffMs: 50 });
  const watch = await fake.waitCall(isWatch, { what: 'the watch' });
  // Checks answered: the watch stays.
  const firstCheck = await fake.waitCall(isCheck, { from: fake.calls.indexOf(watch), what: 'a check' });
  t.is(unb64(firstCheck.body.key), PREFIX);
  await fake.waitCall(isCheck, { from: fake.calls.indexOf(firstCheck) + 1, what: 'a second check' });
  t.false(watch.closed, 'an answered check keeps the watch');

  answerChecks = false;
  const from = fake.calls.length;
  const check = await fake.waitCall(isCheck, { from, what: 'an unanswered check' });
  const listing = await fake.waitCall(isListing, { from, timeout: 10_000, what: 'a new listing' });
  const waited = listing.at - check.at;
  t.log(`new listing ${waited.toFixed(0)} ms after the unanswered check (timeout ${timeoutMs} ms)`);
  t.true(waited >= timeoutMs - 20, `not before the check timed out (${waited.toFixed(0)} ms)`);
  t.true(watch.closed, 'the silent watch was closed');
  const problem = logged.find((e) => e.event === 'sync.problem' && /no answer within 400 ms/.test(e.problem ?? ''));
  t.truthy(problem, 'the unanswered check is told');
  await fake.waitCall(isWatch, { from: fake.calls.indexOf(listing), what: 'a new watch' });
});

test.serial('a listing in two pages reads the second at the first page’s revision, after its last key, and is complete', async (t) => {
  const fake = await fakeEtcd(t, {
    range: (body) => {
      if (body.count_only) return { header: header(30), count: '3' };
      if (body.revision === undefined) return rangeAnswer(20, [kv('A', 'a', 3), kv('B', 'b', 4)], true);
      // The second page: the store has moved on, the answer is at the revision asked.
      return rangeAnswer(30, [kv('C', 'c', 5)]);
    },
    watch: (_body, send) => send({ result: { header: header(30), created: true } }),
  });
  const dir = tempFlags(t);
  startMirror(t, fake, dir);
  const watch = await fake.waitCall(isWatch, { what: 'the watch' });
  const [first, second, ...more] = fake.calls.filter(isListing);
  t.is(more.length, 0);
  t.is(unb64(first.body.key), PREFIX);
  t.is(unb64(first.body.range_end), '/flagman/prod/flags0');
  t.is(first.body.revision, undefined, 'the first page at the newest revision');
  t.is(Number(second.body.revision), 20, 'the second page at the first one’s revision');
  t.deepEqual(Buffer.from(second.body.key, 'base64'), Buffer.from(`${PREFIX}B\0`), 'right after the last key');
  t.is(unb64(second.body.range_end), '/flagman/prod/flags0');
  t.is(Number(watch.body.create_request.start_revision), 21);
  t.deepEqual([flagFile(dir, 'A'), flagFile(dir, 'B'), flagFile(dir, 'C')], ['a', 'b', 'c']);
  const resync = logged.findLast((e) => e.event === 'sync.resync');
  t.like(resync, { revision: 20, keys: 3, wrote: 3 });
});

test.serial('a flag file that cannot be written is skipped and told; the other keys are written', async (t) => {
  const fake = await fakeEtcd(t, {
    range: () => rangeAnswer(7, [kv('A', '1', 5), kv('B', '2', 6), kv('C', '3', 7)]),
    watch: (_body, send) => send({ result: { header: header(7), created: true } }),
  });
  const dir = tempFlags(t);
  fs.mkdirSync(path.join(dir, 'B'));
  const from = logged.length;
  startMirror(t, fake, dir);
  await fake.waitCall(isWatch, { what: 'the watch' });
  t.is(flagFile(dir, 'A'), '1');
  t.is(flagFile(dir, 'C'), '3');
  t.true(fs.statSync(path.join(dir, 'B')).isDirectory(), 'the directory is left as it is');
  const skipped = logged.slice(from).find((e) => e.event === 'sync.skipped');
  t.like(skipped, { key: `${PREFIX}B` });
  t.truthy(skipped.reason);
  t.log(skipped.reason);
  t.like(
    logged.slice(from).find((e) => e.event === 'sync.resync'),
    { keys: 3, wrote: 2 },
  );
  t.deepEqual(
    fs
      .readdirSync(dir)
      .filter((n) => !n.startsWith('.'))
      .sort(),
    ['A', 'B', 'C'],
    'no temp file left behind',
  );
});

test.serial('stop() during a watch ends run(), the watch and its checks with it', async (t) => {
  const fake = await fakeEtcd(t, {
    range: (body) => (body.count_only ? { header: header(5) } : rangeAnswer(5, [kv('A', '1', 5)])),
    watch: (_body, send) => send({ result: { header: header(5), created: true } }),
  });
  const dir = tempFlags(t);
  const { mirror, running } = startMirror(t, fake, dir, { checkMs: 50 });
  const watch = await fake.waitCall(isWatch, { what: 'the watch' });
  await fake.waitCall(isCheck, { what: 'a check' });
  mirror.stop();
  const ended = await Promise.race([running.then(() => true), new Promise((r) => setTimeout(() => r(false), scaled(3000)))]);
  t.true(ended, 'run() resolved after stop()');
  t.true(await waitFor(() => watch.closed, { what: 'the watch connection to close' }));
  // That no check comes can only be watched for a while: four check periods.
  const calls = fake.calls.length;
  await new Promise((r) => setTimeout(r, 200));
  t.is(fake.calls.length, calls, 'no check after stop()');
});

test.serial('a refusal in plain text, as etcd’s gateway sends some, is told in its own words', async (t) => {
  const refusal = 'CommonName of client sending a request against gateway will be ignored and not used as expected';
  const fake = await fakeEtcd(t, {
    range: () => ({ raw: { status: 400, type: 'text/plain; charset=utf-8', body: `${refusal}\n` } }),
    watch: () => t.fail('no watch without a listing'),
  });
  const dir = tempFlags(t);
  const from = logged.length;
  startMirror(t, fake, dir);
  await fake.waitCall(isListing, { what: 'a listing' });
  const problem = await waitFor(() => logged.slice(from).find((e) => e.event === 'sync.problem'), { what: 'sync.problem' });
  t.is(problem?.problem, `/v3/kv/range: HTTP 400: ${refusal}`);
  t.deepEqual(
    fs.readdirSync(dir).filter((n) => !n.startsWith('.')),
    [],
  );
});

test.serial('a token etcd no longer knows is replaced by a new login: no problem, no new listing', async (t) => {
  let issued = 0;
  let valid = null;
  const invalidToken = {
    raw: {
      status: 401,
      type: 'application/json',
      body: JSON.stringify({ error: 'etcdserver: invalid auth token', message: 'etcdserver: invalid auth token', code: 16 }),
    },
  };
  const fake = await fakeEtcd(t, {
    authenticate: (body) => {
      t.deepEqual(body, { name: 'sync', password: 'pw' });
      valid = `token-${++issued}`;
      return valid;
    },
    range: (_body, call) => (call.req.headers.authorization === valid ? rangeAnswer(5, [kv('MAINT', '1', 5)]) : invalidToken),
    watch: (_body, send) => send({ result: { header: header(5), created: true } }),
  });
  const dir = tempFlags(t);
  const from = logged.length;
  startMirror(t, fake, dir, { checkMs: 100, user: 'sync', password: 'pw' });
  await fake.waitCall(isWatch, { what: 'the watch' });
  t.is(flagFile(dir, 'MAINT'), '1');
  // The token expires (a JWT's TTL): the next check is refused, logs in again and is made again.
  valid = 'expired';
  const checks = fake.calls.filter(isCheck).length;
  const retried = await fake.waitCall((c) => isCheck(c) && c.req.headers.authorization === 'token-2', { what: 'a check with a new token' });
  t.truthy(retried);
  t.true(fake.calls.filter(isCheck).length > checks);
  t.is(issued, 2, 'one login at start, one after the token was refused');
  t.is(fake.calls.filter(isListing).length, 1, 'no new listing');
  t.deepEqual(
    logged.slice(from).filter((e) => e.event === 'sync.problem'),
    [],
    'no problem reported',
  );
});

test.serial('an endpoint that does not answer is left for the next one of --endpoints', async (t) => {
  // A port nothing listens on: bound, then closed.
  const dead = http.createServer();
  await new Promise((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const deadPort = dead.address().port;
  await new Promise((resolve) => dead.close(resolve));
  const fake = await fakeEtcd(t, {
    range: () => rangeAnswer(3, [kv('MAINT', '1', 3)]),
    watch: (_body, send) => send({ result: { header: header(3), created: true } }),
  });
  const dir = tempFlags(t);
  const from = logged.length;
  startMirror(t, fake, dir, { backoffMs: 20, endpoints: [`http://127.0.0.1:${deadPort}`, fake.endpoint] });
  await fake.waitCall(isWatch, { what: 'the watch on the second endpoint' });
  t.is(flagFile(dir, 'MAINT'), '1');
  const problems = () => logged.slice(from).filter((e) => e.event === 'sync.problem');
  t.is(problems()[0]?.endpoint, `http://127.0.0.1:${deadPort}`, 'the first endpoint was tried, and reported');
  // In step once the watch's creation is read.
  await waitFor(() => problems().at(-1)?.problem === null, { what: 'sync.problem with problem null' });
  t.like(problems().at(-1), { problem: null, endpoint: fake.endpoint }, 'in step on the second');
});
