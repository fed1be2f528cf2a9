// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: self time per function
// (from the samples and their time deltas), the same grouped by what the code is (node's HTTP
// parser and sockets, streams, flagman's own modules, CEL, logging, GC …), and inclusive time of
// flagman's request-path entry points.
import fs from 'node:fs';

// First match wins: [group, test(url, functionName)].
const GROUPS = [
  ['idle', (_u, f) => f === '(idle)'],
  ['GC', (_u, f) => f === '(garbage collector)'],
  ['V8/native (program)', (_u, f) => f === '(program)'],
  // Socket and file writes happen synchronously inside these bindings when the kernel takes the
  // bytes at once, so their self time is mostly the write syscalls (on loopback, the receiver's
  // TCP processing is charged to the sender too).
  [
    'syscalls: socket/log writes (writev, writeLatin1String, writeString …)',
    (u, f) => u === '' && /^(writev|writeLatin1String|writeUtf8String|writeAsciiString|writeUcs2String|writeBuffer|writeString)$/.test(f),
  ],
  ['flagman: rules + CEL glue (dist/expr, proxy/rules)', (u) => /\/dist\/expr\/|\/dist\/proxy\/rules\.js/.test(u)],
  [
    'flagman: header rewriting (proxy/headers, upstream/hop-by-hop)',
    (u) => /\/dist\/proxy\/headers\.js|\/dist\/upstream\/hop-by-hop\.js/.test(u),
  ],
  ['flagman: balancer (runtime/balance)', (u) => /\/dist\/runtime\/balance\//.test(u)],
  ['flagman: access log + counters (proxy/exchange, log)', (u) => /\/dist\/proxy\/exchange\.js|\/dist\/log(-sink)?\.js/.test(u)],
  ['flagman: upstream (proxy/upstream)', (u) => /\/dist\/proxy\/upstream\.js/.test(u)],
  ['flagman: HTTP/1.1 client (upstream/: pool, connection, response parser)', (u) => /\/dist\/upstream\//.test(u)],
  ['flagman: frontend + other proxy code', (u) => /\/dist\/proxy\//.test(u)],
  ['flagman: other (runtime, flags, admin, health)', (u) => /\/dist\//.test(u)],
  ['CEL library (@marcbachmann/cel-js)', (u) => /node_modules\/@marcbachmann\/cel-js/.test(u)],
  [
    'logging library (pino, sonic-boom, …)',
    (u) =>
      /node_modules\/(pino|sonic-boom|fast-redact|quick-format-unescaped|on-exit-leak-free|thread-stream|safe-stable-stringify|atomic-sleep)/.test(
        u,
      ),
  ],
  ['other node_modules', (u) => /node_modules\//.test(u)],
  ['node http server (parser callbacks, IncomingMessage, ServerResponse)', (u) => /node:_http_(server|incoming|common)/.test(u)],
  ['node http client + agent (upstream requests)', (u) => /node:_http_(client|agent)/.test(u)],
  ['node http outgoing (writeHead, header serialisation, write/end)', (u) => /node:_http_outgoing/.test(u)],
  ['node net + stream_base (socket reads/writes)', (u) => /node:net|node:internal\/stream_base_commons|node:internal\/net/.test(u)],
  ['node streams', (u) => /node:internal\/streams\/|node:stream/.test(u)],
  [
    'node events, timers, nextTick',
    (u) => /node:events|node:internal\/timers|node:timers|node:internal\/process\/task_queues|node:internal\/async_hooks/.test(u),
  ],
  ['node other (buffer, url, util …)', (u) => /^node:/.test(u)],
  ['native functions (no script: C++ bindings, builtins)', (u) => u === ''],
  ['other', () => true],
];

/** The group a call frame belongs to. */
export function groupOf(url, functionName) {
  for (const [name, test] of GROUPS) if (test(url, functionName)) return name;
  return 'other';
}

const shortUrl = (u) => u.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/');

/** Summarises the profile at `file`: {totalMs, busyMs, groups[], top[], entries[]} (ms, % of busy). */
// Inclusive time of flagman's request-path pieces: a sample counts for a row when any frame of its
// stack matches (once per sample). Callbacks defined in a file count for that file.
const ENTRIES = [
  ['request handler and all it calls (proxy/frontend.js)', (u) => /\/dist\/proxy\/frontend\.js/.test(u)],
  ['upstream exchange callbacks (proxy/upstream.js)', (u) => /\/dist\/proxy\/upstream\.js/.test(u)],
  ['HTTP/1.1 client: socket reads, response parse (upstream/)', (u) => /\/dist\/upstream\//.test(u)],
  ['rule walk + CEL (proxy/rules.js)', (u) => /\/dist\/proxy\/rules\.js/.test(u)],
  ['request view for CEL (expr/request.js)', (u) => /\/dist\/expr\/request\.js/.test(u)],
  ['header rewriting (proxy/headers.js, upstream/hop-by-hop.js)', (u) => /\/dist\/(proxy\/headers|upstream\/hop-by-hop)\.js/.test(u)],
  ['balancer pick (runtime/balance/)', (u) => /\/dist\/runtime\/balance\//.test(u)],
  ['Exchange: counters + access log line (proxy/exchange.js)', (u) => /\/dist\/proxy\/exchange\.js/.test(u)],
  ['pino (inclusive)', (u) => /node_modules\/pino\//.test(u)],
];

export function summarizeProfile(file, { top = 25 } = {}) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i];
    // timeDeltas[i] is the time before sample i; attribute the following delta to it, as DevTools does.
    const dt = p.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  }
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const fnKey = (cf) => `${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
  const fnSelf = new Map();
  const groupSelf = new Map();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id).callFrame;
    const g = groupOf(cf.url, cf.functionName);
    if (g === 'idle') {
      idleUs += us;
      continue;
    }
    groupSelf.set(g, (groupSelf.get(g) ?? 0) + us);
    const k = fnKey(cf);
    const row = fnSelf.get(k) ?? { fn: k, group: g, us: 0 };
    row.us += us;
    fnSelf.set(k, row);
  }
  const busyUs = totalUs - idleUs;

  const entryUs = ENTRIES.map(() => 0);
  for (const [id, us] of selfUs) {
    const hit = ENTRIES.map(() => false);
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur).callFrame;
      ENTRIES.forEach(([, test], i) => {
        if (!hit[i] && test(cf.url, cf.functionName)) hit[i] = true;
      });
    }
    hit.forEach((h, i) => {
      if (h) entryUs[i] += us;
    });
  }
  const ms = (us) => Math.round(us / 100) / 10;
  const pct = (us) => Math.round((1000 * us) / (busyUs || 1)) / 10;
  return {
    totalMs: ms(totalUs),
    busyMs: ms(busyUs),
    idleMs: ms(idleUs),
    groups: [...groupSelf].sort((a, b) => b[1] - a[1]).map(([group, us]) => ({ group, ms: ms(us), pct: pct(us) })),
    top: [...fnSelf.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((r) => ({ fn: r.fn, group: r.group, ms: ms(r.us), pct: pct(r.us) })),
    entries: ENTRIES.map(([fn], i) => ({ fn, ms: ms(entryUs[i]), pct: pct(entryUs[i]) })),
  };
}
