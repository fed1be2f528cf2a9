// descriptors.ts: the limit read from /proc/self/limits, the budget it leaves for client connections,
// and which errors are flagman's own shortage of descriptors.
import fs from 'node:fs';
import test from 'ava';
import { budgetFor, descriptorLimit, isDescriptorShortage, openDescriptors, parseOpenFilesLimit } from '../../dist/descriptors.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max processes             63457                63457                processes
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

test('the soft "Max open files" is the limit; unlimited or absent is unknown', (t) => {
  t.is(parseOpenFilesLimit(LIMITS), 1024);
  t.is(parseOpenFilesLimit(LIMITS.replace('1024                 524288', 'unlimited            unlimited')), null);
  t.is(parseOpenFilesLimit('Limit Soft Limit Hard Limit Units\n'), null);
});

test('on Linux the limit and the open descriptors are read from /proc', (t) => {
  if (!fs.existsSync('/proc/self/limits')) return t.pass('not Linux');
  t.is(descriptorLimit(), parseOpenFilesLimit(fs.readFileSync('/proc/self/limits', 'latin1')));
  const open = openDescriptors();
  t.true(Number.isInteger(open) && open >= 3, `open: ${open}`);
});

test('the cap is half of what the base and the reserve leave, at least 1; no limit, no cap', (t) => {
  t.deepEqual(budgetFor(64, 23), { limit: 64, base: 23, reserve: 16, maxConnections: 12 });
  t.deepEqual(budgetFor(1024, 25), { limit: 1024, base: 25, reserve: 32, maxConnections: 483 });
  t.deepEqual(budgetFor(65536, 30), { limit: 65536, base: 30, reserve: 2048, maxConnections: 31729 });
  t.is(budgetFor(32, 30).maxConnections, 1, 'even a limit below the base and the reserve admits one');
  t.deepEqual(budgetFor(null, null), { limit: null, base: null, reserve: null, maxConnections: null });
  t.deepEqual(budgetFor(1024, null), { limit: 1024, base: null, reserve: null, maxConnections: null });
});

test("EMFILE and ENFILE are a shortage of descriptors; a server's errors are not", (t) => {
  t.true(isDescriptorShortage('EMFILE'));
  t.true(isDescriptorShortage('ENFILE'));
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ENOSPC', 'CONNECT_TIMEOUT', undefined])
    t.false(isDescriptorShortage(code), String(code));
});
