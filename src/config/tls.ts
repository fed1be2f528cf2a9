// `frontends.NAME.tls` of flagman.yaml: the certificate and key files a TLS frontend serves. One
// pair as a map, or a list of pairs for several names (SNI); paths resolve against the config
// file's folder. Whether the files hold a usable pair is checked at compile (tls/pair.ts), so that
// `flagman check` and a reload read them exactly as the listener will.
import { resolve } from 'node:path';
import type { TlsConfig, TlsPairConfig } from './schema.js';
import { fieldsOf, isSeq, listItems, missing, readString } from './nodes.js';
import type { Entry, Walker } from './nodes.js';

export const TLS_PAIR_KEYS = {
  cert: 'PEM certificate file (the chain after the leaf certificate), relative to the config file',
  key: 'PEM private key file of that certificate, relative to the config file',
} as const;

/** Reads `tls`: `{cert, key}` or a list of them; the first pair is the default. */
export function readTls(w: Walker, e: Entry, baseDir: string): TlsConfig | undefined {
  const items = isSeq(e.node) ? (listItems(w, e, 'certificate pairs {cert, key}') ?? []) : [e];
  if (isSeq(e.node) && items.length === 0) {
    return w.fail('CONFIG_SCHEMA', `${e.path}: needs at least one {cert, key} pair`, e.at);
  }
  const certificates: TlsPairConfig[] = [];
  for (const item of items) {
    const pair = readPair(w, item, baseDir);
    if (pair !== undefined) certificates.push(pair);
  }
  return certificates.length === items.length ? { certificates, at: e.keyAt } : undefined;
}

function readPair(w: Walker, e: Entry, baseDir: string): TlsPairConfig | undefined {
  const f = fieldsOf(w, e, TLS_PAIR_KEYS);
  if (f === undefined) return undefined;
  if (f.cert === undefined) missing(w, e, 'cert', ': the certificate file');
  if (f.key === undefined) missing(w, e, 'key', ': the private key file');
  const cert = f.cert && readString(w, f.cert);
  const key = f.key && readString(w, f.key);
  if (cert === undefined || key === undefined) return undefined;
  return { cert: resolve(baseDir, cert), key: resolve(baseDir, key), at: e.at };
}
