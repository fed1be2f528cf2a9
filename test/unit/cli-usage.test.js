// The command line as a new user meets it (README, "Command line"): the general help and each
// command's own, `check --json`, and one clear line with exit 2 for anything not understood. The
// whole command line runs in-process (runCli, as dist/cli/main.js runs it on the process), its
// stdout and stderr captured to the byte; test/e2e/cli-usage.test.js checks the same through the
// real process for a few of these. None of them starts a proxy.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { runCli } from '../../dist/cli/program.js';
import { tempDir } from '../helpers/e2e.js';

// What reached the process's own streams: a command that wrote there rather than through its io
// would print nothing a test could see, so any such write fails the call that made it.
const leaked = [];
for (const name of ['stdout', 'stderr']) {
  const stream = process[name];
  const write = stream.write;
  stream.write = function (chunk, ...rest) {
    leaked.push(`${name}: ${chunk}`);
    return write.call(this, chunk, ...rest);
  };
}

/** Runs `flagman ...args` in-process: its exit code, and what it printed, final newline included. */
async function flagmanCli(args) {
  const out = { stdout: '', stderr: '' };
  const io = { stdout: { write: (s) => (out.stdout += s) }, stderr: { write: (s) => (out.stderr += s) } };
  const exitCode = await runCli(args, io);
  const command = `flagman ${args.join(' ')}`;
  if (leaked.length > 0) throw new Error(`${command} wrote to the process's streams, not its io:\n${leaked.splice(0).join('')}`);
  return { exitCode, ...out, command };
}

const COMMANDS = ['run', 'check', 'set', 'unset', 'get', 'list', 'explain', 'status', 'help'];

const GOOD = `flags:
  dir: ./flags
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: flag("MAINT") > 0
        use: maintenance
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:9" }
  maintenance:
    respond: { status: 503, body: "maintenance" }
`;

function configFile(t, text = GOOD) {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'flags'), { mode: 0o750 });
  const file = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(file, text);
  return file;
}

// Node's own parse error text, a usage dump or a stack trace: what a usage error must not print.
function assertOneUsageLine(t, r, expected) {
  t.is(r.exitCode, 2, `${r.command}: ${r.stderr}`);
  t.is(r.stdout, '', r.command);
  t.is(r.stderr, `flagman: ${expected}\n`, r.command);
  t.notRegex(r.stderr, /usage:|To specify a positional argument|ERR_PARSE_ARGS|\n\s+at /, r.command);
}

// 1. --version (here for the in-process path; the e2e test checks it from the real process)

test('flagman --version and -V print the version on one line and exit 0', async (t) => {
  const { VERSION } = await import('../../dist/version.js');
  for (const flag of ['--version', '-V']) {
    const r = await flagmanCli([flag]);
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.stdout, `flagman ${VERSION}\n`);
    t.is(r.stderr, '');
  }
});

// 2. help

test('flagman help, --help and -h print the general usage, listing every command and the exit codes', async (t) => {
  const outputs = [];
  for (const args of [['help'], ['--help'], ['-h']]) {
    const r = await flagmanCli(args);
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.stderr, '');
    outputs.push(r.stdout);
  }
  t.is(outputs[1], outputs[0]);
  t.is(outputs[2], outputs[0]);
  const text = outputs[0];
  t.regex(text, /^usage: flagman /);
  for (const name of COMMANDS) t.regex(text, new RegExp(`^  flagman (${name}|\\[${name}\\]) `, 'm'), name);
  t.regex(text, /-V, --version/);
  t.regex(text, /exit codes: 0 success, 1 failure .*2 usage/);
});

for (const name of COMMANDS) {
  test(`flagman help ${name}, ${name} --help and ${name} -h print the help of ${name} alone`, async (t) => {
    const [viaHelp, viaLong, viaShort] = await Promise.all([
      flagmanCli(['help', name]),
      flagmanCli([name, '--help']),
      flagmanCli([name, '-h']),
    ]);
    for (const r of [viaHelp, viaLong, viaShort]) {
      t.is(r.exitCode, 0, `${r.command}: ${r.stderr}`);
      t.is(r.stderr, '', r.command);
    }
    t.is(viaLong.stdout, viaHelp.stdout);
    t.is(viaShort.stdout, viaHelp.stdout);
    const text = viaHelp.stdout;
    t.regex(text, new RegExp(`^usage: flagman (${name}|\\[${name}\\])`), text);
    t.regex(text, /\noptions:\n(.*\n)* {2}-h, --help /, text);
    t.regex(text, /\nexamples:\n {2}(\S+=\S+ )?flagman/, text);
    // Its own help, not the list of every command.
    for (const other of COMMANDS.filter((c) => c !== name))
      t.notRegex(text, new RegExp(`^usage: flagman ${other}\\b|^  flagman ${other} `, 'm'), other);
    t.true(
      text.split('\n').every((l) => l.length <= 100),
      'lines fit in 100 columns',
    );
  });
}

test("a command's help lists each of its options, and --help wins over a mistake on the same line", async (t) => {
  const get = (await flagmanCli(['help', 'get'])).stdout;
  for (const o of ['-c, --config FILE', '-d, --dir DIR', '--json']) t.true(get.includes(o), o);
  const explain = (await flagmanCli(['help', 'explain'])).stdout;
  for (const o of ['--method M', '--path P', '--host H', '--ip IP', '--header K:V', '--frontend NAME', '--json'])
    t.true(explain.includes(o), o);
  t.true((await flagmanCli(['help', 'check'])).stdout.includes('--json'));
  t.true((await flagmanCli(['help', 'set'])).stdout.includes('--note TEXT'));
  t.true((await flagmanCli(['help', 'status'])).stdout.includes('--admin URL'));
  const r = await flagmanCli(['get', '--frobnicate', '--help']);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, get);
});

// 3. check --json

test('check --json on a good config: ok, the config path, counts, no errors, the flag problems as warnings', async (t) => {
  const file = configFile(t);
  fs.writeFileSync(path.join(path.dirname(file), 'flags', 'MAINT'), 'abc\n');
  const r = await flagmanCli(['check', '--json', '-c', file]);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stderr, '', 'the warnings are in the document, stdout alone');
  t.deepEqual(JSON.parse(r.stdout), {
    ok: true,
    config: file,
    counts: { frontends: 1, backends: 2, flags: 1 },
    errors: [],
    warnings: [{ flag: 'MAINT', message: 'not a base-10 integer' }],
  });
});

test('check --json on a broken config: exit 1, ok false, every error with its code, file, line and column', async (t) => {
  const file = configFile(t, GOOD.replace('  dir: ./flags', '  dir: ./flags\n  rescna: 1s').replace('use: app', 'use: ap'));
  const r = await flagmanCli(['check', '-c', file, '--json']);
  t.is(r.exitCode, 1);
  t.is(r.stderr, '');
  const doc = JSON.parse(r.stdout);
  t.is(doc.ok, false);
  t.is(doc.config, file);
  t.is(doc.counts, null);
  t.deepEqual(doc.warnings, []);
  t.deepEqual(
    doc.errors.map(({ code, file: f, line, col }) => ({ code, file: f, line, col })),
    [
      { code: 'CONFIG_SCHEMA', file, line: 3, col: 3 },
      { code: 'CONFIG_REF', file, line: 10, col: 14 },
    ],
  );
  t.regex(doc.errors[0].message, /rescna/);
  t.regex(doc.errors[1].message, /"ap"/);
  // The text mode says the same on stderr, each error a line of its own.
  const text = await flagmanCli(['check', '-c', file]);
  t.is(text.exitCode, 1);
  t.is(text.stdout, '');
  t.is(
    text.stderr,
    `flagman: CONFIG_SCHEMA: ${doc.errors[0].message} (${file}:3:3)\nflagman: CONFIG_REF: ${doc.errors[1].message} (${file}:10:14)\n`,
  );
});

// 3b. A failure is printed `flagman: CODE: reason (place)`, the code one of docs/errors.md's.

test('check prints a config error as CODE: reason (file:line:col)', async (t) => {
  const file = configFile(t, GOOD.replace('use: app', 'use: ap'));
  const r = await flagmanCli(['check', '-c', file]);
  t.is(r.exitCode, 1);
  t.is(r.stdout, '');
  t.is(r.stderr, `flagman: CONFIG_REF: frontends.web.rules[1].use: no backend named "ap" (defined: app, maintenance) (${file}:9:14)\n`);
});

test('check and run print a flags-directory error as CODE: reason (directory)', async (t) => {
  const file = configFile(t);
  const flags = path.join(path.dirname(file), 'flags');
  fs.chmodSync(flags, 0o777);
  const expected = (reason) =>
    `flagman: FLAG_DIR: ${reason}: anyone could steer traffic (chmod o-w it, or set flags.allowWorldWritable: true) (${flags})\n`;
  const checked = await flagmanCli(['check', '-c', file]);
  t.is(checked.exitCode, 1);
  t.is(checked.stderr, expected(`flags directory ${flags} is world-writable`));
  // run refuses it before it opens anything: the same code and place, at start.
  const ran = await flagmanCli(['run', '-c', file]);
  t.is(ran.exitCode, 1);
  t.is(ran.stdout, '');
  t.is(ran.stderr, expected('the flags directory is world-writable'));
});

test('check --json on a missing config: exit 1 with a CONFIG_READ error naming it', async (t) => {
  const file = path.join(tempDir(t), 'nope.yaml');
  const r = await flagmanCli(['check', '--json', '-c', file]);
  t.is(r.exitCode, 1);
  const doc = JSON.parse(r.stdout);
  t.is(doc.ok, false);
  t.deepEqual(doc.errors, [{ code: 'CONFIG_READ', file, line: null, col: null, message: 'no such file' }]);
});

// 4. Usage errors: one line, exit 2

test('an unknown command: one line naming it, exit 2', async (t) => {
  assertOneUsageLine(t, await flagmanCli(['frobnicate']), 'unknown command "frobnicate" (flagman help)');
  assertOneUsageLine(t, await flagmanCli(['help', 'frobnicate']), 'unknown command "frobnicate" (flagman help)');
  assertOneUsageLine(t, await flagmanCli(['--frobnicate']), 'unknown option --frobnicate (flagman help)');
});

for (const name of COMMANDS) {
  test(`${name}: an unknown option, or an option without its value, is one line naming it, exit 2`, async (t) => {
    const [unknown, short] = await Promise.all([flagmanCli([name, '--frobnicate']), flagmanCli([name, '-x'])]);
    assertOneUsageLine(t, unknown, `unknown option --frobnicate for "${name}" (flagman help ${name})`);
    assertOneUsageLine(t, short, `unknown option -x for "${name}" (flagman help ${name})`);
    if (name !== 'help') {
      assertOneUsageLine(t, await flagmanCli([name, '-c']), `missing FILE after -c for "${name}" (flagman help ${name})`);
    }
  });
}

test('a missing or extra argument is one line naming it, exit 2', async (t) => {
  const dir = tempDir(t);
  for (const name of ['set', 'get', 'unset'])
    assertOneUsageLine(t, await flagmanCli([name, '-d', dir]), `missing NAME for "${name}" (flagman help ${name})`);
  assertOneUsageLine(t, await flagmanCli(['get', 'A', 'B', '-d', dir]), 'unexpected argument "B" for "get" (flagman help get)');
  assertOneUsageLine(t, await flagmanCli(['set', 'A', '1', '2', '-d', dir]), 'unexpected argument "2" for "set" (flagman help set)');
  for (const name of ['run', 'check', 'list', 'explain', 'status']) {
    assertOneUsageLine(t, await flagmanCli([name, 'extra']), `unexpected argument "extra" for "${name}" (flagman help ${name})`);
  }
  assertOneUsageLine(t, await flagmanCli(['help', 'get', 'set']), 'unexpected argument "set" for "help" (flagman help help)');
  t.deepEqual(fs.readdirSync(dir), [], 'nothing was written');
});

test('option values: a forgotten one, one given to a switch, one that starts with "-"', async (t) => {
  const dir = tempDir(t);
  assertOneUsageLine(t, await flagmanCli(['get', 'X', '-c', '--json']), 'missing FILE after -c for "get" (flagman help get)');
  assertOneUsageLine(t, await flagmanCli(['get', 'X', '--dir']), 'missing DIR after --dir for "get" (flagman help get)');
  assertOneUsageLine(
    t,
    await flagmanCli(['get', 'X', '--json=yes', '-d', dir]),
    '--json=yes for "get": --json takes no value (flagman help get)',
  );
  assertOneUsageLine(
    t,
    await flagmanCli(['set', 'X', '-d', dir, '--note', '-wip']),
    'missing TEXT after --note for "set": a TEXT that starts with "-" is written --note=-wip (flagman help set)',
  );
  assertOneUsageLine(
    t,
    await flagmanCli(['set', 'X', '-5', '-d', dir]),
    'unknown option -5 for "set": a negative number goes after -- (flagman help set)',
  );
  // A command's own checks point to its help too.
  assertOneUsageLine(t, await flagmanCli(['set', 'X', 'abc', '-d', dir]), 'set X: "abc" is not an integer (flagman help set)');
  assertOneUsageLine(
    t,
    await flagmanCli(['status', '--admin', 'ftp://127.0.0.1:1']),
    '--admin ftp://127.0.0.1:1: only http:// and https:// URLs (flagman help status)',
  );
  t.deepEqual(fs.readdirSync(dir), []);
});

// 5. What stays

test('get still prints the value alone; set takes a negative value after --, and a note written --note=-x', async (t) => {
  const dir = tempDir(t);
  for (const args of [
    ['X', '3'],
    ['OFFSET', '--', '-5'],
    ['N', '--note=-wip'],
  ]) {
    const r = await flagmanCli(['set', '-d', dir, ...args]);
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.stdout, '');
  }
  const get = async (...args) => flagmanCli(['get', ...args, '-d', dir]);
  t.is((await get('X')).stdout, '3\n');
  t.is((await get('OFFSET')).stdout, '-5\n');
  t.is((await get('NOPE')).stdout, 'unset\n');
  t.deepEqual(JSON.parse((await get('N', '--json')).stdout), { name: 'N', value: 1, note: '-wip', changedAt: null, problem: null });
  const list = await flagmanCli(['list', '-d', dir]);
  t.is(list.exitCode, 0, list.stderr);
  t.is(list.stdout, 'NAME    VALUE  NOTE  PROBLEM\nN       1      -wip\nOFFSET  -5\nX       3\n');
  const unset = await flagmanCli(['unset', 'X', 'OFFSET', '-d', dir]);
  t.is(unset.exitCode, 0, unset.stderr);
  t.is((await get('X')).stdout, 'unset\n');
});

test('a failure is one line per error on stderr, exit 1; nothing on stdout', async (t) => {
  const file = path.join(tempDir(t), 'nope.yaml');
  const r = await flagmanCli(['get', 'X', '-c', file]);
  t.is(r.exitCode, 1);
  t.is(r.stdout, '');
  t.is(r.stderr, `flagman: CONFIG_READ: no such file (${file})\n`);
});
