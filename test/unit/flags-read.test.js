// readFlagFile against every kind of directory entry a flags directory can hold (SPEC §1.5): it
// returns at once for each, follows symlinks only inside the directory, reads at most 4 KiB.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { readFlagFile } from '../../dist/flags/read.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-read-'));
const dir = path.join(root, 'flags');
const real = fs.realpathSync(root) + path.sep + 'flags';
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
