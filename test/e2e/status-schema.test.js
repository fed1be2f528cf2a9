// A live `/status` validates against the published schema (docs/status.schema.json, generated
// from src/admin/status-types.ts): an instance with workers, http and tcp frontends, proxy,
// respond and refuse backends, rate and body limits, a queue, set, unset and broken flags, and
// traffic through all of it. And the schema has teeth: the same document less a required field,
// or with a field it does not describe, fails.
import fs from 'node:fs';
import { Ajv } from 'ajv';
import test from 'ava';
import { adminStatus, request, startFlagman, upstream, waitFor } from '../helpers/e2e.js';
import { echoServer, lineClient } from '../helpers/tcp.js';
import { SCHEMA_FILE } from '../../scripts/status-schema.js';

const CONFIG = `
workers: 2
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
timeouts: { queue: 10s }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    maxconn: 100
    rules:
      - when: flag("MAINT") > 0
        use: maintenance
      - when: request.path.startsWith("/api/")
        use: app
        maxBody: 1KiB
        limit: { rate: 'flag("API_RATE", 100)', burst: 10, by: 'header("X-Key")' }
      - use: app
  db:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules:
      - when: flag("DB_CLOSED") > 0
        use: closed
      - use: primary
backends:
  app:
    queue: 50
    servers:
      app1: { address: "127.0.0.1:{{app}}", maxconn: 10 }
      app2: { address: "127.0.0.1:{{app}}", weight: 'flag("app2.weight", 1)' }
  maintenance:
    respond: { status: 503, body: "maintenance\\n" }
  primary:
    mode: tcp
    servers:
      db1: { address: "127.0.0.1:{{db1}}" }
  closed:
    refuse: true
`;

function validator() {
  const ajv = new Ajv({ allErrors: true, strict: true });
  return ajv.compile(JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')));
}

const errorsOf = (validate) => (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');

test('a live /status validates against docs/status.schema.json; less a required field, or with an unknown one, it does not', async (t) => {
  const app = await upstream(t, 'app');
  const db1 = await echoServer(t, 'db1');
  const fm = await startFlagman(t, CONFIG, {
    vars: { app: app.port, db1: db1.port },
    flags: { MAINT: '0 # all good\n', 'app2.weight': '0\n', BROKEN: 'banana\n' },
  });
  for (let i = 0; i < 3; i++) await request(fm.portOf('web'));
  t.is((await request(fm.portOf('web'), { path: '/api/x', headers: { 'x-key': 'k' } })).status, 200);
  t.is((await request(fm.portOf('web'), { method: 'POST', path: '/api/x', body: 'x'.repeat(4096) })).status, 413);
  const client = lineClient(t, fm.portOf('db'));
  await client.connected;
  t.is(await client.say('hello'), 'db1:hello');
  const s = await waitFor(
    async () => {
      const doc = await adminStatus(fm);
      return doc.workers.every((pid) => pid !== null) && doc.frontends.db.active === 1 && doc.frontends.web.requests === 5 ? doc : null;
    },
    { timeout: 30_000, what: 'both workers up and every request counted in /status' },
  );
  // What the document holds, so that validating it means something.
  t.is(s.flags.MAINT.value, 0);
  t.is(typeof s.flags.BROKEN.problem, 'string');
  t.is(s.backends.app.servers.app2.state, 'drain');
  t.like(s.frontends.web.rules[1], { maxBody: 1024, limit: { rate: 100, burst: 10, keys: 1 }, refused: { bodyTooLarge: 1 } });
  t.like(s.backends.primary, { mode: 'tcp', durationMs: null, queue: { length: 0 } });
  t.like(s.backends.closed, { mode: 'tcp', queue: null, servers: {} });
  t.is(s.workers.length, 2);

  const validate = validator();
  t.true(validate(s), errorsOf(validate));

  const lessPid = structuredClone(s);
  delete lessPid.pid;
  t.false(validate(lessPid), 'a document without pid');
  t.regex(errorsOf(validate), /must have required property 'pid'/);

  const lessState = structuredClone(s);
  delete lessState.backends.app.servers.app1.state;
  t.false(validate(lessState), 'a server without state');
  t.regex(errorsOf(validate), /\/backends\/app\/servers\/app1 must have required property 'state'/);

  const extra = structuredClone(s);
  extra.frontends.web.connections.unknown = 1;
  t.false(validate(extra), 'a field the schema does not describe');
  t.regex(errorsOf(validate), /\/frontends\/web\/connections must NOT have additional properties/);

  const wrongState = structuredClone(s);
  wrongState.backends.app.servers.app1.state = 'sideways';
  t.false(validate(wrongState), 'a server state that is not up, down or drain');
});
