// A certificate and its key read from their files into memory, checked, and made into the
// SecureContext a handshake uses; and the set of such pairs of one frontend, looked up by the name
// a client asks for (SNI). Reading happens at load and on a file change, never per connection.
import type { KeyObject, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import type tls from 'node:tls';
import type { TlsConfig, TlsPairConfig } from '../config/schema.js';
import { FlagmanError } from '../errors.js';
import { nodeTls } from '../node-http.js';
import { ticketKeys } from './ticket-keys.js';

/** One pair, read and checked. */
export interface LoadedPair {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly context: tls.SecureContext;
  /** DNS names of the certificate (subjectAltName, else its CN), lower-cased; `*.x` for wildcards. */
  readonly names: readonly string[];
  /** The leaf certificate's serial number and SHA-256 fingerprint, for events. */
  readonly serial: string;
  readonly fingerprint: string;
}

function read(file: string, what: string, at: TlsPairConfig['at']): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (cause) {
    throw new FlagmanError(
      'CONFIG_TLS',
      `cannot read ${what} file ${file} (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`,
      at,
      { cause },
    );
  }
}

/** The DNS names a certificate is for: its subjectAltName DNS entries, or its subject CN when it has none. */
export function certificateNames(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  if (san !== undefined) {
    const dns = san
      .split(/,\s*/)
      .filter((s) => s.startsWith('DNS:'))
      .map((s) => s.slice(4).toLowerCase());
    if (dns.length > 0) return dns;
  }
  const cn = /^CN=(.*)$/m.exec(x509.subject)?.[1];
  return cn === undefined ? [] : [cn.toLowerCase()];
}

/** Reads and checks one pair; throws CONFIG_TLS naming the file that is wrong. */
export function loadPair(pair: TlsPairConfig): LoadedPair {
  const cert = read(pair.cert, 'certificate', pair.at);
  const key = read(pair.key, 'key', pair.at);
  // node:crypto at first use, not at start: a config without TLS never loads it (ticket-keys.ts).
  const crypto = process.getBuiltinModule('node:crypto');
  let x509: X509Certificate;
  try {
    x509 = new crypto.X509Certificate(cert);
  } catch (cause) {
    throw new FlagmanError(
      'CONFIG_TLS',
      `certificate file ${pair.cert} holds no PEM certificate (empty, half-written or another format?)`,
      pair.at,
      { cause },
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = crypto.createPrivateKey(key);
  } catch (cause) {
    throw new FlagmanError(
      'CONFIG_TLS',
      `key file ${pair.key} holds no PEM private key (empty, half-written, encrypted or another format?)`,
      pair.at,
      { cause },
    );
  }
  // A renewal that has replaced one file of the two but not yet the other lands here.
  if (!x509.checkPrivateKey(privateKey)) {
    throw new FlagmanError('CONFIG_TLS', `key file ${pair.key} does not belong to certificate file ${pair.cert}`, pair.at);
  }
  let context: tls.SecureContext;
  try {
    context = nodeTls().createSecureContext({ cert, key, ticketKeys: ticketKeys() });
  } catch (cause) {
    throw new FlagmanError('CONFIG_TLS', `certificate file ${pair.cert} with key file ${pair.key}: ${(cause as Error).message}`, pair.at, {
      cause,
    });
  }
  return { cert, key, context, names: certificateNames(x509), serial: x509.serialNumber, fingerprint: x509.fingerprint256 };
}

/** Every pair of a frontend, with its lookup by server name. Immutable; a reload makes a new one. */
export class CertSet {
  readonly pairs: readonly LoadedPair[];
  readonly #exact = new Map<string, tls.SecureContext>();
  readonly #wildcard = new Map<string, tls.SecureContext>();

  constructor(pairs: readonly LoadedPair[]) {
    this.pairs = pairs;
    // The first pair naming a name wins, as the first pair is the default.
    for (const p of pairs) {
      for (const n of p.names) {
        const table = n.startsWith('*.') ? this.#wildcard : this.#exact;
        const name = n.startsWith('*.') ? n.slice(2) : n;
        if (!table.has(name)) table.set(name, p.context);
      }
    }
  }

  /** Reads every pair of `config` (throws CONFIG_TLS on the first bad one). */
  static load(config: TlsConfig): CertSet {
    return new CertSet(config.certificates.map(loadPair));
  }

  /** The pair a handshake for `servername` gets: an exact name, a wildcard one label up, or the first. */
  pick(servername: string): tls.SecureContext {
    const name = servername.toLowerCase();
    const exact = this.#exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    return (dot > 0 ? this.#wildcard.get(name.slice(dot + 1)) : undefined) ?? this.pairs[0]!.context;
  }

  /** The default pair as setSecureContext options (clients that send no server name). */
  get defaultOptions(): tls.SecureContextOptions {
    return { cert: this.pairs[0]!.cert, key: this.pairs[0]!.key, ticketKeys: ticketKeys() };
  }

  /** Whether `other` holds the same bytes, so a reload that changed nothing swaps nothing. */
  same(other: CertSet): boolean {
    return (
      this.pairs.length === other.pairs.length &&
      this.pairs.every((p, i) => p.cert.equals(other.pairs[i]!.cert) && p.key.equals(other.pairs[i]!.key))
    );
  }
}
