// Young-generation collections paced by request-body bytes.
//
// Node's HTTP server copies every chunk of a request body out of the socket's read into a new
// buffer, so a 1 MiB upload is 1 MiB of fresh memory outside V8's heap. V8 starts a
// young-generation collection when its own heap's nursery fills, which those buffers barely move,
// and collects outside memory only once it has grown 64 MB past the last full collection. Under a
// stream of uploads that meant about 12 full collections a second and 104-123 MB of RSS. A young
// collection every few MiB of body frees the chunks while they are still young, at a fraction of a
// full collection's cost: bench/RESULTS.md, "young-generation collection every
// 4 MiB of body", has the figures.
//
// The `flagman` command starts Node with --expose-gc for this. Run any other way, `gc` is absent
// and this does nothing: V8's own schedule applies.

type Collect = (options: { type: 'minor' }) => void;

/** Body bytes between two young collections: in the bench 2-8 MiB kept full ones away, 16 MiB did not. */
export const SCAVENGE_EVERY = 4 * 1024 * 1024;

/** A counter that calls `collect` each time another `every` bytes have been counted. */
export function createScavenger(collect: Collect | undefined, every = SCAVENGE_EVERY): (bytes: number) => void {
  if (collect === undefined) return () => {};
  let since = 0;
  return (bytes: number): void => {
    since += bytes;
    if (since < every) return;
    since = 0;
    collect({ type: 'minor' });
  };
}

/** Counts request-body bytes moved to a server (one counter per process: the memory is shared). */
export const bodyBytesMoved = createScavenger((globalThis as { gc?: Collect }).gc);
