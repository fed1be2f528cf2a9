// The npm package is whole: what `npm pack` makes carries the license, the examples and systemd
// units the README links, and the build without source maps (they would point at a src/ the
// package does not carry); installed with `npm install -g`, its `flagman` command runs outside the
// repository. Build first (`npm run build`), as for every e2e test: npm pack runs with
// --ignore-scripts, so it does not rebuild dist/ under the other tests' feet.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { execa } from '../helpers/execa.js';
import { request, root, startFlagman, tempDir, upstream } from '../helpers/e2e.js';

const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

/** npm, quiet and bounded: no audit, funding or update check; a stuck registry fails the step. */
function npm(args, options = {}) {
  return execa('npm', [...args, '--no-audit', '--no-fund', '--no-update-notifier'], { timeout: 120_000, ...options });
}

/** What `npm pack` puts in the tarball: path → { path, size, mode }. */
async function packedFiles() {
  const { stdout } = await npm(['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
  return new Map(JSON.parse(stdout)[0].files.map((f) => [f.path, f]));
}

/** The README's links to paths under examples/, systemd/ and docs/, which users follow from the package. */
function readmeLinks() {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  return [...new Set([...readme.matchAll(/\]\(((?:examples|systemd|docs)\/[^)#\s]*)\)/g)].map((m) => m[1]))];
}

/** Every file under `dir`, relative to it. */
function walk(dir) {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

test('the package carries the license, the README, the command, the build without source maps, the examples, the docs and systemd units; no sources, tests or demo starter', async (t) => {
  const files = await packedFiles();
  const paths = [...files.keys()];
  for (const p of [
    'LICENSE',
    'README.md',
    'package.json',
    'bin/flagman',
    'dist/bundle/flagman.js',
    'examples/demo/flagman.yaml',
    'examples/demo/maintenance.html',
    'systemd/flagman.service',
    'systemd/flagman.socket',
    'systemd/flagman-sync.service',
    'systemd/examples/sync.env',
  ]) {
    t.true(files.has(p), `${p} is packed`);
  }
  t.is(files.get('bin/flagman').mode & 0o111, 0o111, 'bin/flagman is executable');
  for (const link of readmeLinks()) {
    t.true(
      paths.some((p) => p === link || p.startsWith(`${link.replace(/\/$/, '')}/`)),
      `the README links ${link}: packed`,
    );
  }
  t.deepEqual(
    paths.filter((p) => p.endsWith('.map')),
    [],
    'no source maps',
  );
  for (const p of paths.filter((p) => p.startsWith('dist/') && p.endsWith('.js'))) {
    t.false(fs.readFileSync(path.join(root, p), 'utf8').includes('sourceMappingURL'), `${p} names no source map`);
  }
  t.deepEqual(
    // dist/ is tsc's output; the command runs its bundle (dist/bundle/), which is all it ships.
    paths.filter((p) => /^(src|test|bench|flags|node_modules)\//.test(p) || /^dist\/(?!bundle\/)/.test(p) || p === 'package-lock.json'),
    [],
    'nothing only the repository needs',
  );

  const license = fs.readFileSync(path.join(root, 'LICENSE'), 'utf8');
  t.is(pkg.license, 'MIT');
  t.regex(license, /^MIT License\n\nCopyright \(c\) 2026 the flagman authors\n/);
  // One project address everywhere: the repository, its page and its issues.
  const repo = pkg.repository?.url?.replace(/^git\+/, '').replace(/\.git$/, '');
  t.regex(repo ?? '', /^https:\/\/github\.com\/[\w.-]+\/flagman$/);
  t.is(pkg.homepage, `${repo}#readme`);
  t.is(pkg.bugs?.url, `${repo}/issues`);
  t.true(Array.isArray(pkg.keywords) && pkg.keywords.length > 0, 'keywords');
});

test('npm pack, then npm install -g: the installed flagman prints its version, checks a shipped example and proxies, from outside the repository', async (t) => {
  // npm pack and an install whose dependencies come from npm's cache when it has them
  // (--prefer-offline: no registry round trip then), else from the registry.
  t.timeout(240_000);
  const tmp = tempDir(t, 'flagman-package-');
  const prefix = path.join(tmp, 'prefix');
  const packed = await npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: root });
  const tarball = path.join(tmp, JSON.parse(packed.stdout)[0].filename);
  const install = await npm(['install', '--global', '--prefix', prefix, '--prefer-offline', tarball], { cwd: tmp, reject: false });
  t.is(install.exitCode, 0, `npm install -g (it needs the registry, or npm's cache holding flagman's dependencies):\n${install.stderr}`);
  if (install.exitCode !== 0) return;

  const home = fs.realpathSync(path.join(prefix, 'lib/node_modules/flagman'));
  const flagman = path.join(prefix, 'bin/flagman');
  t.is(fs.realpathSync(flagman), path.join(home, 'bin/flagman'), 'npm links the command to the package');
  t.deepEqual(
    walk(home).filter((p) => p.endsWith('.map') && !p.startsWith('node_modules/')),
    [],
    'no source maps installed',
  );
  const run = (args) => execa(flagman, args, { cwd: tmp, reject: false, timeout: 60_000 });

  const version = await run(['--version']);
  t.is(version.exitCode, 0, version.stderr);
  t.is(version.stdout.trim(), `flagman ${pkg.version}`);

  const example = path.join(home, 'examples/demo/flagman.yaml');
  const check = await run(['check', '-c', example]);
  t.is(check.exitCode, 0, check.stderr);
  t.is(check.stdout, `${example}: ok (1 frontend(s), 2 backend(s), 0 flag(s))`);

  const app = await upstream(t, 'app');
  const config = `
flags: { dir: ./flags }
frontends:
  web: { listen: ["127.0.0.1:0"], rules: [{ use: app }] }
backends:
  app: { servers: { app1: { address: "127.0.0.1:{{app}}" } } }
`;
  const fm = await startFlagman(t, config, { vars: { app: app.port }, installed: flagman });
  const argv = fs.readFileSync(`/proc/${fm.started.pid}/cmdline`, 'utf8').split('\0');
  t.true(argv.includes(path.join(home, 'dist/bundle/flagman.js')), `runs the installed build: ${argv.join(' ')}`);
  t.is(fs.realpathSync(`/proc/${fm.started.pid}/cwd`), fs.realpathSync(fm.dir), 'from its own directory, not the repository');
  const r = await request(fm.port);
  t.is(r.status, 200);
  t.is(r.body, 'app');
});
