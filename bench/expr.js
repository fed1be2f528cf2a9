#!/usr/bin/env node
// Expression costs: compile (at load), specialize (per flag change) and one evaluation of the
// residual (per request), for a few typical rules. Run after `npx tsc -p .`:
//   node bench/expr.js
// Prints a table, then one JSON line with the same figures (ns) for scripts to compare.
import { compileCondition, compileWeight } from '../dist/expr/compile.js';
import { specialize } from '../dist/expr/specialize.js';
import { withFlags } from '../dist/expr/environment.js';
import { withRequest } from '../dist/expr/request.js';
import { makeSnapshot } from '../dist/flags/snapshot.js';

const at = { file: 'bench', line: 1, col: 1 };
const snapshot = (values) =>
  makeSnapshot(1, new Map(Object.entries(values).map(([k, value]) => [k, { value, note: null, changedAt: null, problem: null }])));

// Varied inputs, so the residual is not measured on one cached request.
const inputs = [
  {
    method: 'GET',
    url: '/api/users?id=1',
    host: 'www.example.com',
    scheme: 'http',
    clientIp: '203.0.113.9',
    headers: { 'x-env': 'canary' },
  },
  {
    method: 'POST',
    url: '/login',
    host: 'www.example.com:8080',
    scheme: 'https',
    clientIp: '::ffff:10.1.2.3',
    headers: { 'x-env': 'prod', cookie: 'sid=1' },
  },
  { method: 'GET', url: '/', host: 'example.com', scheme: 'http', clientIp: '10.9.8.7', headers: {} },
  { method: 'HEAD', url: '/api/', host: 'example.com', scheme: 'http', clientIp: '2001:db8::1', headers: { 'x-env': 'canary' } },
];

const rules = [
  {
    name: 'flag-only, folded',
    kind: 'condition',
    source: 'flag("MAINT") > 0 && !cidr("10.0.0.0/8").containsIP(client.ip)',
    flags: { MAINT: 0 },
  },
  { name: 'startsWith', kind: 'condition', source: 'request.path.startsWith("/api/")', flags: {} },
  { name: 'header compare', kind: 'condition', source: 'header("X-Env") == "canary"', flags: {} },
  {
    name: 'cidr (MAINT=1)',
    kind: 'condition',
    source: 'flag("MAINT") > 0 && !cidr("10.0.0.0/8").containsIP(client.ip)',
    flags: { MAINT: 1 },
  },
  { name: 'cidr v6', kind: 'condition', source: 'cidr("2001:db8::/32").containsIP(client.ip)', flags: {} },
  { name: 'startsWith || method', kind: 'condition', source: 'request.path.startsWith("/api/") || request.method == "POST"', flags: {} },
  { name: 'weight', kind: 'weight', source: 'flag("app2.weight", 1)', flags: { 'app2.weight': 3 } },
];

/** Median ns per call of `fn` over `rounds` rounds of `n` calls. */
function measure(fn, n, rounds = 7) {
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

let sink = 0; // keeps results alive so V8 cannot drop the work
const rows = [];
for (const rule of rules) {
  const src = { source: rule.source, at };
  const compile = rule.kind === 'weight' ? compileWeight : compileCondition;
  const snap = snapshot(rule.flags);
  const compiled = compile(src);
  const compileNs = measure(() => (sink += compile(src).flags.length), 2_000);
  const specializeNs = measure(() => (sink += specialize(compiled, snap).kind.length), 2_000);
  const residual = specialize(compiled, snap);
  let evalNs = 0;
  let wholeNs = null;
  if (residual.kind === 'dynamic') {
    const test = residual.test;
    evalNs = measure((i) => (sink += test(inputs[i & 3]) ? 1 : 0), 500_000);
    // For comparison: the whole expression, flag() calls included, as if never specialized.
    const whole = compiled.evaluate;
    wholeNs = measure((i) => (sink += withRequest(inputs[i & 3], (ctx) => withFlags(snap, () => whole(ctx))) ? 1 : 0), 200_000);
  }
  rows.push({
    rule: rule.name,
    residual: residual.kind === 'const' ? `const ${residual.value}` : residual.source,
    compileNs: Math.round(compileNs),
    specializeNs: Math.round(specializeNs),
    evalNs: Math.round(evalNs),
    unspecializedNs: wholeNs === null ? null : Math.round(wholeNs),
  });
}

const pad = (s, n) => String(s).padEnd(n);
const padl = (s, n) => String(s).padStart(n);
console.log(`node ${process.version}; per-request cost of a const residual is 0 (the rule is dropped or always taken)\n`);
console.log(`${pad('rule', 22)}${padl('compile', 10)}${padl('specialize', 12)}${padl('eval', 8)}${padl('unspec.', 9)}  residual`);
for (const r of rows) {
  const us = (ns) => `${(ns / 1000).toFixed(1)}µs`;
  const ns = (v) => (v === null ? '-' : `${v}ns`);
  console.log(
    `${pad(r.rule, 22)}${padl(us(r.compileNs), 10)}${padl(us(r.specializeNs), 12)}${padl(ns(r.evalNs), 8)}${padl(ns(r.unspecializedNs), 9)}  ${r.residual}`,
  );
}
console.log(JSON.stringify({ bench: 'expr', node: process.version, rows, sink: sink > 0 }));
