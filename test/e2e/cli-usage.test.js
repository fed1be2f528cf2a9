// The command line from a real process: what only a process shows — its exit code, what reached
// its stdout and stderr, the launcher bin/flagman. test/unit/cli-usage.test.js runs every case of the
// command line (help, usage errors, check --json, get and set) in-process; here a few of them run
// through the built command, so that main.ts is seen to pass them on. None starts a proxy.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { cli, flagmanCli as spawn, root, tempDir } from '../helpers/e2e.js';

// Output as printed, final newline included: "one line" is checked to the byte.
const flagmanCli = (args) => spawn(args, { stripFinalNewline: false });

const VERSION = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;

for (const flag of ['--version', '-V']) {
  test(`flagman ${flag} prints the version on one line and exits 0, from dist/cli/main.js and the launcher`, async (t) => {
    // flagmanCli runs the launcher that execs node, as installed (or the single executable).
    const direct = execa(process.execPath, [cli, flag], { reject: false, timeout: 20_000, stripFinalNewline: false });
    for (const r of await Promise.all([flagmanCli([flag]), direct])) {
      t.is(r.exitCode, 0, `${r.command}: ${r.stderr}`);
      t.is(r.stdout, `flagman ${VERSION}\n`, r.command);
      t.is(r.stderr, '', r.command);
    }
  });
}

test('a usage error: exit 2, one line on stderr, nothing on stdout', async (t) => {
  const r = await flagmanCli(['get', '--frobnicate']);
  t.is(r.exitCode, 2, r.stderr);
  t.is(r.stdout, '');
  t.is(r.stderr, 'flagman: unknown option --frobnicate for "get" (flagman help get)\n');
});

test('help get: exit 0, the help on stdout', async (t) => {
  const r = await flagmanCli(['help', 'get']);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stderr, '');
  t.regex(r.stdout, /^usage: flagman get NAME /);
  t.regex(r.stdout, /\nexamples:\n {2}flagman get MAINT\n/);
});

test('check --json on a broken config: exit 1, the JSON document on stdout, nothing on stderr', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(file, 'flags:\n  dir: ./flags\n  rescna: 1s\n');
  const r = await flagmanCli(['check', '--json', '-c', file]);
  t.is(r.exitCode, 1, r.stderr);
  t.is(r.stderr, '');
  const doc = JSON.parse(r.stdout);
  t.is(doc.ok, false);
  t.is(doc.config, file);
  t.true(doc.errors.length > 0);
  t.true(
    doc.errors.some((e) => e.code === 'CONFIG_SCHEMA' && e.line === 3),
    r.stdout,
  );
});
