// Node's `http`, `http2` and `tls` modules, loaded with require() instead of `import`.
//
// node:http: on Node 22, 24 and 26 an ESM import of a built-in module builds a facade that reads
// each of its exports once, and node:http's WebSocket, CloseEvent and MessageEvent are getters that
// load Node's bundled fetch library (undici) to answer: 50-70 ms of CPU at every start, for classes
// flagman never uses (`import http from 'node:http'` 0.09-0.12 s of CPU against 0.04-0.05 s by
// require; Node 20 has no such getters).
//
// node:tls and node:http2: loaded at the first use, which a config without a TLS frontend never
// makes. The two cost 49 ms of CPU to load on Node 26 (11 ms on Node 20), a fifth of a start.
//
// Every module that uses these modules' values takes them from here; types still come from
// `import type … from 'node:…'`, which emits nothing.
import type Http from 'node:http';
import type Http2 from 'node:http2';
import { createRequire } from 'node:module';
import type Tls from 'node:tls';

const require = createRequire(import.meta.url);

export const nodeHttp: typeof Http = require('node:http') as typeof Http;

let http2: typeof Http2 | null = null;
/** node:http2, loaded at the first call. */
export function nodeHttp2(): typeof Http2 {
  http2 ??= require('node:http2') as typeof Http2;
  return http2;
}

let tls: typeof Tls | null = null;
/** node:tls, loaded at the first call. */
export function nodeTls(): typeof Tls {
  tls ??= require('node:tls') as typeof Tls;
  return tls;
}
