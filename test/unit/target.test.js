// proxy/target: absolute-form request targets against Host.
import test from 'ava';
import { originForm } from '../../dist/proxy/target.js';

const cases = [
  ['/x?y', 'a', '/x?y'],
  ['*', 'a', '*'],
  ['http://a/x?y=1', 'a', '/x?y=1'],
  ['http://A:8080/x', 'a:8080', '/x'],
  ['https://a', 'a', '/'],
  ['http://a?q', 'a', '/?q'],
  ['http://b/x', 'a', null],
  ['http://a:81/x', 'a:80', null],
  ['http://u@a/x', 'u@a', null],
  ['ftp://a/x', 'a', null],
  ['http://a/x', undefined, null],
  ['a/x', 'a', null],
];
for (const [url, host, want] of cases) {
  test(`originForm(${JSON.stringify(url)}, ${JSON.stringify(host)}) → ${JSON.stringify(want)}`, (t) => {
    t.is(originForm(url, host), want);
  });
}
