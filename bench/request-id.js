#!/usr/bin/env node
// What a request ID costs to make (docs/proxying.md, "Request IDs"): the ways to make an ID unique
// across processes and restarts, per call, next to the generator flagman uses. Run after
// `npm run build`:
//   node bench/request-id.js
// Prints a table, then one JSON line with the same figures (ns) for scripts to compare.
import crypto from 'node:crypto';
import { newRequestId } from '../dist/proxy/request-id.js';

/** Median ns per call of `fn` over `rounds` rounds of `n` calls. */
function measure(fn, n, rounds = 9) {
  for (let i = 0; i < n; i++) fn(i); // warm up (and let V8 optimise)
  const results = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    results.push(Number(process.hrtime.bigint() - start) / n);
  }
  results.sort((a, b) => a - b);
  return results[Math.floor(rounds / 2)];
}

// A random prefix per process, then a counter: unique within the process by construction.
const prefix = crypto.randomBytes(9).toString('base64url');
let counter = 0;
// 16 random bytes at a time out of a pool refilled by one call per 256 IDs.
const pool = Buffer.alloc(4096);
let offset = pool.length;
function pooledHex() {
  if (offset === pool.length) {
    crypto.randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + 16);
  offset += 16;
  return id;
}

const candidates = [
  { name: 'crypto.randomUUID()', example: crypto.randomUUID(), make: () => crypto.randomUUID(), n: 500_000 },
  {
    name: 'randomUUID, no entropy cache',
    example: crypto.randomUUID({ disableEntropyCache: true }),
    make: () => crypto.randomUUID({ disableEntropyCache: true }),
    n: 50_000,
  },
  {
    name: 'randomBytes(16) as hex',
    example: crypto.randomBytes(16).toString('hex'),
    make: () => crypto.randomBytes(16).toString('hex'),
    n: 50_000,
  },
  { name: 'pooled random bytes as hex', example: pooledHex(), make: pooledHex, n: 500_000 },
  {
    name: 'prefix + counter (base 36)',
    example: `${prefix}${(counter + 1).toString(36)}`,
    make: () => `${prefix}${(++counter).toString(36)}`,
    n: 2_000_000,
  },
  { name: 'flagman: newRequestId()', example: newRequestId(), make: newRequestId, n: 500_000 },
];

let sink = 0; // keeps results alive, and reads each ID's last character: a concatenated string is flattened, as writing it would
const rows = candidates.map((c) => {
  const ns = measure(() => {
    const id = c.make();
    sink += id.charCodeAt(id.length - 1);
  }, c.n);
  return { name: c.name, ns: Math.round(ns), example: c.example };
});

const pad = (s, n) => String(s).padEnd(n);
const padl = (s, n) => String(s).padStart(n);
console.log(`node ${process.version}; ns per ID (median of 9 rounds)\n`);
console.log(`${pad('generator', 32)}${padl('ns', 7)}  example`);
for (const r of rows) console.log(`${pad(r.name, 32)}${padl(r.ns, 7)}  ${r.example}`);
console.log(JSON.stringify({ bench: 'request-id', node: process.version, rows, sink: sink > 0 }));
