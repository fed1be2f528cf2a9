// What bench/streams.js's load client and origin agree on: the sizes, and the WebSocket frames
// (RFC 6455, one binary frame per message, 7-bit length: client frames masked, server frames not).

/** One bulk transfer: the origin sends this many bytes per byte it receives. */
export const BULK_BYTES = 1 << 20;
/** One echo round trip: the client sends this many bytes and waits for all of them back. */
export const ECHO_BYTES = 1024;
/** A WebSocket message's payload. */
export const WS_PAYLOAD = 64;
/** A client frame: 2 header bytes, a 4-byte mask, the payload. */
export const WS_FRAME_IN = 2 + 4 + WS_PAYLOAD;
/** A server frame: 2 header bytes, the payload. */
export const WS_FRAME_OUT = 2 + WS_PAYLOAD;

/** `n` client frames back to back (masked with a fixed key: the origin does not unmask them). */
export function wsClientFrames(n) {
  const one = Buffer.alloc(WS_FRAME_IN, 0x61);
  one[0] = 0x82; // FIN, binary
  one[1] = 0x80 | WS_PAYLOAD; // masked, length
  one.writeUInt32BE(0x11223344, 2);
  return Buffer.concat(Array.from({ length: n }, () => one));
}

/** `n` server frames back to back. */
export function wsServerFrames(n) {
  const one = Buffer.alloc(WS_FRAME_OUT, 0x62);
  one[0] = 0x82;
  one[1] = WS_PAYLOAD;
  return Buffer.concat(Array.from({ length: n }, () => one));
}
