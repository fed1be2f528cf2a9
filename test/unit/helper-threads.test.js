// FLAGMAN_HELPER_NICE (src/helper-threads.ts): on unless it says off; anything else is refused by
// `flagman run` (test/e2e/helper-threads.test.js has the threads themselves).
import test from 'ava';
import { helperNiceWanted } from '../../dist/helper-threads.js';

test('FLAGMAN_HELPER_NICE: unset, empty or on lowers the helpers; off leaves them; any other value is null', (t) => {
  t.true(helperNiceWanted(undefined));
  t.true(helperNiceWanted(''));
  t.true(helperNiceWanted('on'));
  t.false(helperNiceWanted('off'));
  for (const v of ['yes', 'no', 'ON', 'Off', '1', '0', ' on', '10']) t.is(helperNiceWanted(v), null, v);
});
