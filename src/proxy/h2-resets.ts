// The HTTP/2 rapid-reset bound (CVE-2023-44487): a client that opens streams and cancels them at
// once makes the server set up requests for nothing, as fast as it can send frames. h2.ts makes a
// stream cancelled in the same read cost next to nothing; this bounds how many streams one
// connection may reset at all, as current HTTP/2 servers do: past its budget, the connection is
// sent GOAWAY with ENHANCE_YOUR_CALM and closed.
//
// The budget is a token bucket, the shape of nghttp2's own limit (the HTTP/2 library inside Node,
// since 1.57: a burst of 1,000 resets refilled at 33 a second, past which it sends GOAWAY but keeps
// the connection open). Ours: a burst of RESET_BURST, refilled at RESET_RATE a second, and the
// connection closed. A browser cancels at most the streams it has open (leaving a page, seeking in
// a video), a gRPC client the calls whose deadline passed: nowhere near 200 at once or 20 a second
// for long. nginx bounds the same work by a connection's streams (keepalive_requests, 1,000) and by
// the new streams it takes up per event-loop turn; HAProxy closes a connection with
// ENHANCE_YOUR_CALM past tune.h2.fe.glitches-threshold protocol anomalies, and can cap its streams
// (tune.h2.fe.max-total-streams).
//
// bench/rapid-reset.js measures what such a client costs the others (bench/RESULTS.md): 2,000
// streams reset on one connection stalled another client's requests 0.8–1.1 s before (medians of
// 5 rounds), 0.19–0.34 s on a bare node:http2 server (where nghttp2 stops them after 1,000), and
// 40–70 ms with this budget; 16–36 ms since flagman reads streams without Node's compatibility
// objects (h2-stream.ts). Most of what is left is Node's own work per stream, which the burst
// multiplies: 170 ms of CPU for the attack's 2,000 streams, against 240 ms with those objects.
import type http2 from 'node:http2';
import { nodeHttp2 } from '../node-http.js';

/** Resets a connection may make at once before it is closed. */
export const RESET_BURST = 200;
/** Resets per second it may keep up after that. */
export const RESET_RATE = 20;

/** The error code of the GOAWAY a connection over its budget gets (RFC 9113 §7: 0xb). */
const ENHANCE_YOUR_CALM = nodeHttp2().constants.NGHTTP2_ENHANCE_YOUR_CALM;

// Streams flagman itself cancels (a request body that stalled): not the client's resets.
const cancelled = new WeakSet<http2.Http2Stream>();

/** Cancels `stream` from the proxy's side (RST_STREAM CANCEL); not counted as the client's reset. */
export function cancelStream(stream: http2.Http2Stream): void {
  cancelled.add(stream);
  stream.close(nodeHttp2().constants.NGHTTP2_CANCEL);
}

// Sessions over their budget, closed once the read in progress has been parsed.
const over = new WeakSet<http2.Http2Session>();

/** Whether `session` went over its reset budget: none of its requests is taken up any more. */
export function overBudget(session: http2.Http2Session | undefined): boolean {
  return session !== undefined && over.has(session);
}

/**
 * Counts the streams of `session` that the client resets before their response was sent. Once they
 * go over the budget, calls `onLimit(resets)` (to say so) and closes the session: GOAWAY with
 * ENHANCE_YOUR_CALM, every stream of it ended, the socket closed.
 */
export function watchResets(session: http2.ServerHttp2Session, onLimit: (resets: number) => void): void {
  let tokens = RESET_BURST;
  let at = performance.now();
  let resets = 0;
  const reset = (): void => {
    resets++;
    const now = performance.now();
    tokens = Math.min(RESET_BURST, tokens + ((now - at) * RESET_RATE) / 1000) - 1;
    at = now;
    if (tokens >= 0 || over.has(session)) return;
    over.add(session);
    onLimit(resets);
    // GOAWAY now, naming the last stream Node took up. close() then has Node refuse the streams that
    // follow in the read being parsed (RST_STREAM REFUSED_STREAM) without making objects of them; it
    // queues a second GOAWAY, NO_ERROR. The session itself is destroyed once the read has been parsed: Node emits
    // 'aborted' from inside nghttp2's parsing, and a session destroyed there can fail one of
    // Node's native assertions and abort the process (Node 20.20: CheckAllocatedSize, in
    // nghttp2_session_destroy_stream after the RST_STREAM's callback). destroy(code) is Node's own
    // form: the documented destroy(undefined, code) sends NO_ERROR (its first parameter defaults
    // to 0, which then stands for the code).
    session.goaway(ENHANCE_YOUR_CALM);
    session.close();
    setImmediate(() => session.destroy(ENHANCE_YOUR_CALM as unknown as Error));
  };
  // Node emits 'aborted' on a stream closed while its response was still open: by the client's
  // RST_STREAM, by a res.destroy() of ours (the stream is destroyed by then), by the connection
  // going away (destroyed too), or by cancelStream().
  function onAborted(this: http2.ServerHttp2Stream): void {
    if (!this.destroyed && !cancelled.has(this)) reset();
  }
  session.on('stream', (stream: http2.ServerHttp2Stream) => {
    // Node hands a stream over before it parses the frames behind its HEADERS, so it is open here;
    // one that came closed already could only have been reset by the client.
    if (stream.closed) return void (session.destroyed || reset());
    stream.on('aborted', onAborted);
  });
}
