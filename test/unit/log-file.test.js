// `log.file` (docs/logs.md): the path as the config names it, the errors that name its position, and
// how the file is opened (appended to, created 0644 whatever the umask, an existing one's mode kept).
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import test from 'ava';
import { parseConfigText } from '../../dist/config/load.js';
import { FlagmanError, FlagmanErrors } from '../../dist/errors.js';
import { openLogFile, LOG_FILE_MODE } from '../../dist/log-file.js';
import { prepareAccessLog } from '../../dist/lifecycle/access-log.js';
import { distModule, underUmask } from '../helpers/umask.js';

const CONFIG = '/etc/flagman/flagman.yaml';
const lines = (...l) => `${l.join('\n')}\n`;
const BASE = ['frontends:', '  web:', '    listen: ":0"', '    rules:', '      - use: ok', 'backends:', '  ok:', '    respond: {}'];
const logOf = (...l) => parseConfigText(lines(...BASE, ...l), CONFIG).log;

function errorsOf(t, ...l) {
  const err = t.throws(() => parseConfigText(lines(...BASE, ...l), CONFIG), { instanceOf: FlagmanErrors });
  return err.errors.map((e) => `${e.at.line}:${e.at.col} ${e.code} ${e.reason}`);
}

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-logfile-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("log.file: absolute, or relative to the config file's folder; none is stdout", (t) => {
  t.deepEqual(logOf(), { access: { format: 'json', fields: null }, file: null });
  t.deepEqual(logOf('log: { access: on }').file, null);
  t.deepEqual(logOf('log: { file: /var/log/flagman/access.log }').file, {
    path: '/var/log/flagman/access.log',
    at: { file: CONFIG, line: 9, col: 14 },
  });
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
  t.deepEqual(errorsOf(t, 'log: { file: ./flagman.yaml }'), [
    '9:14 CONFIG_SCHEMA log.file: /etc/flagman/flagman.yaml must not be the config file; name another path',
  ]);
  t.deepEqual(errorsOf(t, 'log: { file: flagman.state.json }'), [
    '9:14 CONFIG_SCHEMA log.file: /etc/flagman/flagman.state.json must not be the flags state file; name another path',
  ]);
  t.deepEqual(errorsOf(t, 'log: { file: a.log, rotate: daily }'), ['9:21 CONFIG_SCHEMA unknown key "rotate" in log (known: access, file)']);
});

test('openLogFile creates the file 0644 whatever the umask, and appends', (t) => {
  const file = path.join(tempDir(t), 'access.log');
  underUmask(
    0o077,
    `import fs from 'node:fs'; import { openLogFile } from ${distModule('log-file.js')};
    const fd = openLogFile(${JSON.stringify(file)}); fs.writeSync(fd, 'one\\n'); fs.closeSync(fd);`,
  );
  t.is(fs.statSync(file).mode & 0o777, LOG_FILE_MODE);
  t.is(LOG_FILE_MODE, 0o644);
  const again = openLogFile(file);
  fs.writeSync(again, 'two\n');
  fs.closeSync(again);
  t.is(fs.readFileSync(file, 'utf8'), 'one\ntwo\n');
});

test("openLogFile keeps the mode of a file that exists (as logrotate's `create` set it)", (t) => {
  const file = path.join(tempDir(t), 'access.log');
  fs.writeFileSync(file, 'old\n', { mode: 0o640 });
  fs.chmodSync(file, 0o640);
  const fd = openLogFile(file);
  fs.writeSync(fd, 'new\n');
  fs.closeSync(fd);
  t.is(fs.statSync(file).mode & 0o777, 0o640);
  t.is(fs.readFileSync(file, 'utf8'), 'old\nnew\n');
});

test("openLogFile throws the system's error: a missing folder, a directory", (t) => {
  const dir = tempDir(t);
  t.is(t.throws(() => openLogFile(path.join(dir, 'gone', 'access.log'))).code, 'ENOENT');
  t.is(t.throws(() => openLogFile(dir)).code, 'EISDIR');
});

test('a log.file that cannot be opened is CONFIG_LOG at its position, naming the path and the code', (t) => {
  const dir = tempDir(t);
  const configFile = path.join(dir, 'flagman.yaml');
  const { log } = parseConfigText(lines(...BASE, 'log:', '  file: missing/access.log'), configFile);
  const err = t.throws(() => prepareAccessLog(null, log, false), { instanceOf: FlagmanError });
  t.is(err.code, 'CONFIG_LOG');
  t.is(err.message, `${configFile}:10:9: log.file: cannot open ${path.join(dir, 'missing/access.log')} (ENOENT)`);
  // The same file again changes nothing: nothing is opened.
  t.notThrows(() => prepareAccessLog(log, log, true).commit());
});

test('a primary only checks the file: it is created, and no descriptor is kept', (t) => {
  const dir = tempDir(t);
  const { log } = parseConfigText(lines(...BASE, 'log: { file: access.log }'), path.join(dir, 'flagman.yaml'));
  const before = fs.readdirSync('/proc/self/fd').length;
  prepareAccessLog(null, log, false).commit();
  t.true(fs.existsSync(path.join(dir, 'access.log')));
  t.is(fs.readdirSync('/proc/self/fd').length, before);
});
