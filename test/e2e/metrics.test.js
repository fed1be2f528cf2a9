// /metrics (docs/admin.md): the Prometheus text format, parsed by a Prometheus text-format parser, with
// the same figures as /status.
import test from 'ava';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { adminStatus, request, sh, startFlagman, upstream } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';

const CONFIG = maintenanceConfig({
  rescan: '500ms',
  servers: { app1: '{ address: "127.0.0.1:{{app}}" }', app2: `{ address: "127.0.0.1:{{app}}", weight: 'flag("app2.weight", 1)' }` },
});

/** metric name → array of {labels, value}. */
function parse(text) {
  const out = {};
  for (const family of parsePrometheusTextFormat(text)) {
    out[family.name] = { type: family.type, samples: family.metrics.map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) })) };
  }
  return out;
}

function value(metrics, name, labels = {}) {
  const family = metrics[name];
  if (!family) return undefined;
  const hit = family.samples.find(
    (s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length,
  );
  return hit?.value;
}

test('/metrics parses as Prometheus text and matches /status', async (t) => {
  const app = await upstream(t, 'app');
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port }, flags: { MAINT: '0\n' } });
  for (let i = 0; i < 6; i++) await request(fm.port);
  let from = fm.events.length;
  await sh('echo 0 > flags/app2.weight && echo "1 # window" > flags/MAINT && echo nope > flags/BROKEN', fm.dir);
  await fm.waitFlag('MAINT', 1, { from });
  await fm.waitEvent((e) => e.event === 'flag.problem' && e.flag === 'BROKEN', { from });
  for (let i = 0; i < 3; i++) await request(fm.port);
  from = fm.events.length;
  fm.proc.kill('SIGHUP');
  await fm.waitEvent((e) => e.event === 'reload', { from });

  const res = await request(fm.adminPort, { path: '/metrics' });
  const s = await adminStatus(fm);
  t.is(res.status, 200);
  t.regex(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const m = parse(res.body);

  t.is(m.flagman_frontend_requests_total.type, 'COUNTER');
  t.is(value(m, 'flagman_frontend_requests_total', { frontend: 'web' }), s.frontends.web.requests);
  t.is(s.frontends.web.requests, 9);
  for (const [cls, n] of Object.entries(s.frontends.web.responses))
    t.is(value(m, 'flagman_frontend_responses_total', { frontend: 'web', code: cls }), n, `web ${cls}`);
  for (const [name, b] of Object.entries(s.backends)) {
    t.is(value(m, 'flagman_backend_requests_total', { backend: name }), b.requests, `backend ${name}`);
    for (const [cls, n] of Object.entries(b.responses))
      t.is(value(m, 'flagman_backend_responses_total', { backend: name, code: cls }), n, `backend ${name} ${cls}`);
    for (const [sn, sv] of Object.entries(b.servers)) {
      const l = { backend: name, server: sn };
      t.is(value(m, 'flagman_server_requests_total', l), sv.requests, `${name}/${sn} requests`);
      t.is(value(m, 'flagman_server_failures_total', l), sv.failures, `${name}/${sn} failures`);
      t.is(value(m, 'flagman_server_active', l), sv.active);
      t.is(value(m, 'flagman_server_weight', l), sv.weight, `${name}/${sn} weight`);
      for (const state of ['up', 'down', 'drain'])
        t.is(value(m, 'flagman_server_state', { ...l, state }), sv.state === state ? 1 : 0, `${name}/${sn} ${state}`);
    }
  }
  t.is(value(m, 'flagman_server_weight', { backend: 'app', server: 'app2' }), 0);
  t.is(value(m, 'flagman_server_state', { backend: 'app', server: 'app2', state: 'drain' }), 1);
  t.is(value(m, 'flagman_flag_value', { flag: 'MAINT' }), s.flags.MAINT.value);
  t.is(value(m, 'flagman_flag_value', { flag: 'MAINT' }), 1);
  t.is(value(m, 'flagman_flag_value', { flag: 'BROKEN' }), undefined, 'a flag with no value has no series');
  t.is(value(m, 'flagman_flag_problem', { flag: 'BROKEN' }), 1);
  t.false(res.body.includes('nope'), 'no content of a rejected flag file');
  t.is(value(m, 'flagman_config_generation'), s.config.generation);
  t.is(s.config.generation, 2);
  t.is(value(m, 'flagman_config_last_reload_success'), 1);
  t.is(value(m, 'flagman_config_reload_failures_total'), 0);
  t.true(value(m, 'flagman_flags_rescans_total') <= s.watcher.rescans, 'rescans (read just before /status)');
  t.is(value(m, 'flagman_flags_polling'), 0);
  t.is(value(m, 'flagman_fd_limit'), s.process.fdLimit);
  t.is(value(m, 'flagman_connections_max'), s.process.maxConnections);
  t.is(value(m, 'flagman_connections_refused_total'), 0);
  t.is(m.flagman_connections_refused_total.type, 'COUNTER');
  t.true(value(m, 'flagman_connections') <= 1, "at most the last request's connection");
  t.true(value(m, 'process_resident_memory_bytes') > 0, 'process metrics too');
});
