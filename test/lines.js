// `npm test` after the build: the whole suite on the current Node LTS line, the end-to-end files
// that differ between lines on the two other maintained LTS lines, and those with every unit test
// on the oldest supported line — each under a PATH whose `node` is that line (the launcher tests
// run bin/flagman, which runs the `node` on the PATH).
//
// Which node is which is decided here, never by the PATH npm hands to scripts: the `node`
// devDependency (the current LTS line) puts node_modules/.bin/node first on that PATH, so a bare
// `node` or `ava` in a script would silently be that line.
// - current: node_modules/node/bin/node, the `node` devDependency;
// - 24 and 22: a pinned release of each, fetched from the npm registry on first use
//   (scripts/node-binary.js), as the `node` package itself fetches its binary — in the background,
//   while the current line's passes run (two fetches took 10 s of a clean clone's CI run before);
// - oldest:  the node that runs npm (npm_node_execpath; `node` on the PATH when run by hand).
// FLAGMAN_TEST_LINES=current,oldest (any of current, 24, 22, oldest) runs those passes alone;
// FLAGMAN_TEST_NODE=/path/to/node runs the current line's passes (the whole suite) on that node.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { nodeBinaryLater } from '../scripts/node-binary.js';
import { maintenanceConfig } from './helpers/configs.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ava = path.join(root, 'node_modules/ava/entrypoints/cli.mjs');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

// The releases the two middle lines are tested on; the current line is the devDependency's.
const PINNED = { 24: '24.21.0', 22: '22.23.3' };
const LINE_FILES = { what: 'the end-to-end files that differ between Node lines (ava.config.js)', mode: 'lines' };
const lines = {
  current: {
    node: () => process.env.FLAGMAN_TEST_NODE ?? path.join(root, 'node_modules/node/bin/node'),
    runs: [
      { what: 'every test file', mode: '' },
      { what: 'the flag-flood latency files, one at a time', mode: 'timing' },
    ],
  },
  24: { node: () => nodeBinaryLater(PINNED[24]), runs: [LINE_FILES] },
  22: { node: () => nodeBinaryLater(PINNED[22]), runs: [LINE_FILES] },
  oldest: { node: () => process.env.npm_node_execpath ?? 'node', runs: [{ what: 'the subset (ava.config.js)', mode: 'subset' }] },
};

/** `node --version` of a binary, or null when it does not run. */
function versionOf(node) {
  const r = spawnSync(node, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** A temp dir holding `node`, a symlink to `node`: put first on the PATH, it is the `node` every child runs. */
function pathWith(node) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-test-node-'));
  const resolved = node.includes('/') ? path.resolve(node) : spawnSync('sh', ['-c', 'command -v node'], { encoding: 'utf8' }).stdout.trim();
  fs.symlinkSync(resolved, path.join(dir, 'node'));
  return dir;
}

/** Every test file, relative to the root (test/e2e/tls.test.js, …). */
function testFiles(dir = 'test') {
  return fs
    .readdirSync(path.join(root, dir), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? testFiles(`${dir}/${e.name}`) : e.name.endsWith('.test.js') ? [`${dir}/${e.name}`] : []));
}

/**
 * The test file a line of ava's report names. ava names a test by its file's path from the folder
 * all selected files share, then the title: "e2e › tls › title" in a whole run, "tls › title" when
 * every file is in test/e2e/. The longest leading run of names that ends a file's path wins.
 */
function fileOf(line) {
  const named = /(test\/\S+\.test\.js)/.exec(line); // uncaught exceptions, files that exited badly
  if (named) return named[1];
  const m = /✘ (?:\[[a-z]+\]: )?(.*)$/.exec(line);
  if (m === null) return null;
  const parts = m[1].split(' › ');
  const files = testFiles();
  for (let k = parts.length - 1; k >= 1; k--) {
    // ava titles test/e2e/test-tools.test.js "e2e › tools": it drops a `test-` prefix.
    const dirs = parts
      .slice(0, k - 1)
      .map((p) => `/${p}`)
      .join('');
    const tails = [`${dirs}/${parts[k - 1]}.test.js`, `${dirs}/test-${parts[k - 1]}.test.js`];
    const found = files.filter((f) => tails.some((tail) => f.endsWith(tail)));
    if (found.length === 1) return found[0];
  }
  return null;
}

/**
 * Runs ava on `node` in `mode` (FLAGMAN_TESTS), its output passed through; resolves with counts,
 * time, the failure lines and the files they came from. `files`, when given, runs those alone, one
 * file at a time.
 */
function runAva(node, mode, binDir, { files = [], out = process.stdout, concurrency = null } = {}) {
  const started = Date.now();
  // ava and its workers keep their compiled code in the run's cache too (Node 22 and later): each
  // test file's process loads ava, the helpers and flagman's modules again. 40 unit files took
  // 18-20 s of CPU with it, 22 s without (2026-12-07).
  const env = { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}`, FLAGMAN_TESTS: mode, NODE_COMPILE_CACHE: compileCache };
  if (mode === '') delete env.FLAGMAN_TESTS;
  const args =
    files.length > 0 ? [ava, '--concurrency', '1', ...files] : concurrency === null ? [ava] : [ava, '--concurrency', String(concurrency)];
  const child = spawn(node, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  // ava's default reporter: a line per test (✔ passed, ✘ failed), then a summary that gives the
  // passed count only when nothing failed; uncaught exceptions and files that exit badly come apart.
  let passed = 0;
  const failures = [];
  let partial = '';
  const read = (d, out) => {
    out.write(d);
    const lines = (partial + d).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      if (/^\s*✔/.test(line)) passed++;
      else if (/^\s*✘/.test(line)) failures.push(line.trim());
      else if (/^\s*(Uncaught exception|Unhandled rejection) in /.test(line)) failures.push(line.trim());
      else if (/test\/\S+\.test\.js exited with a non-zero exit code/.test(line)) failures.push(line.trim());
      // After "✘ Timed out while running tests": which files still had tests running.
      else if (/tests? (?:were|was) pending in test\/\S+\.test\.js/.test(line)) failures.push(line.trim());
    }
  };
  child.stdout.on('data', (d) => read(d, out));
  child.stderr.on('data', (d) => (out === process.stdout ? process.stderr : out).write(d));
  return new Promise((resolve) =>
    child.on('close', (code) => {
      // A run that failed without a ✘ line (ava could not start, a worker crashed) is still a failure.
      if (code !== 0 && failures.length === 0) failures.push(`ava exited with ${code} and named no failed test`);
      // A timeout's own line names no file; the pending lines after it do.
      const named = failures.filter((f) => !/✘ Timed out while running tests/.test(f) || !failures.some((g) => /pending in/.test(g)));
      const failedFiles = [...new Set(named.map(fileOf))];
      resolve({ code: code ?? 1, passed, failed: failures.length, failures, failedFiles, seconds: (Date.now() - started) / 1000 });
    }),
  );
}

const only = process.env.FLAGMAN_TEST_LINES?.split(',');
const unknown = only?.filter((l) => !(l in lines)) ?? [];
if (unknown.length > 0) {
  console.error(`FLAGMAN_TEST_LINES must list some of ${Object.keys(lines).join(', ')}, not ${JSON.stringify(unknown.join(','))}`);
  process.exit(2);
}
/**
 * The node of each line asked for, fetched if need be, with its version and what was fetched; a
 * line whose node is missing or does not run has `error` instead, and fails the run at its turn.
 * A line's `node()` gives a path, or a promise of the fetched binary.
 */
async function prepare(name) {
  const line = { ...lines[name] };
  try {
    const got = await line.node();
    if (typeof got === 'string') line.node = got;
    else ({ bin: line.node, fetched: line.fetched } = got);
  } catch (err) {
    return { ...line, error: `no node for the ${name} line: ${err.message}` };
  }
  line.version = versionOf(line.node);
  if (line.version === null) {
    line.error = `the ${name} line's node (${line.node}) does not run; npm install brings the current one (devDependency "node"), the registry the others`;
  }
  return line;
}

/** Runs `line`'s passes, printing through `out`; resolves with their results. */
async function runLine(name, line, out, concurrency) {
  const { node, version } = line;
  const results = [];
  const say = (text) => out.write(`${text}\n`);
  if (line.error) {
    say(`flagman tests: ${line.error}`);
    return [{ name, version: 'none', what: 'no node to run on', code: 1, passed: 0, failed: 1, failures: [line.error], seconds: 0 }];
  }
  if (line.fetched) say(`flagman tests: ${line.fetched} (${node})`);
  const minimum = /(\d+)/.exec(pkg.engines.node)?.[1];
  if (name === 'oldest' && minimum !== undefined && !version.startsWith(`v${minimum}.`)) {
    say(`flagman tests: note: the oldest supported line is Node ${minimum}, and npm runs on ${version}: the subset runs on ${version}`);
  }
  const binDir = pathWith(node);
  try {
    // Node 20 has no compile cache.
    if (Number(/^v(\d+)/.exec(version)?.[1]) >= 22) await warmCompileCache(binDir);
    for (const run of line.runs) {
      say(`\nflagman tests: ${run.what} on Node ${version} (${name} line: ${node}; \`node\` on the PATH is that one)\n`);
      const r = { name, version, what: run.what, ...(await runAva(node, run.mode, binDir, { out, concurrency })) };
      results.push(r);
      // A test that fails beside three other files on a loaded 2-core machine is run again, its
      // file alone, once. It counts as passed only if its whole file then passes; the summary
      // names it either way, so a test that needs the second chance is seen and fixed.
      if (r.code !== 0 && r.failedFiles.length > 0 && !r.failedFiles.includes(null)) {
        say(`\nflagman tests: again, alone, the file(s) that failed: ${r.failedFiles.join(', ')}\n`);
        const again = await runAva(node, run.mode, binDir, { files: r.failedFiles, out });
        results.push({ name, version, what: `again, alone: ${r.failedFiles.join(', ')}`, ...again });
        if (again.code === 0) {
          r.code = 0;
          r.flaky = r.failures;
          r.failed = 0;
          r.passed += r.failures.length;
        }
      }
    }
  } finally {
    fs.rmSync(binDir, { recursive: true, force: true });
  }
  return results;
}

// One compile cache for every flagman the run starts (test/helpers/e2e.js, flagmanEnv), fresh each
// run and removed at its end.
const compileCache = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-compile-cache-'));
process.env.FLAGMAN_TEST_COMPILE_CACHE = compileCache;
process.once('exit', () => fs.rmSync(compileCache, { recursive: true, force: true }));

// execa in one file, for the test files' processes to load instead of its 171 modules
// (test/helpers/execa.js): made for the run, removed at its end.
const execaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-test-execa-'));
process.once('exit', () => fs.rmSync(execaDir, { recursive: true, force: true }));
esbuild.buildSync({
  stdin: { contents: "export { execa } from 'execa';\n", resolveDir: root, sourcefile: 'execa-for-tests.js' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Its CommonJS parts (cross-spawn) require Node's modules, which an ES module does through this.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  outfile: path.join(execaDir, 'execa.js'),
  logLevel: 'warning',
});
process.env.FLAGMAN_TEST_EXECA = path.join(execaDir, 'execa.js');

// The config most end-to-end tests share, its server on a port nothing listens on (the discard port).
const WARM_CONFIG = maintenanceConfig().replace('{{app}}', '9');

/**
 * Fills the compile cache for the node on `binDir`'s PATH, before any test runs: one `flagman run`
 * (started, then SIGTERM) and the CLI commands the tests call most. A process that finds the cache
 * empty writes the code of every module it compiled when it exits: 12 flagman processes stopped at
 * once took 2.7-4.5 s to exit on a cold cache, 0.14 s on a warm one or none — beyond 5 s on a loaded
 * machine, where execa SIGKILLs a process a test stops (four e2e/flag-state tests failed so).
 */
async function warmCompileCache(binDir) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-warm-'));
  try {
    fs.mkdirSync(path.join(dir, 'flags'));
    const config = path.join(dir, 'flagman.yaml');
    fs.writeFileSync(config, WARM_CONFIG);
    const env = { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}`, NODE_COMPILE_CACHE: compileCache };
    const flagman = path.join(root, 'bin/flagman');
    const child = spawn(flagman, ['run', '-c', config], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise((resolve) => child.on('close', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000); // a flagman that never starts
    // One SIGTERM: a second finds no handler and ends flagman before it writes the cache.
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      if (err.includes('"event":"start"') && !child.killed) child.kill('SIGTERM');
    });
    await exited;
    clearTimeout(timer);
    for (const args of [['check'], ['list', '--json'], ['get', 'MAINT'], ['get', 'MAINT', '--json']]) {
      spawnSync(flagman, [...args, '-c', config], { env, stdio: 'ignore' });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const wanted = ['current', '24', '22', 'oldest'].filter((name) => only === undefined || only.includes(name));
// Every line's node is asked for now: the fetches run while the current line's passes do.
const prepared = new Map(wanted.map((name) => [name, prepare(name)]));
/** Collects a pass's output, to be printed whole once it is done. */
class Buffered {
  chunks = [];
  write(d) {
    this.chunks.push(typeof d === 'string' ? Buffer.from(d) : d);
    return true;
  }
  flush() {
    process.stdout.write(Buffer.concat(this.chunks));
  }
}

const results = [];
// The whole suite first, alone on the machine; then the small passes side by side, two test files
// at a time each, each pass's output printed whole when it ends. (One after the other they took
// 31 + 32 + 36 s on 2026-12-07; side by side, 81 s, at 2 cores' worth of CPU throughout.)
if (prepared.has('current')) results.push(...(await runLine('current', await prepared.get('current'), process.stdout, null)));
const others = wanted.filter((name) => name !== 'current');
const side = others.length > 1;
const passes = others.map((name) => {
  const out = side ? new Buffered() : process.stdout;
  return prepared
    .get(name)
    .then((line) => runLine(name, line, out, side ? 2 : null))
    .then((r) => ({ r, out }));
});
for (const { r, out } of await Promise.all(passes)) {
  if (out instanceof Buffered) out.flush();
  results.push(...r);
}

console.log(`\nflagman tests (engines: node ${pkg.engines.node}):`);
for (const r of results) {
  console.log(`  Node ${r.version} (${r.name}), ${r.what}: ${r.passed} passed, ${r.failed} failed, ${r.seconds.toFixed(0)} s`);
  for (const f of r.flaky ?? []) console.log(`    failed beside the others, passed alone: ${f}`);
  if (r.code !== 0) for (const f of r.failures) console.log(`    ${f}`);
}
const passed = results.filter((r) => !r.what.startsWith('again')).reduce((n, r) => n + r.passed, 0);
const failed = results.filter((r) => !r.what.startsWith('again')).reduce((n, r) => n + r.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = results.every((r) => r.code === 0) ? 0 : 1;
