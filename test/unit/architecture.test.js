// The source's architecture (docs/design/layers.md): layers only look down, and no file is part
// of an import cycle. A small scanner reads every `import … from './x.js'`, `export … from` and
// `import('./x.js')` of src/**/*.ts; type-only imports count like the others, because a lower
// layer that names a higher layer's types knows that layer just the same (it breaks when those
// types change) — only the emitted JavaScript forgets them. Known violations not fixed yet are
// listed in ALLOWED, each with its reason; the list only shrinks: an entry that is no longer a
// violation fails the test too, so that it is removed with the fix.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = path.join(root, 'src');

// The layers, lowest first: a file may import from its own layer and those before it. An entry
// ending in `/` is a directory of src/, any other a file at its top. Every file of src/ is in one.
const LAYERS = [
  // Leaves every layer may use: error codes, the version, descriptor budgets, the logger and its sinks,
  // the watch of a few single files (the config, certificates, respond pages).
  {
    name: 'base',
    modules: [
      'errors.ts',
      'version.ts',
      'descriptors.ts',
      'log-sink.ts',
      'log-file.ts',
      'log.ts',
      'file-watch.ts',
      'node-http.ts',
      'on-first-use.ts',
      'helper-threads.ts',
      'stop-signals.ts',
    ],
  },
  // The config, and what is compiled from it alone: certificate pairs, the access line's format.
  { name: 'config', modules: ['config/', 'tls/', 'access-line.ts'] },
  { name: 'flags', modules: ['flags/'] },
  { name: 'expr', modules: ['expr/'] },
  // The compiled runtime, and the dry run of its rules (`flagman explain`, the dashboard).
  { name: 'runtime', modules: ['runtime/', 'explain/'] },
  // The client side towards servers: connections, their pool, the response parser.
  { name: 'upstream', modules: ['upstream/'] },
  { name: 'proxy', modules: ['proxy/'] },
  // Health checks probe servers the way the proxy reaches them (upstream/, PROXY header).
  { name: 'health', modules: ['health/'] },
  // Start, reload, shutdown; the primary and its workers; the mirror of etcd, a process of its own
  // that writes the flags directory.
  { name: 'lifecycle', modules: ['lifecycle/', 'cluster/', 'sync/'] },
  // What operators touch: the admin server, the command line, the demo that drives the CLI.
  { name: 'surface', modules: ['admin/', 'cli/', 'demo/'] },
];

// Known violations, one import each (`from` imports `to`; paths under src/), with why it is still
// there. Remove an entry with its fix: the test fails while a listed import is gone or harmless.
const ALLOWED = [];

/** Every .ts file under src/, as paths relative to it with `/` separators. */
function sources(dir = '') {
  return fs.readdirSync(path.join(SRC, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = dir === '' ? e.name : `${dir}/${e.name}`;
    if (e.isDirectory()) return sources(rel);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

// `import … from './x.js'`, `export … from './x.js'`, `import './x.js'` at the start of a line (the
// clause may span lines), and `import('./x.js')` anywhere. Packages and node: modules are not src/.
const STATIC = /^[ \t]*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s*)?['"](\.{1,2}\/[^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

/** The import graph of src/: file → Map(imported file → 'type' | 'value'). */
function importGraph() {
  const files = sources();
  const known = new Set(files);
  const graph = new Map(files.map((f) => [f, new Map()]));
  for (const file of files) {
    const text = fs.readFileSync(path.join(SRC, file), 'utf8');
    const edges = graph.get(file);
    const add = (spec, kind) => {
      const to = path.posix.join(path.posix.dirname(file), spec).replace(/\.js$/, '.ts');
      if (!known.has(to)) throw new Error(`src/${file} imports ${spec}, which is not a file of src/ (${to})`);
      if (edges.get(to) !== 'value') edges.set(to, kind);
    };
    for (const m of text.matchAll(STATIC)) add(m[2], m[1] ? 'type' : 'value');
    for (const m of text.matchAll(DYNAMIC)) add(m[1], 'value');
  }
  return graph;
}

/** The layer index of a src/ file, or -1 when no layer names it. */
function layerOf(file) {
  let best = -1;
  let bestLength = -1;
  LAYERS.forEach((layer, i) => {
    for (const m of layer.modules) {
      const hit = m.endsWith('/') ? file.startsWith(m) : file === m;
      if (hit && m.length > bestLength) [best, bestLength] = [i, m.length];
    }
  });
  return best;
}

/** Strongly connected components of more than one file (Tarjan), each a Set. */
function cyclicComponents(graph) {
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const out = [];
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v).keys()) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) === index.get(v)) {
      const c = new Set();
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        c.add(w);
      } while (w !== v);
      if (c.size > 1 || graph.get(v).has(v)) out.push(c);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** One cycle through `component`, as a chain `a → b → … → a` with each import's kind. */
function chainOf(graph, component) {
  const start = [...component].sort()[0];
  // Breadth-first from start inside the component, back to start: the shortest such cycle.
  const parent = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of graph.get(v).keys()) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [v];
        for (let p = parent.get(v); p !== null; p = parent.get(p)) path.unshift(p);
        path.push(start);
        return path
          .map((f, i) => (i === 0 ? `src/${f}` : `${graph.get(path[i - 1]).get(f) === 'type' ? '→(type)' : '→'} src/${f}`))
          .join(' ');
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...component].join(', ');
}

const key = (from, to) => `${from} → ${to}`;

/** The violations of `graph`: imports into a higher layer, and cyclic components. */
function violations(graph) {
  const upward = [];
  for (const [from, edges] of graph) {
    for (const [to, kind] of edges) {
      if (layerOf(to) > layerOf(from)) {
        upward.push({
          from,
          to,
          text: `src/${from} (${LAYERS[layerOf(from)].name}) imports${kind === 'type' ? ' types of' : ''} src/${to} (${LAYERS[layerOf(to)].name})`,
        });
      }
    }
  }
  return { upward, cycles: cyclicComponents(graph) };
}

/** The graph without the allowlisted imports. */
function withoutAllowed(graph) {
  const allowed = new Set(ALLOWED.map((a) => key(a.from, a.to)));
  return new Map([...graph].map(([from, edges]) => [from, new Map([...edges].filter(([to]) => !allowed.has(key(from, to))))]));
}

const graph = importGraph();

test('every file of src/ sits in exactly one layer', (t) => {
  const homeless = [...graph.keys()].filter((f) => layerOf(f) < 0);
  t.deepEqual(
    homeless,
    [],
    `add these to LAYERS in test/unit/architecture.test.js (and docs/design/layers.md): ${homeless.map((f) => `src/${f}`).join(', ')}`,
  );
  const names = LAYERS.flatMap((l) => l.modules);
  t.is(new Set(names).size, names.length, 'a module is named by two layers');
});

test('no import reaches into a higher layer (beyond the known ones)', (t) => {
  const { upward, cycles } = violations(withoutAllowed(graph));
  const imports = [...graph.values()].reduce((n, edges) => n + edges.size, 0);
  t.log(`${graph.size} files, ${imports} imports: ${upward.length} upward, ${cycles.length} cycles, ${ALLOWED.length} allowed`);
  t.deepEqual(
    upward.map((u) => u.text),
    [],
    `upward imports:\n  ${upward.map((u) => u.text).join('\n  ')}`,
  );
});

test('no import cycle (beyond the known ones)', (t) => {
  const rest = withoutAllowed(graph);
  const chains = violations(rest).cycles.map((c) => `${chainOf(rest, c)}  (${c.size} files in the cycle: ${[...c].sort().join(', ')})`);
  t.deepEqual(chains, [], `import cycles:\n  ${chains.join('\n  ')}`);
});

test('every known violation still exists (fixed ones leave the list)', (t) => {
  const { upward, cycles } = violations(graph);
  const up = new Set(upward.map((u) => key(u.from, u.to)));
  const stale = [];
  for (const a of ALLOWED) {
    const kind = graph.get(a.from)?.get(a.to);
    if (kind === undefined) stale.push(`src/${a.from} no longer imports src/${a.to}: remove it from ALLOWED`);
    else if (!up.has(key(a.from, a.to)) && !cycles.some((c) => c.has(a.from) && c.has(a.to))) {
      stale.push(`src/${a.from} → src/${a.to} is neither upward nor on a cycle any more: remove it from ALLOWED`);
    }
  }
  t.deepEqual(stale, [], stale.join('\n'));
  t.is(new Set(ALLOWED.map((a) => key(a.from, a.to))).size, ALLOWED.length, 'an import is listed twice');
});

test('the check itself: an upward import and a cycle added to the real graph are both caught', (t) => {
  const copy = () => new Map([...graph].map(([from, edges]) => [from, new Map(edges)]));
  // config/schema.ts (config) importing proxy/handler.ts (proxy): upward.
  const up = copy();
  up.get('config/schema.ts').set('proxy/handler.ts', 'value');
  t.deepEqual(
    violations(withoutAllowed(up)).upward.map((u) => u.text),
    ['src/config/schema.ts (config) imports src/proxy/handler.ts (proxy)'],
  );
  // An import inside one layer turned back on itself: a cycle, though nothing goes up.
  const [from, to] = [...graph].flatMap(([f, edges]) => [...edges.keys()].filter((x) => layerOf(x) === layerOf(f)).map((x) => [f, x]))[0];
  const round = copy();
  round.get(to).set(from, 'type');
  const { upward, cycles } = violations(withoutAllowed(round));
  t.deepEqual(upward, []);
  t.true(
    cycles.some((c) => c.has(from) && c.has(to)),
    `src/${to} → src/${from} added: a cycle`,
  );
});
