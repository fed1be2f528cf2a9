// What the request path reads of a config keeps one hidden class from reload to reload: V8's
// optimized code checks an object's class before it reads a field, and a class it has not seen
// throws that code away. On Node 20 an object made as `{ ...base }` and then frozen got a class of
// its own at every call from about the tenth on, so each reload made `forward`
// (src/proxy/upstream.ts) start over on its `target.timeouts.server` (bench/RESULTS.md, "The
// request path thrown away at every reload on Node 20"). The check needs V8's `%HaveSameMap`, so it
// runs in a node of its own with --allow-natives-syntax; it is in the subset the oldest line runs
// (ava.config.js), where the class changed.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// Loads the same config 15 times, as 15 reloads do, and compares each load's backend timeouts
// (frozen, as the runtime gets them) with the first load's.
const PROBE = `
const { parseConfigText } = await import(${JSON.stringify(path.join(root, 'dist/config/load.js'))});
const text = [
  'timeouts: { server: 30s }',
  'frontends:',
  '  web: { listen: ["127.0.0.1:0"], rules: [{ use: app }] }',
  'backends:',
  '  app:',
  '    timeouts: { connect: 2s }',
  '    servers: { a: { address: "127.0.0.1:9" } }',
  '  other:',
  '    servers: { b: { address: "127.0.0.1:9" } }',
].join('\\n');
const loads = Array.from({ length: 15 }, () => parseConfigText(text, 'flagman.yaml'));
const t = (c) => [c.timeouts, c.backends.find((b) => b.name === 'app').timeouts, c.backends.find((b) => b.name === 'other').timeouts];
const first = t(loads[0]);
const out = loads.map((c) => t(c).map((o, i) => (%HaveSameMap(o, first[i]) && Object.isFrozen(o) ? 1 : 0)).join('')).join(' ');
console.log(out);
`;

test("a backend's timeouts have the same hidden class, frozen, in every load of a config", (t) => {
  const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', PROBE], { encoding: 'utf8' }).trim();
  t.is(out, Array(15).fill('111').join(' '), `per load, [top-level, app, other] same class as the first load: ${out}`);
});
