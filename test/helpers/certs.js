// Test certificates made with the system's openssl at test time: a throwaway CA and leaf
// certificates signed by it, with the names a test asks for. EC P-256 keys: each takes milliseconds.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from './execa.js';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * A CA in `dir` (ca.crt, ca.key); `leaf(name, dnsNames)` writes NAME.crt and NAME.key signed by it
 * (an IP address among the names is an IP name: a server reached as https://127.0.0.1). A leaf has
 * no extended key usage, so it serves as a server's certificate or a client's; one without names
 * has no CommonName either (a client of etcd's gateway with auth on may have none).
 */
export async function testCA(dir) {
  const ca = path.join(dir, 'ca.crt');
  const caKey = path.join(dir, 'ca.key');
  await execa('openssl', ['req', '-x509', ...EC, '-keyout', caKey, '-out', ca, '-subj', '/CN=flagman test CA', '-days', '2']);
  /** Writes `${name}.crt` and `${name}.key`; resolves with their paths and the certificate's serial. */
  const leaf = async (name, dnsNames) => {
    const cert = path.join(dir, `${name}.crt`);
    const key = path.join(dir, `${name}.key`);
    await execa('openssl', [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      key,
      '-out',
      cert,
      '-subj',
      dnsNames.length > 0 ? `/CN=${dnsNames[0]}` : '/O=flagman test client',
      '-days',
      '2',
      '-CA',
      ca,
      '-CAkey',
      caKey,
      ...(dnsNames.length > 0
        ? ['-addext', `subjectAltName=${dnsNames.map((n) => (net.isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',')}`]
        : []),
      '-addext',
      'basicConstraints=critical,CA:FALSE',
    ]);
    return { cert, key, serial: new crypto.X509Certificate(fs.readFileSync(cert)).serialNumber };
  };
  return { ca, caPem: fs.readFileSync(ca), leaf };
}
