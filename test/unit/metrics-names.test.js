// /metrics follows Prometheus' naming conventions (docs/admin.md): flagman's own families are
// flagman_*, counters and only counters end in _total, units are base units, histograms have their
// _bucket/_sum/_count with `le`, every family has HELP, label names are snake_case. The text comes
// from the real registry over a runtime built from a config using every feature that adds series
// (a tcp frontend, a rate limit, a backend with maxconn and a queue, flags set and broken), so every
// family has samples and its labels are checked too.
import test from 'ava';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { parseConfigText } from '../../dist/config/load.js';
import { compileProgram, buildRuntime } from '../../dist/runtime/compile.js';
import { ObservedState } from '../../dist/runtime/servers.js';
import { PageCache } from '../../dist/proxy/pages.js';
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
const NOT_BASE = /_(ms|milliseconds|millis|us|microseconds|ns|nanoseconds|minutes|hours|days|kb|kib|mb|mib|gb|gib|kilobytes|megabytes|bits|percent)(_|$)/;

function sources() {
  const program = compileProgram(parseConfigText(CONFIG, '/etc/flagman/flagman.yaml'));
  const observed = new ObservedState();
  const flag = (value, problem = null) => ({ value, note: null, changedAt: null, problem });
  const snapshot = makeSnapshot(1, new Map([['API_RATE', flag(20)], ['app2.weight', flag(0)], ['BROKEN', flag(null, 'not a base-10 integer')]]));
  const runtime = buildRuntime(program, snapshot, { observed, pages: new PageCache(), generation: 1 });
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
 * _bucket lines with `le` up to +Inf, a _sum and a _count.
 */
function histogram(text, name, check) {
  const series = new Map();
  const line = new RegExp(`^${name}_(bucket|sum|count)\\{([^}]*)\\} \\S+$`, 'gm');
  for (const [, suffix, labelText] of text.matchAll(line)) {
    const labels = Object.fromEntries([...labelText.matchAll(/([^=,]+)="([^"]*)"/g)].map(([, k, v]) => [k, v]));
    for (const label of Object.keys(labels)) check(SNAKE.test(label), `${name}: label ${label} is not snake_case`);
    const { le, ...rest } = labels;
    const key = JSON.stringify(rest);
    const s = series.get(key) ?? { le: [], sum: false, count: false };
    series.set(key, s);
    if (suffix === 'bucket') s.le.push(le);
    else s[suffix] = true;
  }
  check(series.size > 0, `${name}: histogram without _bucket, _sum and _count series`);
  for (const [key, s] of series) check(s.le.includes('+Inf') && s.sum && s.count, `${name}${key}: needs _bucket with le up to +Inf, _sum and _count`);
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
    check(type === 'COUNTER' ? name.endsWith('_total') : !name.endsWith('_total'), `${name}: ${type}; counters, and only counters, end in _total`);
    check(!NOT_BASE.test(name), `${name}: not in base units (seconds, bytes)`);
    check(typeof f.help === 'string' && f.help.trim() !== '', `${name}: no HELP`);
    check(f.metrics.length > 0, `${name}: no samples under the test's config (its labels go unchecked)`);
    for (const m of f.metrics) for (const label of Object.keys(m.labels ?? {})) check(SNAKE.test(label), `${name}: label ${label} is not snake_case`);
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
