// `redirect` backends: the same host, path and query under another scheme or port (plain HTTP to
// HTTPS). Built from the request's Host, which the proxy has already checked (headers.ts: one,
// non-empty, no spaces, slashes or `@`), so a Location can only name the host the client asked for.
import type { RedirectTarget } from '../runtime/runtime.js';
import type { Exchange } from './exchange.js';

/** The host without its port: `example.com:8080` → `example.com`, `[::1]:8080` → `[::1]`. */
function hostname(host: string): string {
  if (host.charCodeAt(0) === 91 /* '[' */) {
    const close = host.indexOf(']');
    return close < 0 ? host : host.slice(0, close + 1);
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

/** Where `target` sends a request for `url` (origin-form) on `host`. */
export function redirectLocation(target: RedirectTarget, host: string, url: string): string {
  return `${target.prefix}${hostname(host)}${target.port}${url === '*' ? '/' : url}`;
}

/** Answers `ex` with the redirect; a request body, if any, is drained and dropped. */
export function redirect(ex: Exchange, target: RedirectTarget): void {
  target.counters.requests++;
  const req = ex.req;
  ex.res.writeHead(
    target.status,
    ex.idOn(['Location', redirectLocation(target, req.headers.host!, req.url!), 'Content-Length', '0', 'Cache-Control', 'no-store']),
  );
  ex.res.end();
  req.resume();
}
