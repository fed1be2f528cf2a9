// openssl at bench time: a self-signed certificate for "localhost" made into a temp directory (an
// ECDSA P-256 or an RSA-2048 key), and whether a server resumes TLS sessions by default: one
// connection saves its session (-sess_out, after reading the whole response so TLS 1.3 tickets
// have arrived), a second offers it (-sess_in) and s_client says "Reused" or "New".
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The openssl `req -newkey` argument of each key kind. */
export const KEY_KINDS = {
  ecdsa: { describe: 'ECDSA P-256', newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] },
  rsa: { describe: 'RSA 2048', newkey: ['-newkey', 'rsa:2048'] },
};

/** Makes `kind`'s key and certificate in `dir`; returns {cert, key, pem (both in one file, for HAProxy)}. */
export function makeCertificate(dir, kind) {
  const cert = path.join(dir, `${kind}.crt`);
  const key = path.join(dir, `${kind}.key`);
  const args = ['req', '-x509', ...KEY_KINDS[kind].newkey, '-nodes', '-keyout', key, '-out', cert, '-days', '2'];
  const r = spawnSync('openssl', [...args, '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`openssl req (${kind}) failed: ${r.stderr}`);
  const pem = path.join(dir, `${kind}.pem`);
  fs.writeFileSync(pem, Buffer.concat([fs.readFileSync(cert), fs.readFileSync(key)]));
  return { cert, key, pem };
}

function sClient(port, version, sessionArgs) {
  const r = spawnSync(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', `-${version}`, '-ign_eof', ...sessionArgs],
    { input: 'GET /100 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', encoding: 'utf8', timeout: 15_000 },
  );
  const out = `${r.stdout ?? ''}`;
  const m = /^(New|Reused), (TLSv[\d.]+), Cipher is (\S+)/m.exec(out);
  if (!m) throw new Error(`openssl s_client -${version} to ${port}: no handshake (${r.status ?? r.signal}): ${r.stderr}`);
  return { reused: m[1] === 'Reused', protocol: m[2], cipher: m[3] };
}

/**
 * Whether the server on 127.0.0.1:`port` resumes a session offered back to it, with TLS `version`
 * ('tls1_3' or 'tls1_2'). Resolves {reused, protocol, cipher} (of the second connection).
 */
export function resumption(dir, port, version) {
  const file = path.join(dir, `session-${port}-${version}.pem`);
  sClient(port, version, ['-sess_out', file]);
  const second = sClient(port, version, ['-sess_in', file]);
  fs.rmSync(file, { force: true });
  return second;
}
