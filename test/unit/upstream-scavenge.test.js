import test from 'ava';
import { createScavenger, SCAVENGE_EVERY } from '../../dist/upstream/scavenge.js';

test('a young-generation collection each time another SCAVENGE_EVERY body bytes have been counted', (t) => {
  const calls = [];
  const moved = createScavenger((o) => calls.push(o));
  const chunk = 65536;
  for (let n = 0; n < (3 * SCAVENGE_EVERY) / chunk - 1; n++) moved(chunk);
  t.is(calls.length, 2, 'not before the third SCAVENGE_EVERY is complete');
  moved(chunk);
  t.deepEqual(calls, [{ type: 'minor' }, { type: 'minor' }, { type: 'minor' }]);
  moved(1);
  t.is(calls.length, 3, 'the count starts again after a collection');
});

test('without gc (Node not started by the flagman command) counting does nothing', (t) => {
  const moved = createScavenger(undefined);
  t.notThrows(() => {
    for (let n = 0; n < 100; n++) moved(SCAVENGE_EVERY);
  });
});
