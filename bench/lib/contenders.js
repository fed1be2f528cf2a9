// The configurations the comparison measures, as a table (name → how to start it). Each start()
// gets {dir (its own temp dir), backendPorts, cpu (the proxy's core), cli (flagman's built CLI)}
// and resolves {pid, port, stop()}: `pid` is the process whose tree is measured (null for direct).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFlagman } from './flagman.js';
import { writeFlagmanConfig, FLAGMAN_CONFIGS } from './flagman-configs.js';
import { haproxyCommand } from './haproxy.js';
import { nginxCommand } from './nginx.js';
import { adopt, firstLine, freePort, spawnPinned, stopChild } from './owned.js';

const here = path.dirname(fileURLToPath(import.meta.url));

// A Node script in bench/lib that prints {port} on stdout once listening.
async function nodeProxy(script, { backendPorts, cpu }, ...args) {
  const child = spawnPinned(cpu, process.execPath, [path.join(here, script), String(backendPorts[0]), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const { port } = await firstLine(child, child.stdout, (l) => (l.startsWith('{') ? JSON.parse(l) : null), { what: script });
  return { pid: child.pid, port, stop: () => stopChild(child) };
}

// A server that needs its port named: pick a free one, start it, wait until it accepts connections.
export async function namedPortServer(what, makeCommand, { dir, backendPorts, cpu }) {
  const port = await freePort();
  const [cmd, args] = makeCommand(dir, { port, upstream: backendPorts[0] });
  const child = spawnPinned(cpu, cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const net = await import('node:net');
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited early:\n${out}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`${what} not listening on ${port} within 15 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { pid: child.pid, port, stop: () => stopChild(child), output: () => out };
}

// flagman with config `kind` (lib/flagman-configs.js; `configOptions` go to its yaml()).
export async function flagman(kind, { dir, backendPorts, cpu, cli, nodeArgs = [], configOptions = {} }) {
  const file = writeFlagmanConfig(dir, kind, backendPorts, configOptions);
  const f = await startFlagman(cli, file, {
    prefix: cpu === null || cpu === undefined ? [] : ['taskset', '-c', String(cpu)],
    nodeArgs,
    onSpawn: adopt,
    cwd: dir,
  });
  const port = f.events.find((e) => e.event === 'listen' && e.frontend === 'web')?.port ?? f.port;
  return { pid: f.pid, port, stop: () => f.stop(10_000), flagman: f };
}

/** name → {describe, servers (backend ports it uses), start(ctx)} */
export const CONTENDERS = {
  direct: {
    describe: 'no proxy: wrk straight to the backend (the ceiling; no proxy CPU to measure)',
    servers: 1,
    start: async ({ backendPorts }) => ({ pid: null, port: backendPorts[0], stop: async () => {} }),
  },
  flagman: {
    describe: `flagman, minimal config: ${FLAGMAN_CONFIGS.minimal.describe}`,
    servers: 1,
    start: (ctx) => flagman('minimal', ctx),
  },
  'flagman-real': {
    describe: `flagman, realistic config: ${FLAGMAN_CONFIGS.realistic.describe}`,
    servers: 3,
    start: (ctx) => flagman('realistic', ctx),
  },
  haproxy: {
    describe: 'HAProxy: -db, nbthread 1, http-reuse always, option forwardfor',
    servers: 1,
    start: (ctx) => namedPortServer('haproxy', haproxyCommand, ctx),
  },
  nginx: {
    describe: 'nginx: daemon off, master_process off, 1 worker, upstream keepalive, request buffering off',
    servers: 1,
    start: (ctx) => namedPortServer('nginx', nginxCommand, ctx),
  },
  'http-proxy': {
    describe: 'node:http + the http-proxy package, keep-alive agent, xfwd',
    servers: 1,
    start: (ctx) => nodeProxy('proxy-http-proxy.js', ctx),
  },
  undici: {
    describe: 'the minimal Node proxy (the yardstick): node:http + one undici Pool, pool.stream() into the response',
    servers: 1,
    start: (ctx) => nodeProxy('proxy-undici.js', ctx, 'stream'),
  },
  // The workers comparison (`--only flagman-1w,flagman-2w`): the realistic config, not pinned, so
  // two workers can use both cores — which wrk and the backend also use on a 2-core machine.
  'flagman-1w': {
    describe: 'flagman, realistic config, workers: 1, not pinned (the baseline of the workers comparison)',
    servers: 3,
    optional: true,
    start: (ctx) => flagman('realistic', { ...ctx, cpu: null }),
  },
  'flagman-2w': {
    describe: 'flagman, realistic config, workers: 2, not pinned: CPU and RSS are the whole process tree',
    servers: 3,
    optional: true,
    start: (ctx) => flagman('realistic-2w', { ...ctx, cpu: null }),
  },
  // The realistic config with V8's default young generation (up to two 16 MB semi-spaces): node
  // running dist/cli/main.js itself, not through the `flagman` command's 2 MB (docs/proxying.md, "Memory").
  'flagman-v8default': {
    describe: "flagman, realistic config, node dist/cli/main.js: V8's default young generation, not the flagman command's",
    servers: 3,
    optional: true,
    start: (ctx) => flagman('realistic', { ...ctx, cli: path.join(here, '../../dist/cli/main.js') }),
  },
  // The launcher's options one set at a time, whatever bin/flagman picks for this Node line: the
  // per-line comparison (bench/RESULTS.md, "Node 20, 22, 24 and 26"). Run the bench with the node
  // to measure first on the PATH: these run dist/cli/main.js with the bench's own node.
  'flagman-v8opts': {
    describe:
      'flagman, realistic config, node --max-semi-space-size=2 --heap-growing-percent=100 dist/cli/main.js: no young collections paced by uploads',
    servers: 3,
    optional: true,
    start: (ctx) =>
      flagman('realistic', {
        ...ctx,
        cli: path.join(here, '../../dist/cli/main.js'),
        nodeArgs: ['--max-semi-space-size=2', '--heap-growing-percent=100'],
      }),
  },
  'flagman-v8opts-gc': {
    describe:
      'flagman, realistic config, node --max-semi-space-size=2 --heap-growing-percent=100 --expose-gc dist/cli/main.js: a young collection every 4 MiB of body',
    servers: 3,
    optional: true,
    start: (ctx) =>
      flagman('realistic', {
        ...ctx,
        cli: path.join(here, '../../dist/cli/main.js'),
        nodeArgs: ['--max-semi-space-size=2', '--heap-growing-percent=100', '--expose-gc'],
      }),
  },
  'flagman-gc': {
    describe:
      "flagman, realistic config, node --expose-gc dist/cli/main.js: V8's default heap sizing, a young collection every 4 MiB of body",
    servers: 3,
    optional: true,
    start: (ctx) => flagman('realistic', { ...ctx, cli: path.join(here, '../../dist/cli/main.js'), nodeArgs: ['--expose-gc'] }),
  },
  // Another build of flagman (--base-cli: its `flagman` command or its dist/cli/main.js), with the
  // realistic config: a change measured against the commit before it, in the same interleaved run.
  'flagman-base': {
    describe: 'flagman, realistic config, run by --base-cli (another build, to compare a change against)',
    servers: 3,
    optional: true,
    start: (ctx) => {
      if (ctx.baseCli === null)
        throw new Error('flagman-base needs --base-cli PATH (the flagman command or dist/cli/main.js of another build)');
      return flagman('realistic', { ...ctx, cli: ctx.baseCli });
    },
  },
  'undici-req': {
    describe: 'the same with pool.request() + stream.pipeline(body, res), as most code calls undici',
    servers: 1,
    start: (ctx) => nodeProxy('proxy-undici.js', ctx, 'request'),
  },
};

/** The cases: one URL each, with the payload that MiB/s counts (response body, or request body for uploads). */
export const CASES = {
  '100B': { describe: 'GET, 100-byte response', path: '/100', method: 'GET', bodyBytes: 0, payload: 100 },
  '64KiB': { describe: 'GET, 64 KiB response', path: '/64k', method: 'GET', bodyBytes: 0, payload: 65536 },
  upload: {
    describe: 'POST of 1 MiB (streamed), 100-byte response',
    path: '/upload',
    method: 'POST',
    bodyBytes: 1 << 20,
    payload: 1 << 20,
  },
};

export function assertKnown(kind, names, table) {
  for (const n of names) if (!table[n]) throw new Error(`unknown ${kind} ${n}; known: ${Object.keys(table).join(', ')}`);
}
