// The config's value languages as tables (docs/design/conventions.md): durations and addresses.
import test from 'ava';
import fc from 'fast-check';
import { HEALTH_KEYS } from '../../dist/config/health.js';
import { DEFAULTS } from '../../dist/config/schema.js';
import { FLAGS_KEYS } from '../../dist/config/sections.js';
import {
  ALL_INTERFACES,
  MAX_DURATION_MS,
  formatDuration,
  listenClash,
  parseDuration,
  parseListenAddress,
  parseServerAddress,
} from '../../dist/config/units.js';

const at = { file: 'f.yaml', line: 1, col: 1 };

const durations = [
  ['0ms', 0],
  ['250ms', 250],
  ['5s', 5000],
  ['60s', 60000],
  ['2m', 120000],
  ['1h', 3600000],
  ['007s', 7000],
  [`${MAX_DURATION_MS}ms`, MAX_DURATION_MS],
];
for (const [text, ms] of durations) {
  test(`parseDuration ${text} = ${ms}`, (t) => {
    t.is(parseDuration(text), ms);
  });
}

const badDurations = [
  ['5', /needs a unit: 5ms, 5s, 5m or 5h/],
  ['1.5s', /whole numbers.*1500ms/],
  ['5 s', /not a duration/],
  ['5S', /not a duration/],
  ['-1s', /not a duration/],
  ['5d', /not a duration/],
  ['', /not a duration/],
  ['597h', /too long/],
];
for (const [text, message] of badDurations) {
  test(`parseDuration rejects ${JSON.stringify(text)}`, (t) => {
    const err = t.throws(() => parseDuration(text, at));
    t.is(err.code, 'CONFIG_SCHEMA');
    t.regex(err.message, message);
    t.true(err.message.startsWith('f.yaml:1:1: '));
  });
}

const listens = [
  [':8080', { kind: 'tcp', host: ALL_INTERFACES, port: 8080 }],
  [':0', { kind: 'tcp', host: '', port: 0 }],
  ['127.0.0.1:8404', { kind: 'tcp', host: '127.0.0.1', port: 8404 }],
  ['localhost:80', { kind: 'tcp', host: 'localhost', port: 80 }],
  ['[::1]:8080', { kind: 'tcp', host: '::1', port: 8080 }],
  ['[::]:65535', { kind: 'tcp', host: '::', port: 65535 }],
  ['systemd:web', { kind: 'systemd', name: 'web' }],
];
for (const [text, expected] of listens) {
  test(`parseListenAddress ${text}`, (t) => {
    t.deepEqual(parseListenAddress(text, at), { ...expected, text, at });
  });
}

const badListens = [
  ['8080', /needs a port/],
  [':65536', /port must be a number from 0 to 65535/],
  [':http', /port must be a number/],
  ['::1:8080', /IPv6 address goes in brackets/],
  ['[::1]8080', /needs a port after the address/],
  ['[::1:8080', /closing "\]"/],
  ['[nope]:80', /not an IPv6 address/],
  ['10.0.0.300:80', /not a host name or IPv4 address/],
  ['bad_host:80', /not a host name/],
  ['systemd:', /systemd socket name/],
  ['systemd:a:b', /systemd socket name/],
];
for (const [text, message] of badListens) {
  test(`parseListenAddress rejects ${text}`, (t) => {
    const err = t.throws(() => parseListenAddress(text, at));
    t.regex(err.reason, message);
    t.deepEqual(err.at, at);
  });
}

test('parseServerAddress needs a host and a port from 1', (t) => {
  t.deepEqual(parseServerAddress('127.0.0.1:9001'), { host: '127.0.0.1', port: 9001 });
  t.deepEqual(parseServerAddress('[fe80::1]:9001'), { host: 'fe80::1', port: 9001 });
  t.deepEqual(parseServerAddress('app.internal:80'), { host: 'app.internal', port: 80 });
  t.regex(t.throws(() => parseServerAddress(':9001')).reason, /needs a host/);
  t.regex(t.throws(() => parseServerAddress('a:0')).reason, /from 1 to 65535/);
});

test('listenClash: same socket, wildcard against any host, never port 0', (t) => {
  const l = (text) => parseListenAddress(text, at);
  t.true(listenClash(l(':80'), l('127.0.0.1:80')));
  t.true(listenClash(l('[::1]:80'), l('[::1]:80')));
  t.true(listenClash(l('systemd:web'), l('systemd:web')));
  t.false(listenClash(l('127.0.0.1:80'), l('127.0.0.2:80')));
  t.false(listenClash(l(':0'), l(':0')));
  t.false(listenClash(l(':80'), l('systemd:web')));
});

test('property: formatDuration writes what parseDuration reads back, in the largest unit that divides it', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.nat({ max: MAX_DURATION_MS }),
        fc.nat({ max: 596 }).map((h) => h * 3_600_000),
      ),
      (ms) => {
        const text = formatDuration(ms);
        const next = { ms: 's', s: 'm', m: 'h', h: null }[/[a-z]+$/.exec(text)[0]];
        const unitMs = { s: 1000, m: 60_000, h: 3_600_000 };
        return parseDuration(text) === ms && (ms === 0 || next === null || ms % unitMs[next] !== 0);
      },
    ),
  );
  t.pass();
});

test('the key descriptions a config error shows give the defaults DEFAULTS holds', (t) => {
  t.true(HEALTH_KEYS.interval.endsWith(`(default ${formatDuration(DEFAULTS.health.interval)})`));
  t.is(formatDuration(DEFAULTS.health.interval), '2s');
  t.true(FLAGS_KEYS.rescan.endsWith('(default 1s)'));
  t.true(HEALTH_KEYS.fall.endsWith(`(default ${DEFAULTS.health.fall})`));
});
