// The two flagman configurations the bench runs, written into a temp directory with their flags.
//
// minimal:   one rule (always matches), one server, access log off, no admin endpoint — the same
//            work as the other proxies in the comparison.
// realistic: 5 rules with CEL conditions, every one evaluated per request for the bench's traffic
//            (the first four do not match, the fifth does); the first is the maintenance switch with
//            a bypass CIDR, and MAINT is ON, so the flag does not fold the rule away and the CIDR is
//            checked on every request (the bench's client, 127.0.0.1, is the bypass network);
//            access log on (stdout, which the bench points at /dev/null); the admin endpoint on;
//            3 weighted servers (3:2:1, two of the weights from flags) with active health checks.
import fs from 'node:fs';
import path from 'node:path';

export const FLAGMAN_CONFIGS = {
  minimal: {
    describe: 'one rule, one server, access log off, no admin endpoint',
    servers: 1,
    flags: {},
    yaml: ({ ports }) => `# written by bench/proxies.js: flagman, minimal
flags:
  dir: ./flags
log:
  access: off
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:${ports[0]}" }
`,
  },
  // The flag benches' (flag-latency.js, fleet.js): MAINT > 0 routes to a 503 page, else to the one
  // server; `workers` as given (1: none).
  maintenance: {
    describe: 'MAINT > 0 routes to a 503 respond backend, else to one server; access log off',
    servers: 1,
    flags: {},
    yaml: ({ ports, workers = 1 }) => `# written by a flagman bench: maintenance
workers: ${workers}
flags:
  dir: ./flags
log:
  access: off
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: flag("MAINT") > 0
        use: maintenance
      - use: app
backends:
  app:
    servers:
      app1: { address: "127.0.0.1:${ports[0]}" }
  maintenance:
    respond: { status: 503, body: "maintenance\\n" }
`,
  },
  realistic: {
    describe: '5 CEL rules (maintenance with a bypass CIDR, MAINT on), access log on, admin on, 3 weighted servers with health checks',
    servers: 3,
    flags: { MAINT: '1 # bench: maintenance on, 127.0.0.0/8 bypasses it', CANARY: '1', 'app1.weight': '3' },
    // `idle` (bench/idle.js): timeouts.idle, so keep-alive clients are held as long as the others hold them.
    yaml: ({ ports, idle = null }) => `# written by bench/proxies.js: flagman, realistic
${idle === null ? '' : `timeouts: { idle: ${idle} }\n`}flags:
  dir: ./flags
  rescan: 1s
admin:
  listen: 127.0.0.1:0
log:
  access: on
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: flag("MAINT") > 0 && !cidr("127.0.0.0/8").containsIP(client.ip)
        use: maintenance
      - when: header("X-Canary") == "always" || (flag("CANARY") > 0 && cookie("canary") == "1")
        use: canary
      - when: request.path.startsWith("/admin/") && !cidr("10.0.0.0/8").containsIP(client.ip)
        use: forbidden
      - when: request.host == "static.example.com" || request.path.endsWith(".css")
        use: static
      - when: request.method in ["GET", "HEAD", "POST"] && flag("APP_OFF") == 0
        use: app
backends:
  app:
    balance: roundrobin
    health: { path: /healthz, interval: 2s, timeout: 1s, rise: 2, fall: 3 }
    servers:
      app1: { address: "127.0.0.1:${ports[0]}", weight: 'flag("app1.weight", 1)' }
      app2: { address: "127.0.0.1:${ports[1]}", weight: 2 }
      app3: { address: "127.0.0.1:${ports[2]}", weight: 'flag("app3.weight", 1)' }
  canary:
    servers:
      canary1: { address: "127.0.0.1:${ports[0]}" }
  maintenance:
    respond:
      status: 503
      body: "maintenance\\n"
      headers: { Retry-After: "120", Cache-Control: no-store }
  forbidden:
    respond:
      status: 403
      body: "forbidden\\n"
  static:
    respond:
      status: 200
      body: "static\\n"
`,
  },
};

// The realistic config and `more` backends besides, each with a rule of a second frontend (`more`,
// that the bench's traffic never reaches): a large config, ~5 lines a backend (bench/churn.js
// --more-backends: what a reload of a large file costs the requests meanwhile).
FLAGMAN_CONFIGS['realistic-large'] = {
  ...FLAGMAN_CONFIGS.realistic,
  describe: `${FLAGMAN_CONFIGS.realistic.describe}; more backends, each with a rule of another frontend`,
  yaml: ({ ports, more = 300, idle = null }) => {
    let rules = '';
    let backends = '';
    for (let i = 0; i < more; i++) {
      rules += `      - when: request.path.startsWith("/m${i}/")\n        use: m${i}\n`;
      backends += `  m${i}:\n    servers:\n      m${i}a: { address: "127.0.0.1:${ports[i % ports.length]}", weight: ${1 + (i % 3)} }\n`;
    }
    const y = FLAGMAN_CONFIGS.realistic.yaml({ ports, idle });
    if (!y.includes('\nbackends:\n')) throw new Error('realistic-large: no backends section');
    return y.replace('\nbackends:\n', `\n  more:\n    listen: ["127.0.0.1:0"]\n    rules:\n${rules}backends:\n${backends}`);
  },
};

// The realistic config served by two worker processes (docs/workers.md).
FLAGMAN_CONFIGS['realistic-2w'] = {
  ...FLAGMAN_CONFIGS.realistic,
  describe: `${FLAGMAN_CONFIGS.realistic.describe}; workers: 2`,
  yaml: (ctx) => `workers: 2\n${FLAGMAN_CONFIGS.realistic.yaml(ctx)}`,
};

// The minimal config with a per-server limit and the backend's queue (docs/proxying.md, "Limits and
// the queue"): bench/overload.js, next to HAProxy's `server … maxconn N` and `timeout queue`.
FLAGMAN_CONFIGS['minimal-maxconn'] = {
  ...FLAGMAN_CONFIGS.minimal,
  describe: `${FLAGMAN_CONFIGS.minimal.describe}; the server's maxconn and timeouts.queue set`,
  yaml: ({ ports, maxconn = 5, queueTimeout = '5s' }) =>
    FLAGMAN_CONFIGS.minimal
      .yaml({ ports })
      .replace('log:\n', `timeouts: { queue: ${queueTimeout} }\nlog:\n`)
      .replace(`app1: { address: "127.0.0.1:${ports[0]}" }`, `app1: { address: "127.0.0.1:${ports[0]}", maxconn: ${maxconn} }`),
};

// The realistic config with its frontend serving HTTPS (HTTP/2 and HTTP/1.1 by ALPN, docs/tls.md):
// bench/tls.js, next to HAProxy and nginx terminating TLS with the same certificate; `idle` as the
// realistic config's (bench/idle.js: timeouts.idle is also how long an HTTP/2 session may idle).
FLAGMAN_CONFIGS['realistic-tls'] = {
  ...FLAGMAN_CONFIGS.realistic,
  describe: `${FLAGMAN_CONFIGS.realistic.describe}; TLS frontend`,
  yaml: ({ ports, cert, key, idle = null }) =>
    FLAGMAN_CONFIGS.realistic
      .yaml({ ports, idle })
      .replace(
        '  web:\n    listen: ["127.0.0.1:0"]\n',
        `  web:\n    listen: ["127.0.0.1:0"]\n    tls: { cert: "${cert}", key: "${key}" }\n`,
      ),
};

/**
 * Writes config `name` and its flags into `dir` (flags in dir/flags); returns the config file.
 * `options` go to the config's yaml() (minimal-maxconn: maxconn, queueTimeout).
 */
export function writeFlagmanConfig(dir, name, ports, options = {}) {
  const c = FLAGMAN_CONFIGS[name];
  const flagsDir = path.join(dir, 'flags');
  fs.mkdirSync(flagsDir, { recursive: true, mode: 0o755 });
  for (const [k, v] of Object.entries(c.flags)) fs.writeFileSync(path.join(flagsDir, k), `${v}\n`);
  const file = path.join(dir, 'flagman.yaml');
  fs.writeFileSync(file, c.yaml({ ...options, ports }));
  return file;
}
