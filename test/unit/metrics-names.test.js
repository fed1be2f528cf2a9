// /metrics follows Prometheus' naming conventions (docs/admin.md): flagman's own families are
// flagman_*, counters and only counters end in _total, units are base units, histograms have their
// _bucket/_sum/_count with `le`, every family has HELP, label names are snake_case. The text comes
// from the real registry over a runtime built from a config using every feature that adds series
// (a tcp frontend, a rate limit, a backend with maxconn and a queue, flags set and broken), so every
// family has samples and its labels are checked too.
import { spawnSync } from 'node:child_process';
import test from 'ava';
import client from 'prom-client';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { parseConfigText } from '../../dist/config/load.js';
import { compileProgram, buildRuntime } from '../../dist/runtime/compile.js';
import { ObservedState } from '../../dist/runtime/servers.js';
import { makeUpstreamPool } from '../../dist/upstream/pool.js';
import { PageCache } from '../../dist/runtime/pages.js';
import { makeSnapshot } from '../../dist/flags/snapshot.js';
import { budgetFor } from '../../dist/descriptors.js';
import { createMetrics } from '../../dist/admin/metrics.js';
import { VERSION } from '../../dist/version.js';

const CONFIG = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: "127.0.0.1:0"
    maxconn: 100
    rules:
      - use: app
        maxBody: 1KiB
        limit: { rate: 'flag("API_RATE", 10)', burst: 5, by: client.ip }
  db:
    mode: tcp
    listen: "127.0.0.1:0"
    rules: [{ use: db }]
backends:
  app:
    queue: 10
    servers:
      app1: { address: "127.0.0.1:1", maxconn: 5 }
      app2: { address: "127.0.0.1:2", weight: 'flag("app2.weight", 1)' }
  db:
    mode: tcp
    servers:
      db1: { address: "127.0.0.1:3", maxconn: 2 }
`;

// prom-client's Node.js process metrics keep their standard names (what every Node exporter shows):
// allowed by name, each with the type it has, so a new one is a decision, not an accident.
const STANDARD = {
  process_cpu_user_seconds_total: 'COUNTER',
  process_cpu_system_seconds_total: 'COUNTER',
  process_cpu_seconds_total: 'COUNTER',
  process_start_time_seconds: 'GAUGE',
  process_resident_memory_bytes: 'GAUGE',
  process_virtual_memory_bytes: 'GAUGE',
  process_heap_bytes: 'GAUGE',
  process_open_fds: 'GAUGE',
  process_max_fds: 'GAUGE',
  nodejs_eventloop_lag_seconds: 'GAUGE',
  nodejs_eventloop_lag_min_seconds: 'GAUGE',
  nodejs_eventloop_lag_max_seconds: 'GAUGE',
  nodejs_eventloop_lag_mean_seconds: 'GAUGE',
  nodejs_eventloop_lag_stddev_seconds: 'GAUGE',
  nodejs_eventloop_lag_p50_seconds: 'GAUGE',
  nodejs_eventloop_lag_p90_seconds: 'GAUGE',
  nodejs_eventloop_lag_p99_seconds: 'GAUGE',
  nodejs_active_resources: 'GAUGE',
  nodejs_active_resources_total: 'GAUGE',
  nodejs_active_handles: 'GAUGE',
  nodejs_active_handles_total: 'GAUGE',
  nodejs_active_requests: 'GAUGE',
  nodejs_active_requests_total: 'GAUGE',
  nodejs_heap_size_total_bytes: 'GAUGE',
  nodejs_heap_size_used_bytes: 'GAUGE',
  nodejs_external_memory_bytes: 'GAUGE',
  nodejs_heap_space_size_total_bytes: 'GAUGE',
  nodejs_heap_space_size_used_bytes: 'GAUGE',
  nodejs_heap_space_size_available_bytes: 'GAUGE',
  nodejs_version_info: 'GAUGE',
  nodejs_gc_duration_seconds: 'HISTOGRAM',
};

const FLAGMAN = /^flagman_[a-z0-9_]+$/;
const SNAKE = /^[a-z][a-z0-9_]*$/;
// Units other than the base ones (seconds, bytes): what a name must not end in, or carry.
const NOT_BASE =
  /_(ms|milliseconds|millis|us|microseconds|ns|nanoseconds|minutes|hours|days|kb|kib|mb|mib|gb|gib|kilobytes|megabytes|bits|percent)(_|$)/;

const OBSERVED_MS = [0.2, 0.5, 0.7, 3, 40, 40, 120, 800, 12_000];

function sources() {
  const program = compileProgram(parseConfigText(CONFIG, '/etc/flagman/flagman.yaml'));
  const observed = new ObservedState(makeUpstreamPool);
  const flag = (value, problem = null) => ({ value, note: null, changedAt: null, problem });
  const snapshot = makeSnapshot(
    1,
    new Map([
      ['API_RATE', flag(20)],
      ['app2.weight', flag(0)],
      ['BROKEN', flag(null, 'not a base-10 integer')],
    ]),
  );
  const runtime = buildRuntime(program, snapshot, { observed, pages: new PageCache(), generation: 1 });
  // Some observations, so that the histograms' buckets are not all 0 (histogram() checks they add up).
  for (const ms of OBSERVED_MS) {
    observed.frontend('web').duration.observe(ms);
    observed.backend('app').duration.observe(ms);
    observed.server('app', 'app1').connect.observe(ms / 10);
    observed.server('app', 'app1').ttfb.observe(ms / 2);
    observed.server('db', 'db1').connect.observe(ms / 10);
  }
  return {
    pid: process.pid,
    version: VERSION,
    startedAt: Date.now(),
    configFile: '/etc/flagman/flagman.yaml',
    lastReload: () => ({ at: Date.now(), ok: true, error: null }),
    runtime: () => runtime,
    flags: () => snapshot,
    watcher: () => ({ mode: 'events', rescans: 0, lastRescanAt: null, problem: null }),
    process: () => ({ budget: budgetFor(1024, 20), connections: { open: 0, refused: 0, max: 500 } }),
    tls: () => [],
    logs: () => ({ access: 0, events: 0 }),
    reloadFailures: () => 0,
    explain: () => {
      throw new Error('not here');
    },
  };
}

/**
 * A histogram's series, from the text itself: the parser folds a histogram with labels into one
 * sample and drops its labels, _sum and _count. Each series (its labels but `le`) must have
 * _bucket lines with `le` in ascending order up to +Inf, cumulative (never decreasing), the +Inf
 * one equal to _count, and a _sum.
 */
function histogram(text, name, check) {
  const series = new Map();
  const line = new RegExp(`^${name}_(bucket|sum|count)\\{([^}]*)\\} (\\S+)$`, 'gm');
  for (const [, suffix, labelText, value] of text.matchAll(line)) {
    const labels = Object.fromEntries([...labelText.matchAll(/([^=,]+)="([^"]*)"/g)].map(([, k, v]) => [k, v]));
    for (const label of Object.keys(labels)) check(SNAKE.test(label), `${name}: label ${label} is not snake_case`);
    const { le, ...rest } = labels;
    const key = JSON.stringify(rest);
    const s = series.get(key) ?? { buckets: [], sum: null, count: null };
    series.set(key, s);
    if (suffix === 'bucket') s.buckets.push([le, Number(value)]);
    else s[suffix] = Number(value);
  }
  check(series.size > 0, `${name}: histogram without _bucket, _sum and _count series`);
  for (const [key, s] of series) {
    const les = s.buckets.map(([le]) => le);
    check(les.at(-1) === '+Inf' && s.sum !== null && s.count !== null, `${name}${key}: needs _bucket with le up to +Inf, _sum and _count`);
    const bounds = les.map((le) => (le === '+Inf' ? Infinity : Number(le)));
    check(
      bounds.every((b, i) => !Number.isNaN(b) && (i === 0 || b > bounds[i - 1])),
      `${name}${key}: le not in ascending order: ${les.join(' ')}`,
    );
    const counts = s.buckets.map(([, n]) => n);
    check(
      counts.every((n, i) => i === 0 || n >= counts[i - 1]),
      `${name}${key}: buckets not cumulative: ${counts.join(' ')}`,
    );
    check(counts.at(-1) === s.count, `${name}${key}: +Inf bucket ${counts.at(-1)} is not _count ${s.count}`);
  }
  return series;
}

test('every metric family follows the Prometheus naming conventions', async (t) => {
  const text = await createMetrics(sources()).render();
  const families = parsePrometheusTextFormat(text);
  t.log(`${families.length} families:\n${families.map((f) => `${f.type.toLowerCase()} ${f.name}`).join('\n')}`);
  const broken = [];
  const check = (ok, what) => ok || broken.push(what);
  for (const f of families) {
    const { name, type } = f;
    if (name in STANDARD) {
      check(STANDARD[name] === type, `${name}: a standard Node.js metric, ${STANDARD[name]}, is ${type}`);
      continue;
    }
    check(FLAGMAN.test(name), `${name}: not flagman_[a-z0-9_]+`);
    check(
      type === 'COUNTER' ? name.endsWith('_total') : !name.endsWith('_total'),
      `${name}: ${type}; counters, and only counters, end in _total`,
    );
    check(!NOT_BASE.test(name), `${name}: not in base units (seconds, bytes)`);
    check(typeof f.help === 'string' && f.help.trim() !== '', `${name}: no HELP`);
    check(f.metrics.length > 0, `${name}: no samples under the test's config (its labels go unchecked)`);
    for (const m of f.metrics)
      for (const label of Object.keys(m.labels ?? {})) check(SNAKE.test(label), `${name}: label ${label} is not snake_case`);
    if (type === 'HISTOGRAM') histogram(text, name, check);
  }
  t.deepEqual(broken, []);
});

test('flagman_build_info is 1 with the flagman and Node.js versions', async (t) => {
  const text = await createMetrics(sources()).render();
  const info = parsePrometheusTextFormat(text).find((f) => f.name === 'flagman_build_info');
  t.is(info?.type, 'GAUGE');
  t.deepEqual(info.metrics, [{ labels: { version: VERSION, node: process.version }, value: '1' }]);
});

// The latency histograms (docs/admin.md): HTTP only (a tcp frontend, backend or server has no
// request duration or time to first byte, only connects), the same buckets for all, in seconds.
const LATENCY_LE = ['0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'];
const LATENCY = {
  flagman_frontend_request_duration_seconds: [{ frontend: 'web' }],
  flagman_backend_request_duration_seconds: [{ backend: 'app' }],
  flagman_server_connect_duration_seconds: [
    { backend: 'app', server: 'app1' },
    { backend: 'app', server: 'app2' },
    { backend: 'db', server: 'db1' },
  ],
  flagman_server_ttfb_seconds: [
    { backend: 'app', server: 'app1' },
    { backend: 'app', server: 'app2' },
  ],
};

test('the latency histograms: HTTP series only, buckets from 0.5 ms to 10 s in seconds, counts as observed', async (t) => {
  const text = await createMetrics(sources()).render();
  const broken = [];
  const check = (ok, what) => ok || broken.push(what);
  for (const [name, labels] of Object.entries(LATENCY)) {
    t.regex(text, new RegExp(`^# TYPE ${name} histogram$`, 'm'));
    t.regex(text, new RegExp(`^# HELP ${name} \\S`, 'm'));
    const series = histogram(text, name, check);
    t.deepEqual([...series.keys()].sort(), labels.map((l) => JSON.stringify(l)).sort(), name);
    for (const s of series.values())
      t.deepEqual(
        s.buckets.map(([le]) => le),
        LATENCY_LE,
        name,
      );
  }
  t.deepEqual(broken, []);
  const web = histogram(text, 'flagman_frontend_request_duration_seconds', check).get(JSON.stringify({ frontend: 'web' }));
  // 0.2 and 0.5 ms in le=0.0005, 0.7 in le=0.001, 3 in le=0.005, two 40 in le=0.05, 120 in le=0.25, 800 in le=1, 12 s above 10 s.
  t.deepEqual(
    web.buckets.map(([, n]) => n),
    [2, 3, 3, 4, 4, 4, 6, 6, 7, 7, 8, 8, 8, 8, 9],
  );
  t.is(web.count, 9);
  t.is(web.sum, OBSERVED_MS.reduce((a, b) => a + b, 0) / 1000);
  const app1 = histogram(text, 'flagman_server_ttfb_seconds', check).get(JSON.stringify({ backend: 'app', server: 'app1' }));
  t.is(app1.count, 9);
});

test('the registry is built at the first scrape: prom-client is not loaded before, the Content-Type is its own', async (t) => {
  // A fresh process: this file's own imports must not have loaded prom-client already.
  const script = `
    import { createRequire } from 'node:module';
    const { createMetrics, PROMETHEUS_CONTENT_TYPE } = await import(${JSON.stringify(new URL('../../dist/admin/metrics.js', import.meta.url).href)});
    const require = createRequire(import.meta.url);
    const loaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/prom-client/'));
    const metrics = createMetrics({});
    const before = loaded();
    await import('prom-client'); // what a scrape does: seen so by the same check
    console.log(JSON.stringify({ before, after: loaded(), contentType: metrics.contentType }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    cwd: new URL('../..', import.meta.url).pathname,
  });
  t.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.false(out.before, 'prom-client loaded before any scrape');
  t.true(out.after, 'the check sees prom-client once loaded');
  t.is(out.contentType, client.Registry.PROMETHEUS_CONTENT_TYPE);
  // And a scrape loads it: the text of the registry over real sources.
  const text = await createMetrics(sources()).render();
  t.regex(text, /^# HELP flagman_frontend_requests_total /m);
  t.regex(text, /^process_cpu_user_seconds_total /m);
});
