// The admin endpoint: read-only, by design (SPEC §5). The flags directory is the only control plane,
// so nothing here accepts a change; anything but GET/HEAD is refused.
import http from 'node:http';
import { DASHBOARD } from './dashboard.js';
import { statusDocument, type StatusSources } from './status.js';

function send(res: http.ServerResponse, status: number, type: string, body: string, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** An HTTP server answering /status from `sources`, and / with the dashboard that renders it. */
export function createAdminServer(sources: StatusSources): http.Server {
  return http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'the admin endpoint is read-only: change flags by writing files\n');
    }
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/status') return send(res, 200, 'application/json', `${JSON.stringify(statusDocument(sources), null, 2)}\n`);
    if (path === '/') return send(res, 200, DASHBOARD.headers['Content-Type'], DASHBOARD.body, DASHBOARD.headers);
    send(res, 404, 'text/plain; charset=utf-8', 'not found: try / or /status\n');
  });
}
