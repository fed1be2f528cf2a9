// The keys that seal TLS session tickets, one set per flagman: the primary's, handed to each worker
// in its init message (cluster/messages.ts), and given to every TLS context flagman makes (the
// listener's and each certificate pair's, pair.ts). Node gives each context random keys of its own,
// so a ticket from one worker resumed on no other: with `workers: 2`, half of the resumptions a
// client tried were full handshakes. HAProxy's threads and nginx's workers share theirs the same
// way. A certificate reload keeps them (new certificates do not end sessions), a restart makes new
// ones: they are never written anywhere. node:crypto is asked for here, at the first call, as by
// every module of flagman: one imported at the top is loaded at every start, TLS or none (10 ms of
// a start's CPU on Node 26).

// Node takes 48 bytes: a 16-byte key name, a 16-byte HMAC secret and a 16-byte AES key.
const TICKET_KEY_BYTES = 48;

let keys: Buffer | null = null;

/** This flagman's ticket keys, made at the first call in a primary or a single process. */
export function ticketKeys(): Buffer {
  keys ??= process.getBuiltinModule('node:crypto').randomBytes(TICKET_KEY_BYTES);
  return keys;
}

/** A worker takes the primary's keys (before it makes any TLS context). */
export function adoptTicketKeys(given: Buffer): void {
  if (given.length !== TICKET_KEY_BYTES) throw new Error(`ticket keys must be ${TICKET_KEY_BYTES} bytes, not ${given.length}`);
  keys = given;
}
