// readFlagFile against every kind of directory entry a flags directory can hold (docs/flags.md): it
// returns at once for each, follows symlinks only inside the directory, reads at most 4 KiB.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { readFlag, readFlagFile } from '../../dist/flags/read.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-read-'));
const dir = path.join(root, 'flags');
const real = `${fs.realpathSync(root) + path.sep}flags`;
test.after.always(() => fs.rmSync(root, { recursive: true, force: true }));

fs.mkdirSync(dir);
fs.writeFileSync(path.join(root, 'outside'), '1\n');
const at = (name) => path.join(dir, name);
fs.writeFileSync(at('PLAIN'), '3 # n\n');
fs.writeFileSync(at('FULL'), ' '.repeat(4096));
fs.writeFileSync(at('OVER'), ' '.repeat(4097));
fs.mkdirSync(at('SUBDIR'));
fs.mkdirSync(at('..2026_01'));
fs.writeFileSync(at('..2026_01/CM'), '5\n');
fs.symlinkSync('..2026_01', at('..data'));
fs.symlinkSync('..data/CM', at('CM'));
fs.symlinkSync('PLAIN', at('LINK'));
fs.symlinkSync('../outside', at('OUT'));
fs.symlinkSync('/dev/zero', at('DEVICE'));
fs.symlinkSync('nowhere', at('DANGLING'));
fs.symlinkSync('LOOP_B', at('LOOP_A'));
fs.symlinkSync('LOOP_A', at('LOOP_B'));
fs.symlinkSync('.', at('SELF'));
fs.symlinkSync('SUBDIR', at('LINKDIR'));
execFileSync('mkfifo', [at('FIFO')]);
fs.symlinkSync('FIFO', at('LINKFIFO'));
fs.symlinkSync(path.join(real, 'PLAIN'), at('ABSOLUTE'));
fs.symlinkSync('../flags/PLAIN', at('BACK_IN'));
fs.symlinkSync('../flags', at('LINKSELF'));
execFileSync('mkfifo', [path.join(root, 'outfifo')]);
fs.symlinkSync('../outfifo', at('OUTFIFO'));
fs.writeFileSync(at('LONG'), `12345 # ${'n'.repeat(200)}\n`);
fs.writeFileSync(at('SHORT'), '7\n');

const cases = [
  ['PLAIN', { kind: 'file', text: '3 # n\n' }],
  ['FULL', { kind: 'file', length: 4096 }],
  ['OVER', { kind: 'problem', problem: 'larger than 4 KiB' }],
  ['NONE', { kind: 'missing' }],
  ['SUBDIR', { kind: 'missing' }],
  ['CM', { kind: 'file', text: '5\n' }],
  ['LINK', { kind: 'file', text: '3 # n\n' }],
  ['OUT', { kind: 'problem', problem: 'symlink points outside the flags directory' }],
  ['DEVICE', { kind: 'problem', problem: 'symlink points outside the flags directory' }],
  ['DANGLING', { kind: 'missing' }],
  ['LOOP_A', { kind: 'problem', problem: 'symlink loop' }],
  ['SELF', { kind: 'missing' }],
  ['LINKDIR', { kind: 'missing' }],
  ['FIFO', { kind: 'problem', problem: 'not a regular file (FIFO)' }],
  ['LINKFIFO', { kind: 'problem', problem: 'not a regular file (FIFO)' }],
  ['ABSOLUTE', { kind: 'file', text: '3 # n\n' }],
  ['BACK_IN', { kind: 'file', text: '3 # n\n' }],
  ['LINKSELF', { kind: 'missing' }],
  ['OUTFIFO', { kind: 'problem', problem: 'symlink points outside the flags directory' }],
];

for (const [name, expected] of cases) {
  test(`readFlagFile ${name}`, (t) => {
    const got = readFlagFile(dir, real, name);
    t.is(got.kind, expected.kind);
    if (expected.problem) t.is(got.problem, expected.problem);
    if (expected.text) t.is(got.content.toString(), expected.text);
    if (expected.length) t.is(got.content.length, expected.length);
    if (got.kind === 'file') {
      t.is(got.uid, process.getuid());
      t.is(typeof got.mtime, 'number');
    }
  });
}

test('a socket is refused without being opened', async (t) => {
  const net = await import('node:net');
  const server = net.createServer();
  await new Promise((resolve) => server.listen(at('SOCK'), resolve));
  t.teardown(() => server.close());
  t.like(readFlagFile(dir, real, 'SOCK'), { kind: 'problem', problem: 'not a regular file (socket)' });
});

// readFlagFile reads into one buffer it keeps: what it returns must be a copy, exact in length.
test('consecutive reads share no bytes: a short file after a long one, and earlier results stay intact', (t) => {
  const long = readFlagFile(dir, real, 'LONG');
  const short = readFlagFile(dir, real, 'SHORT');
  t.is(short.content.toString(), '7\n');
  t.is(long.content.toString(), `12345 # ${'n'.repeat(200)}\n`);
  const full = readFlagFile(dir, real, 'FULL');
  t.is(readFlagFile(dir, real, 'SHORT').content.toString(), '7\n');
  t.is(full.content.length, 4096);
  t.is(long.content.toString().slice(0, 5), '12345');
});

test('a file that grew past its first read is read to its end', (t) => {
  fs.writeFileSync(at('GROWN'), '1');
  t.is(readFlagFile(dir, real, 'GROWN').content.toString(), '1');
  fs.appendFileSync(at('GROWN'), '23\n');
  t.is(readFlagFile(dir, real, 'GROWN').content.toString(), '123\n');
});

// The quick path (a name the pass listed as a regular file) reads the same as the careful one, even
// when the listing is stale: a symlink, FIFO or directory since is still handled safely.
for (const [name, expected] of cases) {
  test(`readFlag ${name}, listed as a regular file`, (t) => {
    const got = readFlag(dir, real, name, true).read;
    t.is(got.kind, expected.kind);
    if (expected.problem) t.is(got.problem, expected.problem);
    if (expected.text) t.is(got.content.toString(), expected.text);
    if (expected.length) t.is(got.content.length, expected.length);
  });
}

test('readFlag tells a symlinked flag from a plain one', (t) => {
  for (const listed of [false, true]) {
    t.false(readFlag(dir, real, 'PLAIN', listed).linked);
    t.false(readFlag(dir, real, 'NONE', listed).linked);
    t.false(readFlag(dir, real, 'FIFO', listed).linked);
    t.true(readFlag(dir, real, 'CM', listed).linked);
    t.true(readFlag(dir, real, 'DANGLING', listed).linked);
    t.true(readFlag(dir, real, 'OUT', listed).linked);
  }
});

// A writer blocked opening a FIFO for writing is released by any reader's open: still blocked
// after the read means the FIFO was never opened.
test('a FIFO is refused without being opened', async (t) => {
  execFileSync('mkfifo', [at('WAITING')]);
  const writer = spawn('sh', ['-c', `echo 1 > ${JSON.stringify(at('WAITING'))}`], { stdio: 'ignore' });
  let spawnError = null; // unheard, a failed spawn would be an uncaught exception
  writer.on('error', (err) => (spawnError = err));
  t.teardown(() => writer.kill('SIGKILL'));
  t.like(readFlagFile(dir, real, 'WAITING'), { kind: 'problem', problem: 'not a regular file (FIFO)' });
  t.like(readFlagFile(dir, real, 'LINKFIFO'), { kind: 'problem', problem: 'not a regular file (FIFO)' });
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(spawnError, null);
  t.is(writer.exitCode, null, 'the writer is still blocked');
});
