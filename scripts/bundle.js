// The code bin/flagman runs: dist/cli/main.js (tsc's output) and everything it imports, flagman's
// modules and its dependencies, bundled by esbuild into dist/bundle/. `npm run build` runs this
// after tsc; the single executable's build (build-sea.js) bundles with the same function into one
// file.
//
// Why a bundle: Node looks up, reads and compiles some 460 modules one by one to start flagman
// from dist/; a bundle is one entry and a few chunks. Measured on this 2-core machine, CPU from the
// spawn to the "start" event, medians of 14 interleaved starts, the realistic test config:
// `flagman run` 380 → 280 ms on Node 26 (compile cache on), 510 → 340 ms on Node 20; `flagman
// check` 310 → 220 ms, `flagman get` 230 → 180 ms. Split into chunks, a command loads only the
// code it runs, as the lazy imports of src/cli/commands.ts intend: one file made `--version`
// cost 170 ms instead of 80.
//
//   node scripts/bundle.js        (after tsc: `npm run build` does both)
import fs from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where bin/flagman finds the bundle's entry, dist/bundle/flagman.js. */
export const BUNDLE_DIR = path.join(root, 'dist/bundle');

// src/version.ts reads package.json beside dist/ at start, by a path relative to its own file; a
// bundle's files sit elsewhere (and the single executable has no package.json at all), so the
// bundle gets the version as a constant instead.
const inlineVersion = {
  name: 'inline-version',
  setup(build) {
    const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    build.onLoad({ filter: /[\\/]dist[\\/]version\.js$/ }, () => ({
      contents: `export const VERSION = ${JSON.stringify(version)};\n`,
      loader: 'js',
    }));
  },
};

// An `import` of one of Node's built-in modules in an ES module makes Node build a facade of it:
// every export read once, which runs the getters that load the module's lazy parts (on Node 26,
// `node:util`'s loaded the text-diff code of `util.diff`, `node:fs`'s its streams, `node:crypto`'s
// Web Crypto). Here each such import (of a module `builtinModules` names: `node:sea`, which it does
// not name on Node 20, stays as it is) becomes a module that `require`s the built-in (no facade) and
// exports it by name, each name read at start only if the bundle uses it (a pure call that esbuild
// drops otherwise). CPU to start, Node 26, means of 16 interleaved starts each (2026-12-07):
// `flagman run` 297 → 283 ms, `flagman check` 226 → 215 ms, `flagman get` 189 → 184 ms.
const BUILTIN = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
const requireHere = createRequire(import.meta.url);
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(build) {
    build.onResolve({ filter: /^[a-z0-9_:/]+$/ }, (args) =>
      BUILTIN.has(args.path) && (args.kind === 'import-statement' || args.kind === 'dynamic-import')
        ? { path: args.path.startsWith('node:') ? args.path : `node:${args.path}`, namespace: 'builtin' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => {
      const mod = requireHere(args.path);
      const names = Object.getOwnPropertyNames(mod).filter((name) => /^[A-Za-z_$][\w$]*$/.test(name) && name !== 'default');
      const lines = [`const $m = require(${JSON.stringify(args.path)});`, 'const $read = (name) => $m[name];', 'export default $m;'];
      for (const name of names) lines.push(`export const ${name} = /* @__PURE__ */ $read(${JSON.stringify(name)});`);
      return { contents: `${lines.join('\n')}\n`, loader: 'js' };
    });
  },
};

/**
 * Bundles dist/cli/main.js for Node `nodeMajor` and later: into `outfile` alone, or, with `outdir`,
 * as flagman.js there and the chunks its lazy imports load.
 */
export async function bundle({ outfile = null, outdir = null, nodeMajor }) {
  await esbuild.build({
    entryPoints: { flagman: path.join(root, 'dist/cli/main.js') },
    ...(outdir === null ? { outfile } : { outdir, splitting: true, chunkNames: 'chunk-[hash]' }),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${nodeMajor}`,
    // The CommonJS dependencies (pino, prom-client, yaml) require Node's built-in modules; an ES
    // module has no `require` of its own, so each file makes one from its own URL.
    banner: {
      js: "import { createRequire as flagmanCreateRequire } from 'node:module';\nconst require = flagmanCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
    plugins: [inlineVersion, builtinsByRequire],
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // A fresh directory: chunks are named by their content, and an old one must not linger.
  fs.rmSync(BUNDLE_DIR, { recursive: true, force: true });
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  await bundle({ outdir: BUNDLE_DIR, nodeMajor: Number(/(\d+)/.exec(pkg.engines.node)?.[1]) });
}
