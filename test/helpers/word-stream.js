// A byte stream whose every 4-byte word is its own index (little-endian), and a reader that checks
// one as it arrives: a lost, repeated, reordered or overwritten chunk shows as the first word out
// of place, named with its byte offset. For the tests of flagman's relays, which reuse read buffers.
import crypto from 'node:crypto';

/** Words `from` … `from + n - 1`, each a 32-bit index, little-endian. */
export function words(from, n) {
  const b = Buffer.allocUnsafe(n * 4);
  for (let i = 0; i < n; i++) b.writeUInt32LE((from + i) >>> 0, i * 4);
  return b;
}

/** Checks a stream of indexed words as it arrives (chunks split words anywhere); resolves with its byte count. */
export function checker(socket) {
  let next = 0;
  let carry = Buffer.alloc(0);
  let bytes = 0;
  const hash = crypto.createHash('sha256');
  return new Promise((resolve, reject) => {
    socket.on('data', (d) => {
      bytes += d.length;
      hash.update(d);
      const all = carry.length ? Buffer.concat([carry, d]) : d;
      const whole = all.length - (all.length % 4);
      for (let o = 0; o < whole; o += 4) {
        const w = all.readUInt32LE(o);
        if (w !== next) return reject(new Error(`word ${next} (byte ${next * 4}): got ${w}`));
        next++;
      }
      carry = Buffer.from(all.subarray(whole));
    });
    socket.on('end', () => resolve({ bytes, sha: hash.digest('hex') }));
    socket.on('error', reject);
  });
}

/** Reads in bursts with pauses, so the client's receive buffer fills and flagman's writes to it queue up. */
export function slowReader(socket) {
  let n = 0;
  socket.on('data', () => {
    if (++n % 8 !== 0) return;
    socket.pause();
    setTimeout(() => socket.resume(), 2);
  });
}

/**
 * Writes `total` bytes (a multiple of 4) of indexed words to `stream` in writes of odd sizes from 4
 * bytes to 200 KiB, so that reads and writes split everywhere, waiting for 'drain' when told to;
 * then ends it. Resolves with the SHA-256 of what was written.
 */
export function pumpWords(stream, total) {
  const sent = crypto.createHash('sha256');
  let word = 0;
  let size = 1;
  return new Promise((resolve) => {
    const pump = () => {
      while (word * 4 < total) {
        size = (size * 7 + 13) % (200 * 1024) || 1;
        const n = Math.max(1, Math.min(Math.ceil(size / 4), total / 4 - word));
        const chunk = words(word, n);
        word += n;
        sent.update(chunk);
        if (!stream.write(chunk)) return void stream.once('drain', pump);
      }
      stream.end();
      resolve(sent.digest('hex'));
    };
    pump();
  });
}
