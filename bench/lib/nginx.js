// nginx as the comparison runs it: in the foreground (daemon off), no master process, one worker;
// an upstream block with keepalive connections (HTTP/1.1, Connection ""), X-Forwarded-For added,
// request bodies streamed (proxy_request_buffering off, no size limit) and responses kept in memory
// buffers (proxy_max_temp_file_size 0: never spilled to disk). Every path nginx writes is in `dir`.
import fs from 'node:fs';
import path from 'node:path';

/**
 * The nginx.conf text for a listener on 127.0.0.1:`port` in front of 127.0.0.1:`upstream`; `tls`
 * ({cert, key}) terminates TLS there with HTTP/2 on, TLS 1.2 and 1.3 (nginx 1.22's default list
 * lacks 1.3) and the rest at nginx's defaults (session tickets on, no shared session cache).
 */
export function nginxConfig({ port, upstream, dir, tls = null }) {
  const p = (name) => path.join(dir, name);
  return `# written by bench/proxies.js
daemon off;
master_process off;
worker_processes 1;
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path ${p('client_body')};
    proxy_temp_path ${p('proxy')};
    fastcgi_temp_path ${p('fastcgi')};
    uwsgi_temp_path ${p('uwsgi')};
    scgi_temp_path ${p('scgi')};
    upstream be {
        server 127.0.0.1:${upstream};
        keepalive 128;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }
    server {
        listen 127.0.0.1:${port}${tls ? ' ssl http2' : ''};
${tls ? `        ssl_certificate ${tls.cert};\n        ssl_certificate_key ${tls.key};\n        ssl_protocols TLSv1.2 TLSv1.3;\n` : ''}        keepalive_requests 1000000;
        keepalive_timeout 60s;
        client_max_body_size 0;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_request_buffering off;
            proxy_buffer_size 16k;
            proxy_buffers 8 16k;
            proxy_max_temp_file_size 0;
        }
    }
}
`;
}

/** Writes the config into `dir`; returns [command, args] that run it in the foreground. */
export function nginxCommand(dir, opts) {
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, nginxConfig({ ...opts, dir }));
  return ['nginx', ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', file]];
}
