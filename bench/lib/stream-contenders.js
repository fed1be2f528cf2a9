// The proxies bench/streams.js compares, each with four listeners in one process: `bulk`, `upload`
// and `echo` in TCP mode (bytes passed through), `ws` in HTTP mode in front of the origin's WebSocket server
// (an upgrade, then a tunnel). Each start() gets {dir, origin: {bulk, echo, sink, ws} (ports), cpu, cli,
// baseCli} and resolves {pid, ports: {bulk, upload, echo, ws}, stop()}.
import fs from 'node:fs';
import path from 'node:path';
import { namedPortServer } from './contenders.js';
import { startFlagman } from './flagman.js';
import { adopt, freePort } from './owned.js';

/** flagman: three tcp frontends and one HTTP frontend, one server each, access log off. */
export function flagmanStreamsConfig(origin) {
  return `# written by bench/streams.js
flags:
  dir: ./flags
log:
  access: off
frontends:
  bulk:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules:
      - use: bulk
  upload:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules:
      - use: upload
  echo:
    mode: tcp
    listen: ["127.0.0.1:0"]
    rules:
      - use: echo
  ws:
    listen: ["127.0.0.1:0"]
    rules:
      - use: ws
backends:
  bulk:
    mode: tcp
    servers:
      b1: { address: "127.0.0.1:${origin.bulk}" }
  upload:
    mode: tcp
    servers:
      u1: { address: "127.0.0.1:${origin.sink}" }
  echo:
    mode: tcp
    servers:
      e1: { address: "127.0.0.1:${origin.echo}" }
  ws:
    servers:
      w1: { address: "127.0.0.1:${origin.ws}" }
`;
}

async function flagman({ dir, origin, cpu, cli }) {
  fs.mkdirSync(path.join(dir, 'flags'), { recursive: true });
  const file = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(file, flagmanStreamsConfig(origin));
  const f = await startFlagman(cli, file, {
    prefix: cpu === null || cpu === undefined ? [] : ['taskset', '-c', String(cpu)],
    onSpawn: adopt,
    cwd: dir,
  });
  const port = (fe) => f.events.find((e) => e.event === 'listen' && e.frontend === fe)?.port;
  return {
    pid: f.pid,
    ports: { bulk: port('bulk'), upload: port('upload'), echo: port('echo'), ws: port('ws') },
    stop: () => f.stop(10_000),
  };
}

/** HAProxy: one thread; `mode tcp` for bulk, upload and echo; `mode http` for ws (it tunnels an upgrade by itself). */
export function haproxyStreamsConfig(ports, origin) {
  return `# written by bench/streams.js
global
    nbthread 1
    maxconn 4096
defaults
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend bulk
    mode tcp
    bind 127.0.0.1:${ports.bulk}
    default_backend bulk
frontend upload
    mode tcp
    bind 127.0.0.1:${ports.upload}
    default_backend upload
frontend echo
    mode tcp
    bind 127.0.0.1:${ports.echo}
    default_backend echo
frontend ws
    mode http
    bind 127.0.0.1:${ports.ws}
    default_backend ws
backend bulk
    mode tcp
    server b1 127.0.0.1:${origin.bulk}
backend upload
    mode tcp
    server u1 127.0.0.1:${origin.sink}
backend echo
    mode tcp
    server e1 127.0.0.1:${origin.echo}
backend ws
    mode http
    server w1 127.0.0.1:${origin.ws}
`;
}

/** Debian's stream module (libnginx-mod-stream). */
export const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

/** nginx: one worker; the stream module for bulk, upload and echo; HTTP proxying with the upgrade headers for ws. */
export function nginxStreamsConfig(ports, origin, dir) {
  const p = (name) => path.join(dir, name);
  return `# written by bench/streams.js
load_module ${NGINX_STREAM_MODULE};
daemon off;
master_process off;
worker_processes 1;
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
events { worker_connections 8192; }
stream {
    server {
        listen 127.0.0.1:${ports.bulk};
        proxy_pass 127.0.0.1:${origin.bulk};
    }
    server {
        listen 127.0.0.1:${ports.upload};
        proxy_pass 127.0.0.1:${origin.sink};
    }
    server {
        listen 127.0.0.1:${ports.echo};
        proxy_pass 127.0.0.1:${origin.echo};
    }
}
http {
    access_log off;
    client_body_temp_path ${p('client_body')};
    proxy_temp_path ${p('proxy')};
    fastcgi_temp_path ${p('fastcgi')};
    uwsgi_temp_path ${p('uwsgi')};
    scgi_temp_path ${p('scgi')};
    server {
        listen 127.0.0.1:${ports.ws};
        location / {
            proxy_pass http://127.0.0.1:${origin.ws};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }
    }
}
`;
}

// HAProxy or nginx: the three ports picked free, the `ws` one waited on (the others are checked by
// the bench's sanity pass before anything is measured).
async function named(what, write, { dir, origin, cpu }) {
  const ports = { bulk: await freePort(), upload: await freePort(), echo: await freePort() };
  const s = await namedPortServer(
    what,
    (d, { port }) => {
      ports.ws = port;
      return write(d, ports, origin);
    },
    { dir, backendPorts: [origin.ws], cpu },
  );
  return { pid: s.pid, ports, stop: s.stop };
}

export const STREAM_CONTENDERS = {
  flagman: {
    describe: 'flagman: three mode: tcp frontends, one HTTP frontend (the upgrade through its tunnel), access log off',
    start: (ctx) => flagman(ctx),
  },
  haproxy: {
    describe: 'HAProxy: -db, nbthread 1, mode tcp for bulk, upload and echo, mode http for ws',
    start: (ctx) =>
      named(
        'haproxy',
        (d, ports, origin) => {
          const file = path.join(d, 'haproxy.cfg');
          fs.writeFileSync(file, haproxyStreamsConfig(ports, origin));
          return ['haproxy', ['-db', '-f', file]];
        },
        ctx,
      ),
  },
  nginx: {
    describe: 'nginx: daemon off, master_process off, 1 worker, stream module for bulk, upload and echo, HTTP with Upgrade for ws',
    start: (ctx) =>
      named(
        'nginx',
        (d, ports, origin) => {
          const file = path.join(d, 'nginx.conf');
          fs.writeFileSync(file, nginxStreamsConfig(ports, origin, d));
          return ['nginx', ['-p', d, '-e', path.join(d, 'error.log'), '-c', file]];
        },
        ctx,
      ),
  },
  'flagman-base': {
    describe: 'flagman, the same config, run by --base-cli (another build, to compare a change against)',
    optional: true,
    start: (ctx) => {
      if (ctx.baseCli === null)
        throw new Error('flagman-base needs --base-cli PATH (the flagman command or dist/cli/main.js of another build)');
      return flagman({ ...ctx, cli: ctx.baseCli });
    },
  },
};

/** The cases: what one unit is, and the load client's defaults. */
export const STREAM_CASES = {
  bulk: { describe: '1 MiB transfers back to back (origin → client) over a few connections', unit: 'MiB', connections: 4 },
  upload: {
    describe: '1 MiB transfers back to back (client → origin, a one-byte receipt each) over a few connections',
    unit: 'MiB',
    connections: 4,
  },
  echo: { describe: '1 KiB request, 1 KiB response round trips', unit: 'rt', connections: 32 },
  ws: { describe: 'WebSocket upgrade, then 64-byte messages each way, 16 in flight per connection', unit: 'msg', connections: 16 },
};
