import test from 'ava';
import { ReadBuffer, sparesWaiting } from '../../dist/upstream/read-buffer.js';

// The spare list is shared by the whole process: each test takes what it left there back first.
function drain() {
  const taken = [];
  while (sparesWaiting() > 0) taken.push(ReadBuffer.take());
  return taken;
}

test('a buffer with every lent chunk given back becomes a spare once its connection reads elsewhere; the next take() gets it', (t) => {
  drain();
  const b = ReadBuffer.take();
  const giveA = b.lend();
  const giveB = b.lend();
  t.true(b.held);
  b.leave();
  t.is(sparesWaiting(), 0, 'still lent: not a spare');
  giveA();
  t.is(sparesWaiting(), 0, 'one chunk still out');
  giveB();
  t.false(b.held);
  t.is(sparesWaiting(), 1);
  t.is(ReadBuffer.take(), b, 'taken again instead of a new allocation');
  t.is(sparesWaiting(), 0);
});

test('a buffer given back while its connection still reads into it stays that connection’s; never a spare twice', (t) => {
  drain();
  const b = ReadBuffer.take();
  b.lend()();
  t.false(b.held, 'the connection may read into it again');
  t.is(sparesWaiting(), 0, 'not a spare while its connection has it');
  b.leave();
  t.is(sparesWaiting(), 1, 'once its connection reads elsewhere, others may take it');
  const again = ReadBuffer.take();
  t.is(again, b);
  again.lend()();
  t.is(sparesWaiting(), 0, 'given back while taken: not listed again');
});

test('a retained buffer is never a spare, whatever is given back', (t) => {
  drain();
  const b = ReadBuffer.take();
  const give = b.lend();
  b.retain();
  b.leave();
  give();
  t.true(b.held);
  t.is(sparesWaiting(), 0);
  t.not(ReadBuffer.take(), b);
});

test('spares are bounded: past the bound a given-back buffer is left to the collector', (t) => {
  drain();
  const many = Array.from({ length: 100 }, () => ReadBuffer.take());
  for (const b of many) b.leave();
  t.is(sparesWaiting(), 64);
  drain();
});
