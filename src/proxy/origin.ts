// Who a request is from (docs/proxying.md, "Behind a load balancer: X-Forwarded-For"), decided once
// when it arrives and used by everything after: the rules and rate-limit keys (client.ip,
// request.peer, request.scheme, request.host), the headers sent upstream, the access line. The
// connection's address is clientIpOf's (client-ip.ts: a PROXY header's client, with acceptProxy).
// A frontend without `trustedProxies` pays one comparison, and reads no header for it.
import type { IncomingHttpHeaders } from 'node:http';
import { forwardedClient } from '../expr/forwarded.js';
import type { RequestFrom } from '../expr/request.js';
import type { RuntimeFrontend } from '../runtime/runtime.js';

export { forwardedHostOf, schemeOf } from '../expr/forwarded.js';

export interface Origin extends RequestFrom {
  /** The address the connection came from (client-ip.ts): `request.peer`. */
  readonly peer: string;
  /** The client: `peer`, or behind a trusted proxy the address its X-Forwarded-For names: `client.ip`. */
  readonly clientIp: string;
  /**
   * `peer` is one of the frontend's trusted proxies: the X-Forwarded-* headers it sent are kept,
   * and its X-Forwarded-Proto and X-Forwarded-Host are `request.scheme` and `request.host`
   * (expr/forwarded.ts: schemeOf, forwardedHostOf).
   */
  readonly trusted: boolean;
}

/** Whether `peer` is one of `frontend`'s trusted proxies. */
export function trusts(frontend: RuntimeFrontend, peer: string): boolean {
  const proxies = frontend.trustedProxies;
  return proxies?.contains(peer) === true;
}

/** `client.ip` of a request from `peer` with `headers`: `peer` itself unless `trusted`, X-Forwarded-For is not even looked at. */
export function clientOf(frontend: RuntimeFrontend, peer: string, trusted: boolean, headers: IncomingHttpHeaders): string {
  return trusted ? forwardedClient(headers['x-forwarded-for'], peer, frontend.trustedProxies!) : peer;
}
