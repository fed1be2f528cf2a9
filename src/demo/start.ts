// `npm start`: a live demo. Starts the app servers the demo config names, then flagman itself (the
// built CLI, as a child process whose PID is kept), and prints what to try.
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } } });
const configFile = path.resolve(values.config ?? path.join(here, '../../examples/demo/flagman.yaml'));
const config = loadConfig(configFile);

/** A tiny app server that says who it is; `/slow?ms=N` answers after N ms (to watch a drain). */
function appServer(name: string): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const ms = url.pathname === '/slow' ? Math.min(Number(url.searchParams.get('ms') ?? 1000), 60_000) : 0;
    req.resume();
    setTimeout(() => {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Server': name });
      res.end(`hello from ${name}: ${req.method} ${req.url}\n`);
    }, ms);
  });
}

const apps: http.Server[] = [];
for (const be of config.backends) {
  if (be.kind !== 'proxy') continue;
  for (const s of be.servers) {
    const app = appServer(s.name);
    await new Promise<void>((resolve, reject) => {
      app.once('error', reject);
      app.listen(s.port, s.host, resolve);
    });
    apps.push(app);
  }
}

const cli = path.join(here, '../cli/main.js');
const child = spawn(process.execPath, [cli, 'run', '-c', configFile], { stdio: ['ignore', 'ignore', 'inherit'] });
const fe = config.frontends[0]!;
const addr = fe.listen[0]!;
const port = addr.kind === 'tcp' ? addr.port : 8080;
const flagsRel = path.relative(process.cwd(), config.flags.dir) || '.';
// The token of the maintenance rule's bypass cookie, so the banner's curl line passes the rule the
// config really has.
const bypass = fe.rules.map((r) => /cookie\("flagman_bypass"\) != "([^"]+)"/.exec(r.when?.source ?? '')?.[1]).find((token) => token !== undefined);
const bypassLine = bypass === undefined ? '' : `  curl -s --cookie 'flagman_bypass=${bypass}' http://127.0.0.1:${port}/   # …but admins still reach the app\n`;

process.stdout.write(`flagman demo: proxy on http://127.0.0.1:${port}/ (pid ${child.pid}), apps: ${apps.length}, flags: ${flagsRel}/
Try, in another terminal:
  curl -s http://127.0.0.1:${port}/                      # app1 and app2 take turns
  echo 1 > ${flagsRel}/MAINT                               # maintenance page for everyone…
${bypassLine}  echo 0 > ${flagsRel}/MAINT                               # back to normal
  echo 0 > ${flagsRel}/app2.weight                         # drain app2: only app1 answers
  rm ${flagsRel}/app2.weight                               # app2 back at its default weight 1
  node dist/cli/main.js list -d ${flagsRel}                # what the proxy reads
Ctrl-C stops everything.
`);

const stop = (): void => {
  child.kill('SIGTERM');
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
child.once('exit', (code) => {
  for (const a of apps) a.close();
  process.exitCode = code ?? 0;
});
