// `npm run fuzz`: the differential fuzzer of the upstream response parser against llhttp
// (test/fuzz/response.js), for FUZZ_SECONDS (default 20) from FUZZ_SEED (default: random, printed).
// A counter-example is printed shrunk, its bytes as a JS string literal, ready for a regression test.
import fc from 'fast-check';
import { check, cases } from '../test/fuzz/response.js';

const seconds = Number(process.env.FUZZ_SECONDS ?? 20);
const seed = process.env.FUZZ_SEED === undefined ? (Date.now() ^ (Math.random() * 0x100000000)) | 0 : Number(process.env.FUZZ_SEED);
console.log(`fuzzing the upstream response parser against llhttp: seed ${seed}, ${seconds} s (FUZZ_SEED=${seed} repeats it)`);

/** `text` as a JS string literal, every byte outside printable ASCII escaped (JSON.stringify leaves DEL and latin-1 as they are). */
function literal(text) {
  const escapes = { '\r': '\\r', '\n': '\\n', '\t': '\\t', "'": "\\'", '\\': '\\\\' };
  return `'${[...text].map((ch) => escapes[ch] ?? (ch < ' ' || ch > '~' ? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}` : ch)).join('')}'`;
}

let runs = 0;
const started = process.hrtime.bigint();
const property = fc.property(cases, (c) => {
  runs++;
  check(c);
});
const result = fc.check(property, { seed, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false });
const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
console.log(`${runs} cases in ${elapsed.toFixed(1)} s: ${Math.round(runs / elapsed)} cases/s (with shrinking, if any)`);
if (result.failed) {
  const [c] = result.counterexample;
  console.log(`\nCOUNTER-EXAMPLE (seed ${seed}, path ${JSON.stringify(result.counterexamplePath)}, after ${result.numShrinks} shrinks):`);
  console.log(`  text: ${literal(c.text)}`);
  console.log(`  head: ${c.head}, cuts: ${JSON.stringify(c.cuts)}`);
  console.log(`  ${result.errorInstance?.message ?? result.error}`);
  process.exitCode = 1;
} else {
  console.log('no disagreement found');
}
