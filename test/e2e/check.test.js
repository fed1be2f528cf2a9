// `flagman check`: exit 0 on the demo config, 1 with `CODE: reason (file:line:col)` on broken ones
// (docs/cli.md, docs/errors.md).
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { flagmanCli, root, tempDir } from '../helpers/e2e.js';

const GOOD = `flags:
  dir: ./flags
frontends:
  web:
    listen: [":8080"]
    rules:
      - when: flag("MAINT") > 0
        use: maintenance
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:9001" }
  maintenance:
    respond: { status: 503, body: "maintenance" }
`;

function write(t, text) {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'flags'));
  const file = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(file, text);
  return file;
}

test('check exits 0 on the demo config', async (t) => {
  const r = await flagmanCli(['check', '-c', path.join(root, 'examples/demo/flagman.yaml')]);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /flagman\.yaml: ok/);
});

test('check exits 0 on a good config, honouring $FLAGMAN_CONFIG', async (t) => {
  const file = write(t, GOOD);
  const r = await flagmanCli(['check'], { env: { FLAGMAN_CONFIG: file } });
  t.is(r.exitCode, 0, r.stderr);
});

const BROKEN = [
  {
    title: 'a YAML syntax error',
    text: GOOD.replace('    listen: [":8080"]', '    listen: [":8080"'),
    where: /^flagman: CONFIG_YAML: .+ \(.*flagman\.yaml:\d+:\d+\)$/m,
  },
  {
    title: 'an unknown key',
    text: GOOD.replace('  dir: ./flags', '  dir: ./flags\n  rescna: 1s'),
    where: /^flagman: CONFIG_SCHEMA: .*rescna.* \(.*flagman\.yaml:3:3\)$/m,
  },
  {
    title: 'a rule using an unknown backend',
    text: GOOD.replace('use: app', 'use: ap'),
    where: /^flagman: CONFIG_REF: .*"ap".* \(.*flagman\.yaml:9:14\)$/m,
  },
  {
    title: 'an exec health check whose command cannot run',
    text: GOOD.replace('  app:\n    servers:', '  app:\n    health: { type: exec, command: ./checks/nope.sh }\n    servers:'),
    where:
      /^flagman: CONFIG_COMMAND: backends\.app\.health\.command: .*checks\/nope\.sh is not an executable file \(.*flagman\.yaml:12:36\)$/m,
  },
  {
    title: 'a health check of one type with a key of another',
    text: GOOD.replace('  app:\n    servers:', '  app:\n    health: { type: tcp, path: /healthz }\n    servers:'),
    where: /^flagman: CONFIG_SCHEMA: backends\.app\.health\.path: only a check of type http takes path .*\(.*flagman\.yaml:12:26\)$/m,
  },
  {
    title: 'a CEL syntax error',
    text: GOOD.replace('flag("MAINT") > 0', 'flag("MAINT") > > 0'),
    where: /^flagman: CONFIG_EXPR: .+ \(.*flagman\.yaml:7:\d+\)$/m,
  },
];

for (const { title, text, where } of BROKEN) {
  test(`check exits 1 naming the code and file:line:col for ${title}`, async (t) => {
    const file = write(t, text);
    const r = await flagmanCli(['check', '-c', file]);
    t.is(r.exitCode, 1);
    t.regex(r.stderr, where);
    t.true(r.stderr.includes(file), 'the error names the file');
  });
}

test('a CEL error points at the column inside the expression', async (t) => {
  const file = write(t, GOOD.replace('flag("MAINT") > 0', 'flag("MAINT") > "x"'));
  const r = await flagmanCli(['check', '-c', file]);
  t.is(r.exitCode, 1);
  // `when: ` starts at col 9, so the expression's first character is col 15.
  const m = /flagman\.yaml:7:(\d+)\)$/m.exec(r.stderr);
  t.truthy(m, r.stderr);
  t.true(Number(m[1]) >= 15, r.stderr);
});

test('usage errors exit 2; a missing config exits 1 naming it', async (t) => {
  t.is((await flagmanCli(['frobnicate'])).exitCode, 2);
  t.is((await flagmanCli(['check', '--bogus'])).exitCode, 2);
  const missing = await flagmanCli(['check', '-c', '/nonexistent/flagman.yaml']);
  t.is(missing.exitCode, 1);
  t.is(missing.stderr, 'flagman: CONFIG_READ: no such file (/nonexistent/flagman.yaml)');
});

test('check fails on a world-writable flags directory as run would, and warns on a missing one', async (t) => {
  const file = write(t, GOOD);
  const flags = path.join(path.dirname(file), 'flags');
  fs.chmodSync(flags, 0o777);
  const unsafe = await flagmanCli(['check', '-c', file]);
  t.is(unsafe.exitCode, 1);
  t.true(unsafe.stderr.includes(flags), unsafe.stderr);
  t.regex(unsafe.stderr, /^flagman: FLAG_DIR: .*world-writable.* \(.*flags\)$/m);
  fs.rmSync(flags, { recursive: true });
  const missing = await flagmanCli(['check', '-c', file]);
  t.is(missing.exitCode, 0, missing.stderr);
  t.regex(missing.stderr, /warning: .*missing/);
});
