// How etcd keys under a prefix map to flag names, and the byte arithmetic etcd's API asks for.
// Pure: the mirror (mirror.ts) decides what to write from these answers.
import { isFlagName } from '../flags/parse.js';

/**
 * The end of etcd's range for every key starting with `prefix`: the prefix with its last byte
 * that is not 0xff incremented and what follows dropped (etcd's own rule, as `etcdctl get
 * --prefix` computes it). An empty prefix, or one of 0xff bytes only, ranges to the end: "\0".
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i] as number;
    if (byte < 0xff) {
      // A copy: a Buffer's slice() is a view, and the prefix itself must stay as it is.
      const end = new Uint8Array(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  return Uint8Array.of(0);
}

/** What a key under the prefix becomes in the flags directory. */
export type KeyMapping = { readonly kind: 'flag'; readonly name: string } | { readonly kind: 'skip'; readonly reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The flag a key names: the key with `prefix` taken off, when that is a flag name. Anything else
 * (a deeper path, a name the proxy would not read, bytes that are not UTF-8) is skipped with a
 * reason, and never written.
 */
export function flagOfKey(key: Uint8Array, prefix: Uint8Array): KeyMapping {
  if (key.length < prefix.length || !prefix.every((b, i) => key[i] === b)) return { kind: 'skip', reason: 'not under the prefix' };
  let name: string;
  try {
    name = utf8.decode(key.subarray(prefix.length));
  } catch {
    return { kind: 'skip', reason: 'not UTF-8' };
  }
  if (name.startsWith('/')) return { kind: 'skip', reason: 'a deeper key: a flag name has no "/" (does --prefix lack its trailing "/"?)' };
  if (name.includes('/')) return { kind: 'skip', reason: 'a deeper key: a flag name has no "/"' };
  if (!isFlagName(name)) {
    return {
      kind: 'skip',
      reason: 'not a flag name (^[A-Za-z][A-Za-z0-9_.-]{0,127}$, not ending in ~ .swp .swx .tmp .bak .dpkg-new .dpkg-old)',
    };
  }
  return { kind: 'flag', name };
}

/** A key as people read it: its UTF-8 text, control characters escaped (a key may hold any byte). */
export function showKey(key: Uint8Array): string {
  return JSON.stringify(Buffer.from(key).toString('utf8')).slice(1, -1);
}
