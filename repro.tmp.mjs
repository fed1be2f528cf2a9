import http from 'node:http';
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const MB = 1024 * 1024, SIZE = 64 * MB, CHUNK = Buffer.alloc(65536, 'x');
let closedAt = null; let t0 = 0;
const app = http.createServer((req, res) => {
  req.resume();
  if (req.url === '/small') return void res.end('small');
  res.writeHead(200, { 'content-length': SIZE });
  res.on('error', () => {});
  res.on('close', () => { closedAt = performance.now(); console.log('server res closed after', Math.round(closedAt - t0), 'ms; written', written, 'destroyed', res.destroyed, res.writableFinished); });
  let written = 0;
  (async () => { while (written < SIZE) { if (!res.write(CHUNK)) await new Promise((r) => res.once('drain', r)); written += CHUNK.length; if (res.destroyed) return; } res.end(); })();
});
await new Promise((r) => app.listen(0, '127.0.0.1', r));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'repro-'));
fs.mkdirSync(path.join(dir, 'flags'));
fs.writeFileSync(path.join(dir, 'c.yaml'), `flags: { dir: ./flags }\ntimeouts: { server: 500ms }\nfrontends:\n  web:\n    listen: ["127.0.0.1:0"]\n    rules:\n      - use: app\nbackends:\n  app:\n    servers:\n      app1: { address: "127.0.0.1:${app.address().port}" }\n`);
const p = execa('node', ['dist/cli/main.js', 'run', '-c', path.join(dir, 'c.yaml')], { cwd: dir, reject: false, all: true });
let port; p.all.on('data', (d) => { const m = /"port":(\d+)/.exec(String(d)); if (m && !port) port = Number(m[1]); if (String(d).includes('upstream') || String(d).includes('error')) process.stderr.write('FM: ' + d); });
while (!port) await new Promise((r) => setTimeout(r, 20));
for (let i = 0; i < 5; i++) {
  closedAt = null;
  t0 = performance.now();
  const res = await new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port, path: '/', agent: false }, resolve).on('error', reject));
  res.on('error', () => {});
  res.pause();
  console.log('client got head after', Math.round(performance.now() - t0));
  await new Promise((r) => setTimeout(r, 1500));
  res.destroy();
}
p.kill(); app.close(); app.closeAllConnections();
