// The demo's app servers: one small HTTP server on the address of each server the config's proxy
// backends name, saying who it is.
import type http from 'node:http';
import { nodeHttp } from '../node-http.js';
import type { Config } from '../config/schema.js';
import { FlagmanError } from '../errors.js';
import { serverPortVariable } from './config.js';

export interface App {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly server: http.Server;
}

/** A tiny app server that says who it is; `/slow?ms=N` answers after N ms (to watch a drain). */
function appServer(name: string): http.Server {
  return nodeHttp.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const ms = url.pathname === '/slow' ? Math.min(Number(url.searchParams.get('ms') ?? 1000), 60_000) : 0;
    req.resume();
    setTimeout(() => {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Server': name });
      res.end(`hello from ${name}: ${req.method} ${req.url}\n`);
    }, ms);
  });
}

/** Starts every app; when one cannot listen, closes those started and throws a LISTEN error naming the variable that moves it. */
export async function startApps(config: Config): Promise<App[]> {
  const apps: App[] = [];
  for (const be of config.backends) {
    if (be.kind !== 'proxy') continue;
    for (const s of be.servers) {
      const server = appServer(s.name);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(s.port, s.host, resolve);
        });
      } catch (err) {
        await closeApps(apps);
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        const hint = code === 'EADDRINUSE' ? `: another program has this port; ${serverPortVariable(s.name)}=PORT moves it` : '';
        throw new FlagmanError(
          'LISTEN',
          `demo app ${s.name} cannot listen (${code})${hint}`,
          { address: `${s.host}:${s.port}` },
          { cause: err },
        );
      }
      apps.push({ name: s.name, host: s.host, port: s.port, server });
    }
  }
  return apps;
}

/** Closes the apps and every connection they still have (flagman, stopped first, has finished with them). */
export async function closeApps(apps: readonly App[]): Promise<void> {
  await Promise.all(
    apps.map(
      (a) =>
        new Promise<void>((resolve) => {
          a.server.close(() => resolve());
          a.server.closeAllConnections();
        }),
    ),
  );
}
