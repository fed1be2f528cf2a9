// The flag writers the latency bench drives (docs/design/watching.md), each with a setup that lays out the flags
// directory with MAINT at its initial value and a write(value) that returns once the writer has
// finished: {t0, cost} where t0 is performance.now() right after the write completed and cost is how
// long the write itself took. Shell writers run synchronously (spawnSync): t0 is when the shell has
// exited and been reaped, so spawn cost is never counted as the proxy's latency.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const now = () => performance.now();
const { O_WRONLY, O_CREAT, O_TRUNC } = fs.constants;

function plainSetup(flagsDir, initial) {
  fs.writeFileSync(path.join(flagsDir, 'MAINT'), `${initial}\n`);
}

function shell(flagsDir, command) {
  const r = spawnSync('sh', ['-c', command], { cwd: flagsDir, stdio: 'ignore', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`writer failed (${r.status ?? r.signal ?? r.error}): ${command}`);
}

// Kubernetes AtomicWriter (pkg/volume/util/atomic_writer.go): the data lives in a timestamped
// directory, `..data` points at it, every key is a symlink `KEY -> ..data/KEY`; an update writes a
// new timestamped directory, points `..data_tmp` at it, renames `..data_tmp` over `..data`, then
// removes the old directory.
let cmSeq = 0;
function cmDirName() {
  const d = new Date();
  const p = (n, w = 2) => String(n).padStart(w, '0');
  const ts = `${d.getUTCFullYear()}_${p(d.getUTCMonth() + 1)}_${p(d.getUTCDate())}_${p(d.getUTCHours())}_${p(d.getUTCMinutes())}_${p(d.getUTCSeconds())}`;
  return `..${ts}.${p(++cmSeq, 9)}`;
}

/** name → {describe, setup(flagsDir, initial), make(flagsDir) → write(value)} */
export const WRITERS = {
  echo: {
    describe: 'in-process `echo N > MAINT`: open(O_WRONLY|O_CREAT|O_TRUNC), write "N\\n", close — what sh does',
    setup: plainSetup,
    make: (flagsDir) => {
      const f = path.join(flagsDir, 'MAINT');
      const buf = [Buffer.from('0\n'), Buffer.from('1\n')];
      return (v) => {
        const t = now();
        const fd = fs.openSync(f, O_WRONLY | O_CREAT | O_TRUNC, 0o644);
        fs.writeSync(fd, buf[v]);
        fs.closeSync(fd);
        const t0 = now();
        return { t0, cost: t0 - t };
      };
    },
  },
  'echo-sh': {
    describe: "`sh -c 'echo N > MAINT'`; t0 = the shell exited",
    setup: plainSetup,
    make: (flagsDir) => (v) => {
      const t = now();
      shell(flagsDir, `echo ${v} > MAINT`);
      const t0 = now();
      return { t0, cost: t0 - t };
    },
  },
  mv: {
    describe: 'in-process: write .MAINT.tmp (a dotfile in the flags dir), rename it over MAINT',
    setup: plainSetup,
    make: (flagsDir) => {
      const f = path.join(flagsDir, 'MAINT');
      const tmp = path.join(flagsDir, '.MAINT.tmp');
      return (v) => {
        const t = now();
        fs.writeFileSync(tmp, `${v}\n`);
        fs.renameSync(tmp, f);
        const t0 = now();
        return { t0, cost: t0 - t };
      };
    },
  },
  'mv-sh': {
    describe: '`sh -c \'printf "N\\n" > .MAINT.tmp && mv .MAINT.tmp MAINT\'`; t0 = the shell exited',
    setup: plainSetup,
    make: (flagsDir) => (v) => {
      const t = now();
      shell(flagsDir, `printf '%s\\n' ${v} > .MAINT.tmp && mv .MAINT.tmp MAINT`);
      const t0 = now();
      return { t0, cost: t0 - t };
    },
  },
  configmap: {
    describe: 'Kubernetes ConfigMap volume: new ..<timestamp> dir, ..data_tmp symlink renamed over ..data, old dir removed',
    setup: (flagsDir, initial) => {
      const d = cmDirName();
      fs.mkdirSync(path.join(flagsDir, d), { mode: 0o755 });
      fs.writeFileSync(path.join(flagsDir, d, 'MAINT'), `${initial}\n`, { mode: 0o644 });
      fs.symlinkSync(d, path.join(flagsDir, '..data'));
      fs.symlinkSync('..data/MAINT', path.join(flagsDir, 'MAINT'));
    },
    make: (flagsDir) => (v) => {
      const t = now();
      const old = fs.readlinkSync(path.join(flagsDir, '..data'));
      const d = cmDirName();
      fs.mkdirSync(path.join(flagsDir, d), { mode: 0o755 });
      fs.writeFileSync(path.join(flagsDir, d, 'MAINT'), `${v}\n`, { mode: 0o644 });
      fs.symlinkSync(d, path.join(flagsDir, '..data_tmp'));
      fs.renameSync(path.join(flagsDir, '..data_tmp'), path.join(flagsDir, '..data'));
      fs.rmSync(path.join(flagsDir, old), { recursive: true, force: true });
      const t0 = now();
      return { t0, cost: t0 - t };
    },
  },
};
