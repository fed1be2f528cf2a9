// What a listener is, as the handlers it installs see it: its own module, so that those handlers
// (tunnel.ts, client-error.ts) and frontend.ts, which installs them, do not import each other.

/**
 * Which frontend of the current runtime a listener serves. A reload may reorder frontends: the
 * lifecycle moves `index` in the same tick as it swaps the runtime, so the two always agree. -1: the
 * frontend was removed and its listener is draining.
 */
export interface FrontendSlot {
  index: number;
}

/** What a listener speaks to its clients. */
export type Scheme = 'http' | 'https';
