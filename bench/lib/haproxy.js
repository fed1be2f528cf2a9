// HAProxy as the comparison runs it: one process in the foreground (-db), one thread, keep-alive on
// both sides with idle server connections reused by any request (http-reuse always), and
// X-Forwarded-For added (option forwardfor), as flagman adds it. No logging. bench/overload.js adds
// a per-server limit (`server … maxconn N`) and `timeout queue`.
import fs from 'node:fs';
import path from 'node:path';

/**
 * The haproxy.cfg text for a listener on 127.0.0.1:`port` in front of 127.0.0.1:`upstream`;
 * `maxconn` (> 0) limits the server's requests in flight, `queueTimeout` (e.g. '5s') is `timeout queue`;
 * `tls` ({pem}: certificate and key in one file) terminates TLS there with ALPN h2 and http/1.1,
 * everything else about TLS left at HAProxy's defaults (session tickets and cache included).
 */
export function haproxyConfig({ port, upstream, maxconn = 0, queueTimeout = null, tls = null }) {
  return `# written by bench/proxies.js
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
${queueTimeout ? `    timeout queue ${queueTimeout}\n` : ''}    option forwardfor
    http-reuse always
frontend fe
    bind 127.0.0.1:${port}${tls ? ` ssl crt ${tls.pem} alpn h2,http/1.1` : ''}
    default_backend be
backend be
    server app1 127.0.0.1:${upstream}${maxconn > 0 ? ` maxconn ${maxconn}` : ''}
`;
}

/** Writes the config into `dir`; returns [command, args] that run it in the foreground. */
export function haproxyCommand(dir, opts) {
  const file = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(file, haproxyConfig(opts));
  return ['haproxy', ['-db', '-f', file]];
}
