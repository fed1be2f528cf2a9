// `respond` backends: a status, headers and a body from memory (docs/configuration.md; the maintenance page).
import type { RespondTarget } from '../runtime/runtime.js';
import type { Exchange } from './exchange.js';

/** Answers `ex` with the backend's fixed response. The request body, if any, is drained and dropped. */
export function respond(ex: Exchange, target: RespondTarget): void {
  target.counters.requests++;
  const body = target.page.body;
  const res = ex.res;
  res.writeHead(target.status, ex.idOn([...target.headers, 'Content-Length', String(body.length)]));
  if (ex.req.method === 'HEAD') {
    res.end();
    return;
  }
  res.end(body);
  ex.bytes += body.length;
  ex.req.resume();
}
