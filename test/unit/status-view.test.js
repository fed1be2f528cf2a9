// `flagman status` (cli/status-view.ts): a backend's P50 and P99 since start, from its
// request-duration histogram in /status, estimated by the function the dashboard inlines too.
import test from 'ava';
import { formatLatency, formatStatus, formatSync } from '../../dist/cli/status-view.js';
import { latencyHistogram } from '../../dist/runtime/histogram.js';

test('a latency reads in ms, or s from a second up; none is -', (t) => {
  t.is(formatLatency(null), '-');
  t.is(formatLatency(0.2635), '0.26ms');
  t.is(formatLatency(3.14), '3.1ms');
  t.is(formatLatency(375), '375ms');
  t.is(formatLatency(1250), '1.25s');
  t.is(formatLatency(10000), '10.00s');
});

test('each line of a backend carries its P50 and P99; - without a request or a histogram', (t) => {
  const h = latencyHistogram();
  for (let i = 0; i < 99; i++) h.observe(0.3); // in (0, 0.5]
  h.observe(400); // in (250, 500]
  const doc = JSON.parse(
    JSON.stringify({
      backends: {
        app: {
          mode: 'http',
          requests: 100,
          active: 0,
          durationMs: h.cumulative(),
          servers: {
            app1: { state: 'up', weight: 1, maxconn: 0, active: 0, requests: 60, failures: 0 },
            app2: { state: 'up', weight: 1, maxconn: 0, active: 0, requests: 40, failures: 0 },
          },
        },
        idle: { mode: 'http', requests: 0, active: 0, durationMs: latencyHistogram().cumulative(), servers: {} },
        db: { mode: 'tcp', requests: 3, active: 0, durationMs: null, servers: {} },
      },
    }),
  );
  const lines = formatStatus(doc, Date.now()).split('\n');
  t.true(
    lines.some((l) => /^BACKEND\s+SERVER\s+.*\s+FAILURES\s+P50\s+P99$/.test(l)),
    lines.join('\n'),
  );
  // p50: rank 50 of the 99 in (0, 0.5] → 0.5 × 50/99; p99: rank 99, the last of them → 0.5.
  t.truthy(
    lines.find((l) => /^app\s+app1\s.*\s0\.25ms\s+0\.50ms$/.test(l)),
    lines.join('\n'),
  );
  t.truthy(
    lines.find((l) => /^app\s+app2\s.*\s0\.25ms\s+0\.50ms$/.test(l)),
    lines.join('\n'),
  );
  t.truthy(
    lines.find((l) => /^idle\s+-\s+respond\s.*\s-\s+-$/.test(l)),
    lines.join('\n'),
  );
  t.truthy(
    lines.find((l) => /^db\s+-\s+refuse\s.*\s-\s+-$/.test(l)),
    lines.join('\n'),
  );
});

test("a sync's line: what it mirrors, whether it runs, the revision, etcd's last answer, its problem and skipped keys", (t) => {
  const now = Date.parse('2026-12-07T12:00:00Z');
  const ledger = {
    source: 'etcd',
    endpoint: 'http://10.0.0.1:2379',
    prefix: '/flagman/prod/flags/',
    pid: 812,
    revision: 48213,
    appliedAt: now - 182_000,
    contactAt: now - 2_000,
    problem: null,
    skipped: [{ key: '/flagman/prod/flags/9lives', reason: 'not a flag name' }],
    written: ['MAINT'],
  };
  const up = formatSync(ledger, now, () => true);
  t.is(
    up,
    'sync     etcd http://10.0.0.1:2379 /flagman/prod/flags/, pid 812, revision 48213 applied 3m 2s ago, etcd answered 2s ago\n' +
      'skipped  /flagman/prod/flags/9lives: not a flag name\n',
  );
  const down = formatSync({ ...ledger, skipped: [], problem: 'http://10.0.0.1:2379: connection refused (ECONNREFUSED)' }, now, () => false);
  t.regex(down, /NOT RUNNING \(pid 812 is gone\)/);
  t.regex(down, /PROBLEM: http:\/\/10\.0\.0\.1:2379: connection refused \(ECONNREFUSED\)\n$/);
  // A ledger from another version, fields missing: read defensively.
  t.regex(
    formatSync({ written: [] }, now, () => true),
    /^sync +- - -, pid -, revision -, etcd not reached yet\n$/,
  );
});
