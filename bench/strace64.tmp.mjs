// temporary investigation: syscalls per request for contenders under 64 KiB load
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { CONTENDERS } from './lib/contenders.js';
import { firstLine, spawnPinned, tempDir, ownExit } from './lib/owned.js';
import { runWrk } from './lib/wrk.js';
ownExit({});
const root = path.resolve('.');
const names = process.argv[2].split(',');
const urlPath = process.argv[3] ?? '/64k';
const backend = spawnPinned(0, process.execPath, [path.join(root, 'bench/lib/backend.js'), '3', '900'], { stdio: ['pipe', 'pipe', 'inherit'] });
const { ports } = await firstLine(backend, backend.stdout, (l) => (l.startsWith('{') ? JSON.parse(l) : null), { what: 'backend' });
for (const name of names) {
  const dir = tempDir();
  const c = await CONTENDERS[name].start({ dir, backendPorts: ports, cpu: 1, cli: path.join(root, 'bin/flagman'), baseCli: '/tmp/base/bin/flagman' });
  await runWrk({ dir, port: c.port, path: urlPath, seconds: 2, connections: 50 });
  const fs = await import('node:fs');
  const times = () => { const f = fs.readFileSync(`/proc/${c.pid}/stat`, 'utf8').split(') ')[1].split(' '); return [Number(f[11]), Number(f[12])]; };
  const a = times();
  const w = await runWrk({ dir, port: c.port, path: urlPath, seconds: 6, connections: 50 });
  const b = times();
  const n = w.requests;
  console.log(`== ${name}: ${n} requests; user ${((b[0]-a[0])*10000/n).toFixed(1)} µs/req, sys ${((b[1]-a[1])*10000/n).toFixed(1)} µs/req`);
  await c.stop();
}
backend.kill();
process.exit(0);
