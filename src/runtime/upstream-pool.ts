// The keep-alive connections to one server address: an undici Pool (SPEC §3, "upstream connections
// pooled"), plus the one fact the request path needs that undici does not hand to a request's
// handler: whether the connection the request is written on is new or reused.
import type { Pool as PoolType } from 'undici';
// undici's Pool module alone, not the package entry: the entry loads fetch, WebSocket, the cache
// and mock layers too, which flagman never uses: idle RSS 72.5 MB with it, 66.7 MB without
// (bench/RESULTS.md, first section). undici 7 has no `exports` map, so the path is public in practice;
// test/unit/undici-pool.test.js fails if an upgrade moves it or its class changes.
import PoolModule from 'undici/lib/dispatcher/pool.js';

const Pool = PoolModule as unknown as typeof PoolType;

/** How long to wait for a connection, and how long a pooled connection may idle (ms). */
export interface PoolTimeouts {
  readonly connect: number;
  readonly idle: number;
}

export class UpstreamPool extends Pool {
  /**
   * True from the moment a new connection is established until the request it was opened for is
   * written on it. undici emits 'connect' and then, synchronously in the same call, writes the first
   * queued request on that connection (dispatcher/client.js: `emit('connect')` then `resume()`; one
   * request at a time, no pipelining). So the first `onConnect` of a request handler after the event
   * is the request on the new connection, and every other request rides a reused one. If that
   * request went away first (no `onConnect`), the microtask below clears the mark, so it cannot leak
   * onto a later request; were it ever to leak, a reused connection would be taken for a new one,
   * which only forgoes a replay (a 502 instead of a second attempt): the safe side.
   */
  #fresh = false;

  constructor(origin: string, timeouts: PoolTimeouts) {
    super(origin, {
      connectTimeout: timeouts.connect,
      // Pooled connections idle out after `idle`, or earlier if the server announces a shorter
      // Keep-Alive timeout (less a 1 s margin), so a server's own idle close rarely races a reuse.
      keepAliveTimeout: timeouts.idle,
      keepAliveMaxTimeout: timeouts.idle,
      keepAliveTimeoutThreshold: 1000,
      // Timeouts are per request (headersTimeout/bodyTimeout in upstream.ts); none at pool level.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    this.on('connect', () => {
      this.#fresh = true;
      queueMicrotask(() => (this.#fresh = false));
    });
  }

  /** Whether the request being written now is the first on a new connection; asking clears it. */
  takeFresh(): boolean {
    const fresh = this.#fresh;
    this.#fresh = false;
    return fresh;
  }
}
