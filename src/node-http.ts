// Node's `http` module, loaded with require() instead of `import`. On Node 22, 24 and 26 an ESM
// import of a built-in module builds a facade that reads each of its exports once, and node:http's
// WebSocket, CloseEvent and MessageEvent are getters that load Node's bundled fetch library
// (undici) to answer: 50-70 ms of CPU at every start, for classes flagman never uses
// (`import http from 'node:http'` 0.09-0.12 s of CPU against 0.04-0.05 s by require; Node 20 has
// no such getters). Every module that uses node:http's values takes it from here; types still come
// from `import type http from 'node:http'`, which emits nothing.
import type Http from 'node:http';
import { createRequire } from 'node:module';

export const nodeHttp: typeof Http = createRequire(import.meta.url)('node:http') as typeof Http;
