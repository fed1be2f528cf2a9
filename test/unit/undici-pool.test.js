// flagman loads undici's Pool module by path instead of the package entry (runtime/upstream-pool.ts),
// which would load fetch, WebSocket, cache and mock code too. This fails when an undici upgrade
// moves the module or makes it something other than the entry's Pool.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const poolModule = fileURLToPath(new URL('../../dist/runtime/upstream-pool.js', import.meta.url));

test("the upstream pool is undici's Pool, loaded without the package entry", (t) => {
  // A fresh process: this one may have loaded undici's entry for other tests' sake.
  const out = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { createRequire } from 'node:module';
       const { UpstreamPool } = await import(${JSON.stringify(poolModule)});
       const require = createRequire(${JSON.stringify(poolModule)});
       const loaded = Object.keys(require.cache).filter((k) => k.includes('/node_modules/undici/'));
       const entryLoaded = loaded.some((k) => k.endsWith('/node_modules/undici/index.js'));
       const { Pool } = await import('undici');
       const pool = new UpstreamPool('http://127.0.0.1:9', { connect: 1000, idle: 1000 });
       console.log(JSON.stringify({ entryLoaded, modules: loaded.length, isPool: pool instanceof Pool }));
       await pool.close();`,
    ],
    { encoding: 'utf8' },
  );
  const r = JSON.parse(out);
  t.false(r.entryLoaded, 'undici/index.js was loaded');
  t.true(r.modules > 0);
  t.true(r.isPool, "UpstreamPool is not an instance of undici's exported Pool");
});
