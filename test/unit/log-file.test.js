// `log.file` (docs/logs.md): the path as the config names it, and the errors that name its position.
import test from 'ava';
import { parseConfigText } from '../../dist/config/load.js';
import { FlagmanErrors } from '../../dist/errors.js';

const CONFIG = '/etc/flagman/flagman.yaml';
const lines = (...l) => `${l.join('\n')}\n`;
const BASE = ['frontends:', '  web:', '    listen: ":0"', '    rules:', '      - use: ok', 'backends:', '  ok:', '    respond: {}'];
const logOf = (...l) => parseConfigText(lines(...BASE, ...l), CONFIG).log;

function errorsOf(t, ...l) {
  const err = t.throws(() => parseConfigText(lines(...BASE, ...l), CONFIG), { instanceOf: FlagmanErrors });
  return err.errors.map((e) => `${e.at.line}:${e.at.col} ${e.code} ${e.reason}`);
}

test('log.file: absolute, or relative to the config file\'s folder; none is stdout', (t) => {
  t.deepEqual(logOf(), { access: true, file: null });
  t.deepEqual(logOf('log: { access: on }').file, null);
  t.deepEqual(logOf('log: { file: /var/log/flagman/access.log }').file, { path: '/var/log/flagman/access.log', at: { file: CONFIG, line: 9, col: 14 } });
  t.is(logOf('log: { file: access.log }').file.path, '/etc/flagman/access.log');
  t.is(logOf('log: { file: ../../var/log/fm.log }').file.path, '/var/log/fm.log');
  t.is(logOf('log:', '  access: off', '  file: logs/a.log').file.path, '/etc/flagman/logs/a.log');
});

test('log.file: errors name file:line:col', (t) => {
  t.deepEqual(errorsOf(t, 'log: { file: 5 }'), ['9:14 CONFIG_SCHEMA log.file: expected a string, got the number 5']);
  t.deepEqual(errorsOf(t, 'log: { file: "" }'), ['9:14 CONFIG_SCHEMA log.file: must not be empty']);
  t.deepEqual(errorsOf(t, 'log: { file: flags/access.log }'), [
    '9:14 CONFIG_SCHEMA log.file: /etc/flagman/flags/access.log must not be inside the flags directory; name another path',
  ]);
  t.deepEqual(errorsOf(t, 'log: { file: ./flagman.yaml }'), ['9:14 CONFIG_SCHEMA log.file: /etc/flagman/flagman.yaml must not be the config file; name another path']);
  t.deepEqual(errorsOf(t, 'log: { file: flagman.state.json }'), [
    '9:14 CONFIG_SCHEMA log.file: /etc/flagman/flagman.state.json must not be the flags state file; name another path',
  ]);
  t.deepEqual(errorsOf(t, 'log: { file: a.log, rotate: daily }'), ['9:21 CONFIG_SCHEMA unknown key "rotate" in log (known: access, file)']);
});
