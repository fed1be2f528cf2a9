// One flagman per address, and no PID file (docs/systemd.md): a second `flagman run` on the address of a
// running one fails fast naming the address, the first keeps serving, and neither wrote a PID
// file — systemd (or whoever started it) knows the process, so nothing can race a stale one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { flagmanCli, request, root, startFlagman, upstream } from '../helpers/e2e.js';

const CONFIG = `
flags: { dir: ./flags }
admin: { listen: "127.0.0.1:0" }
frontends:
  web:
    listen: ["127.0.0.1:{{port}}"]
    rules:
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:{{app}}" }
`;

/** Regular files under `dir` (to `depth` levels) changed since `since`, skipping what cannot be read. */
function changedFiles(dir, since, depth) {
  const out = [];
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const file = path.join(dir, e.name);
    if (e.isDirectory() && depth > 0 && e.name !== 'node_modules' && e.name !== '.git') out.push(...changedFiles(file, since, depth - 1));
    else if (e.isFile()) {
      try {
        if (fs.statSync(file).mtimeMs >= since) out.push(file);
      } catch {
        // gone since the listing
      }
    }
  }
  return out;
}

// A PID file is found by its content: a file written while flagman ran, in one of the places a
// daemon puts one, holding nothing but a flagman pid; in flagman's own directories, by a *.pid name
// too. (Other processes on this machine may write their own PID files under /run and /tmp.)
function pidFiles(dirs, since, pids, own) {
  return dirs
    .flatMap(([dir, depth]) => changedFiles(dir, since, depth))
    .filter((file) => {
      if (file.endsWith('.pid') && own.some((dir) => file.startsWith(dir + path.sep))) return true;
      try {
        const st = fs.statSync(file);
        return st.size > 0 && st.size < 16 && pids.includes(fs.readFileSync(file, 'utf8').trim());
      } catch {
        return false;
      }
    });
}

test('a second flagman run on the same address fails fast naming it; there is no PID file anywhere', async (t) => {
  const since = Date.now() - 1000; // file systems with a coarse mtime
  const app = await upstream(t, 'app');
  const first = await startFlagman(t, CONFIG, { vars: { port: 0, app: app.port } });
  const second = path.join(first.dir, 'second.yaml');
  fs.writeFileSync(second, CONFIG.replace('{{port}}', String(first.port)).replace('{{app}}', String(app.port)));

  const started = Date.now();
  const r = await flagmanCli(['run', '-c', second]);
  const took = Date.now() - started;
  t.log(`second flagman exited ${r.exitCode} after ${took} ms`);
  t.is(r.exitCode, 1);
  t.regex(
    r.stderr,
    new RegExp(
      `^flagman: LISTEN: cannot listen on 127\\.0\\.0\\.1:${first.port}: address in use \\(127\\.0\\.0\\.1:${first.port}\\)$`,
      'm',
    ),
  );
  t.true(took < 10_000, 'it fails by itself, without waiting for anything');
  t.is((await request(first.port)).body, 'app', 'the first flagman still serves');

  const places = [
    ['/run', 2],
    ['/var/run', 2],
    [os.tmpdir(), 1],
    [first.dir, 3],
    [root, 1],
    [os.homedir(), 1],
  ];
  t.deepEqual(pidFiles(places, since, [String(first.proc.pid), String(r.pid)], [first.dir, root]), []);
});
