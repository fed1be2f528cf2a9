// The admin endpoint: read-only, by design (docs/admin.md). The flags directory is the only control plane,
// so nothing here accepts a change; anything but GET/HEAD is refused.
import type http from 'node:http';
import { nodeHttp } from '../node-http.js';
import { errorLine, FlagmanError } from '../errors.js';
import { explainRequestOf } from '../explain/explain.js';
import type { AdminSources } from '../lifecycle/sources.js';
import { createMetrics, type Metrics } from './metrics.js';
import { statusDocument } from './status.js';
import { dashboardPage } from './dashboard.js';

function send(res: http.ServerResponse, status: number, type: string, body: string, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** The admin HTTP server: the dashboard at /, /status, /metrics and /explain from `sources` (`metrics` shared across servers). */
export function createAdminServer(sources: AdminSources, metrics: Metrics = createMetrics(sources)): http.Server {
  return nodeHttp.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'the admin endpoint is read-only: change flags by writing files\n');
    }
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    if (path === '/status') {
      if (!sources.refresh) return send(res, 200, 'application/json', `${JSON.stringify(statusDocument(sources), null, 2)}\n`);
      sources.refresh().then(
        () => send(res, 200, 'application/json', `${JSON.stringify(statusDocument(sources), null, 2)}\n`),
        (err: unknown) => send(res, 500, 'text/plain; charset=utf-8', `status failed: ${String(err)}\n`),
      );
      return;
    }
    if (path === '/metrics') {
      metrics.render().then(
        (text) => send(res, 200, metrics.contentType, text),
        (err: unknown) =>
          send(res, 500, 'text/plain; charset=utf-8', `metrics failed: ${err instanceof FlagmanError ? errorLine(err) : String(err)}\n`),
      );
      return;
    }
    if (path === '/explain') return explainQuery(res, sources, url.searchParams);
    if (path === '/') {
      const page = dashboardPage();
      return send(res, 200, page.headers['Content-Type']!, page.body, page.headers);
    }
    send(res, 404, 'text/plain; charset=utf-8', 'not found: try /, /status, /metrics or /explain\n');
  });
}

// `/explain?method=&path=&host=&ip=&header=K:V&frontend=`: the live `flagman explain`.
function explainQuery(res: http.ServerResponse, sources: AdminSources, q: URLSearchParams): void {
  const req = explainRequestOf((k) => q.get(k) ?? undefined, q.getAll('header'));
  if (typeof req === 'string') return send(res, 400, 'application/json', `${JSON.stringify({ error: req })}\n`);
  try {
    send(res, 200, 'application/json', `${JSON.stringify(sources.explain(req), null, 2)}\n`);
  } catch (err) {
    send(res, 400, 'application/json', `${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`);
  }
}
