// acceptProxy and sendProxy in the config: what loads (a server's own sendProxy over its backend's,
// `off` for one server), and each mistake as an error at its file:line:col.
import test from 'ava';
import { parseConfigText } from '../../dist/config/load.js';
import { FlagmanErrors } from '../../dist/errors.js';

const F = '/etc/flagman/flagman.yaml';
const lines = (...l) => `${l.join('\n')}\n`;

const errorsOf = (t, text) =>
  t
    .throws(() => parseConfigText(text, F), { instanceOf: FlagmanErrors })
    .errors.map((e) => `${e.at.line}:${e.at.col} ${e.code} ${e.reason}`);

test("acceptProxy on HTTP and tcp frontends; sendProxy from the backend, a server's own over it, off for one", (t) => {
  const c = parseConfigText(
    lines(
      'frontends:',
      '  web: { listen: ":8080", acceptProxy: true, rules: [{ use: app }] }',
      '  db: { mode: tcp, listen: ":5432", acceptProxy: on, rules: [{ use: pg }] }',
      '  other: { listen: ":8081", rules: [{ use: app }] }',
      'backends:',
      '  app:',
      '    sendProxy: v2',
      '    servers:',
      '      a1: { address: "127.0.0.1:1" }',
      '      a2: { address: "127.0.0.1:2", sendProxy: v1 }',
      '      a3: { address: "127.0.0.1:3", sendProxy: off }',
      '      a4: { address: "127.0.0.1:4", sendProxy: false }',
      '  pg: { mode: tcp, servers: { p1: { address: "127.0.0.1:5", sendProxy: v1 } } }',
    ),
    F,
  );
  t.deepEqual(
    c.frontends.map((f) => f.acceptProxy),
    [true, true, false],
  );
  t.deepEqual(
    c.backends[0].servers.map((s) => s.sendProxy),
    ['v2', 'v1', null, null],
  );
  t.deepEqual(
    c.backends[1].servers.map((s) => s.sendProxy),
    ['v1'],
  );
});

test('bad values, and sendProxy on a backend without servers, are errors at their place', (t) => {
  const got = errorsOf(
    t,
    lines(
      'frontends:',
      '  web: { listen: ":8080", acceptProxy: v2, rules: [{ use: page }] }',
      'backends:',
      '  app: { sendProxy: off, servers: { a1: { address: "127.0.0.1:1", sendProxy: 2 } } }',
      '  page: { sendProxy: v1, respond: { body: hi } }',
    ),
  );
  t.deepEqual(got, [
    '2:40 CONFIG_SCHEMA frontends.web.acceptProxy: expected true, false, on or off, got the string "v2"',
    '4:21 CONFIG_SCHEMA backends.app.sendProxy: expected one of v1, v2, got the string "off"',
    '4:78 CONFIG_SCHEMA backends.app.servers.a1.sendProxy: expected one of v1, v2, off, got the number 2',
    '5:11 CONFIG_SCHEMA backends.page.sendProxy: only a backend with servers takes sendProxy',
  ]);
});
