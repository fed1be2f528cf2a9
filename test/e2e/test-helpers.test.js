// The test helpers themselves: the machine's slowness factor.
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import test from 'ava';
import { execa } from 'execa';
import { root } from '../helpers/e2e.js';
import { MAX_SLOWNESS, SLOWNESS, scaled } from '../helpers/slow.js';

const slowJs = path.join(root, 'test/helpers/slow.js');

/** SLOWNESS and a fresh measure, in a new process with `env` (FLAGMAN_TEST_SLOW unset unless given). */
async function slownessIn(env = {}) {
  const { FLAGMAN_TEST_SLOW, ...rest } = process.env;
  const r = await execa(process.execPath, ['--input-type=module', '-e', `import { SLOWNESS, measureSlowness } from ${JSON.stringify(slowJs)}; console.log(JSON.stringify({ SLOWNESS, measured: measureSlowness() }))`], { env: { ...rest, ...env }, extendEnv: false });
  return JSON.parse(r.stdout);
}

test('the slowness factor: ava measures it once and hands it to every worker; helpers scale by it', (t) => {
  t.is(Number(process.env.FLAGMAN_TEST_SLOW), SLOWNESS, 'ava.config.js passes it in FLAGMAN_TEST_SLOW');
  t.true(SLOWNESS >= 1);
  t.is(scaled(5000), Math.round(5000 * SLOWNESS));
});

test('FLAGMAN_TEST_SLOW sets the factor; unset or invalid, it is measured, within ×1–×4', async (t) => {
  t.is((await slownessIn({ FLAGMAN_TEST_SLOW: '2.5' })).SLOWNESS, 2.5);
  for (const env of [{}, { FLAGMAN_TEST_SLOW: 'fast' }, { FLAGMAN_TEST_SLOW: '0.5' }]) {
    const { SLOWNESS: factor } = await slownessIn(env);
    t.true(factor >= 1 && factor <= MAX_SLOWNESS, `${JSON.stringify(env)}: ${factor}`);
  }
});

test('the factor grows when other processes take the CPUs', async (t) => {
  // Two busy loops per CPU: a process measuring beside them gets under half a CPU.
  const busy = Array.from({ length: 2 * os.availableParallelism() }, () => execa(process.execPath, ['-e', 'console.log("spinning"); for (;;);'], { reject: false, buffer: false }));
  t.teardown(() => busy.forEach((p) => p.kill('SIGKILL')));
  await Promise.all(busy.map((p) => new Promise((resolve) => readline.createInterface({ input: p.stdout }).once('line', resolve))));
  const { SLOWNESS: factor, measured } = await slownessIn();
  busy.forEach((p) => p.kill('SIGKILL'));
  t.log(measured);
  t.true(factor >= 1.5 && factor <= MAX_SLOWNESS, `factor ${factor}: ${JSON.stringify(measured)}`);
});
