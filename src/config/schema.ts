// The typed, validated, frozen shape of flagman.yaml (docs/configuration.md). Everything past config/load.ts takes
// these types, never `unknown`. Durations are milliseconds; paths are absolute.

/** A position in the config file, 1-based. */
export interface Position {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** A CEL expression as written, with the position of its first character in the config file. */
export interface ExprSource {
  readonly source: string;
  readonly at: Position;
}

/**
 * host:port, [v6]:port, :port (all interfaces), or systemd:NAME (an inherited socket). For `:port`
 * the host is '' (units.ts ALL_INTERFACES): pass it to listen() as is; Node then binds `::`
 * dual-stack (IPv4 and IPv6) and falls back to `0.0.0.0` where IPv6 is unavailable. IPv6 hosts are
 * kept without brackets. Port 0 asks for a free port.
 */
export type ListenAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly text: string; readonly at: Position }
  | { readonly kind: 'systemd'; readonly name: string; readonly text: string; readonly at: Position };

export interface Timeouts {
  /** To a server. */
  readonly connect: number;
  /** Waiting for a server's response headers / between its body chunks. */
  readonly server: number;
  /** A client sending its request headers (slowloris). */
  readonly client: number;
  /** Keep-alive idle, both sides; in a tcp backend, a connection with no byte either way. */
  readonly idle: number;
  /** The idle timeout of tcp backends that set none of their own (database sessions idle long). */
  readonly tcpIdle: number;
  /** Graceful stop: in-flight requests may finish. */
  readonly shutdown: number;
  /** A request (tcp: a connection) waiting for a server with a free slot (maxconn), then 503 (tcp: closed). */
  readonly queue: number;
}

/**
 * What a frontend speaks and a backend carries: HTTP/1.1 requests, or raw TCP connections passed
 * through byte for byte (a database, a mail server). A tcp frontend can only use tcp backends.
 */
export const MODES = ['http', 'tcp'] as const;
export type Mode = (typeof MODES)[number];

export interface RuleConfig {
  /** null: the rule always matches. */
  readonly when: ExprSource | null;
  readonly use: string;
  /** The largest request body in bytes; `off`: none; null: the frontend's `maxBody`. */
  readonly maxBody: number | 'off' | null;
  /** null: requests are not rate-limited. */
  readonly limit: RateLimitConfig | null;
  readonly at: Position;
  /** Position of the `use` value, for unknown-backend errors. */
  readonly useAt: Position;
}

/**
 * A rule's rate limit (docs/proxying.md, "Limits and the queue"): a token bucket per key that holds `rate` +
 * `burst` requests and refills at `rate` a second.
 */
export interface RateLimitConfig {
  /** Requests a second: CEL using flag() only; a plain YAML integer arrives as its source text. */
  readonly rate: ExprSource;
  /** Requests allowed at once on top of `rate`. */
  readonly burst: number;
  /** CEL giving each request's key (a string); null: one bucket for the whole rule. */
  readonly by: ExprSource | null;
  readonly at: Position;
}

/**
 * What a frontend does with a request header whose name holds `_`: forward it (Node's parser and
 * HTTP allow it), refuse the request with 400, or drop the header (nginx's default). A proxy in
 * front of a CGI-style server has a reason not to forward them: `X_User` and `X-User` both become
 * HTTP_X_USER there, so a client can forge a header a trusted proxy set.
 */
export type UnderscoreHeaders = 'allow' | 'refuse' | 'drop';

/**
 * An address or CIDR block as written (`trustedProxies`), with where: it is parsed, and an invalid
 * one reported at `at`, when the program is compiled (expr/forwarded.ts), by the parser of
 * `cidr("…")`, so the two cannot read a block differently.
 */
export interface AddressText {
  readonly text: string;
  /** Dotted path for messages: `frontends.web.trustedProxies[0]`. */
  readonly path: string;
  readonly at: Position;
}

/** One certificate and its private key (PEM files; absolute paths). */
export interface TlsPairConfig {
  readonly cert: string;
  readonly key: string;
  /** Where the pair is written, for errors found when the files are read. */
  readonly at: Position;
}

/**
 * TLS on a frontend: one pair, or several chosen by the name the client asks for (SNI) among the
 * names in each certificate; the first pair answers any other name, and clients that send none.
 */
export interface TlsConfig {
  readonly certificates: readonly TlsPairConfig[];
  readonly at: Position;
}

export interface FrontendConfig {
  readonly name: string;
  readonly mode: Mode;
  readonly listen: readonly ListenAddress[];
  readonly rules: readonly RuleConfig[];
  readonly underscoreHeaders: UnderscoreHeaders;
  /** null: plain HTTP. */
  readonly tls: TlsConfig | null;
  /** The largest request body in bytes, for rules that set none; null: none. */
  readonly maxBody: number | null;
  /**
   * The frontend's client connections served at once, every listener together; the next ones wait,
   * unread, until one closes (docs/proxying.md, "Limits and the queue"). 0: no limit. Not a
   * server's maxconn (ServerConfig), which bounds the requests in flight to one server.
   */
  readonly maxconn: number;
  /**
   * Every connection starts with a PROXY protocol header (v1 or v2) whose client becomes the
   * connection's (proxy/accept-proxy.ts); one without is closed. For frontends behind a balancer.
   */
  readonly acceptProxy: boolean;
  /**
   * The addresses and blocks of the proxies (load balancers) in front whose X-Forwarded-For names
   * the client (docs/proxying.md, "Behind a load balancer: X-Forwarded-For"); empty: the
   * connection's address (clientIpOf) is the client.
   */
  readonly trustedProxies: readonly AddressText[];
  /** Request IDs (docs/proxying.md, "Request IDs"): the header that carries them; null: none (the default). */
  readonly requestId: { readonly header: string } | null;
  readonly at: Position;
}

/** The PROXY protocol version sent to a server at the start of each connection (`sendProxy`). */
export const SEND_PROXY = ['v1', 'v2'] as const;
export type SendProxy = (typeof SEND_PROXY)[number];

/** A server's `sendProxy` as the version number the header builder takes; null: none. */
export function proxyVersion(s: SendProxy | null): 1 | 2 | null {
  return s === null ? null : s === 'v1' ? 1 : 2;
}

/** An inclusive range of HTTP status codes, such as 200–399. */
export interface StatusRange {
  readonly min: number;
  readonly max: number;
}

/** When and how often a backend's servers are checked, whatever the check. */
export interface HealthTiming {
  readonly interval: number;
  readonly timeout: number;
  readonly rise: number;
  readonly fall: number;
}

/** Active health checks of a backend's servers: an HTTP request, a TCP connect, or a command. */
export type HealthConfig = HealthTiming &
  (
    | { readonly type: 'http'; readonly path: string; readonly status: StatusRange }
    | { readonly type: 'tcp' }
    | {
        readonly type: 'exec';
        /** [file, ...args]; a file with a "/" is absolute (resolved against the config's folder). */
        readonly command: readonly string[];
        /** Where the command is written, for errors found when it is looked up. */
        readonly commandAt: Position;
        /** The config file's folder: the command's working directory. */
        readonly cwd: string;
      }
  );

export interface ServerConfig {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** CEL using flag() only; a plain YAML integer arrives as its source text. Default "1". */
  readonly weight: ExprSource;
  /**
   * The most requests (tcp: connections) in flight to the server at once: CEL using flag() only, a
   * plain YAML integer as its source text; 0 is no limit. null: not given (no limit, nothing compiled).
   */
  readonly maxconn: ExprSource | null;
  /** The PROXY header each connection to it starts with: its own `sendProxy`, else its backend's; null: none. */
  readonly sendProxy: SendProxy | null;
  readonly at: Position;
}

export interface ProxyBackendConfig {
  readonly kind: 'proxy';
  readonly name: string;
  readonly mode: Mode;
  readonly balance: 'roundrobin' | 'leastconn';
  readonly health: HealthConfig | null;
  readonly fallback: string | null;
  readonly fallbackAt: Position | null;
  /** The top-level timeouts with this backend's overrides applied. */
  readonly timeouts: Timeouts;
  /** The most requests (tcp: connections) that may wait in the backend's queue; null: no bound. */
  readonly queue: number | null;
  readonly servers: readonly ServerConfig[];
  readonly at: Position;
}

export interface RespondBackendConfig {
  readonly kind: 'respond';
  readonly name: string;
  readonly status: number;
  /** Inline body; null when a file is given (or no body at all). */
  readonly body: string | null;
  /** Absolute path of a file served as the body, re-read when it changes. */
  readonly file: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly at: Position;
}

/** Answers every request with a redirect to the same host, path and query under another scheme/port. */
export interface RedirectBackendConfig {
  readonly kind: 'redirect';
  readonly name: string;
  readonly scheme: 'http' | 'https';
  /** null: the scheme's default port (none written in the Location). */
  readonly port: number | null;
  readonly status: (typeof REDIRECT_STATUSES)[number];
  readonly at: Position;
}

/** A tcp backend that closes every connection it is given at once (a maintenance switch's "off"). */
export interface RefuseBackendConfig {
  readonly kind: 'refuse';
  readonly name: string;
  readonly at: Position;
}

export type BackendConfig = ProxyBackendConfig | RespondBackendConfig | RedirectBackendConfig | RefuseBackendConfig;

/** The mode of connections a backend takes: respond and redirect answer HTTP, refuse closes TCP connections. */
export function backendMode(b: BackendConfig): Mode {
  return b.kind === 'proxy' ? b.mode : b.kind === 'refuse' ? 'tcp' : 'http';
}

export interface Config {
  /** Absolute path of the config file. */
  readonly file: string;
  readonly flags: {
    /** Absolute path of the flags directory. */
    readonly dir: string;
    readonly rescan: number;
    readonly allowWorldWritable: boolean;
    /** Absolute path of the state file (every flag's last good value); null: off. */
    readonly state: string | null;
    /** `flags.state` was written in the config (else `state` is the default location). */
    readonly stateConfigured: boolean;
  };
  readonly admin: { readonly listen: ListenAddress | null };
  readonly timeouts: Timeouts;
  readonly log: {
    /** How the access log is written; null: off. */
    readonly access: AccessLogConfig | null;
    /** The file the access log is appended to (absolute), with the position of `log.file`; null: stdout. */
    readonly file: { readonly path: string; readonly at: Position } | null;
  };
  /** Processes serving requests (`auto`: one per available CPU, resolved at load). */
  readonly workers: { readonly count: number; readonly auto: boolean };
  /** In file order. */
  readonly frontends: readonly FrontendConfig[];
  /** In file order. */
  readonly backends: readonly BackendConfig[];
}

/** The fields an access line may carry (config/sections.ts ACCESS_FIELDS names and describes them). */
export type AccessField =
  | 'frontend'
  | 'mode'
  | 'backend'
  | 'server'
  | 'method'
  | 'path'
  | 'proto'
  | 'tls'
  | 'upgrade'
  | 'status'
  | 'bytesIn'
  | 'bytes'
  | 'bytesOut'
  | 'headMs'
  | 'queueMs'
  | 'connectMs'
  | 'ttfbMs'
  | 'ms'
  | 'tries'
  | 'ip'
  | 'peer'
  | 'id'
  | 'reason';

export const ACCESS_FORMATS = ['json', 'clf'] as const;
export type AccessFormat = (typeof ACCESS_FORMATS)[number];

/** `log.access` when it is on. */
export interface AccessLogConfig {
  /** `json`: a JSON line; `clf`: the combined log format. */
  readonly format: AccessFormat;
  /** The fields a JSON line carries, in the line's order; null: every one that applies. */
  readonly fields: readonly AccessField[] | null;
}

// Defaults in one table, units in the names' comments (docs/design/conventions.md).
export const DEFAULTS = {
  flagsDir: './flags',
  rescan: 1000, // ms
  adminListen: '127.0.0.1:8404',
  workers: 1,
  timeouts: {
    connect: 5000, // ms
    server: 60000, // ms
    client: 10000, // ms
    idle: 5000, // ms
    tcpIdle: 3_600_000, // ms (1h): a pooled database connection may sit idle for long
    shutdown: 25000, // ms
    queue: 5000, // ms
  },
  mode: 'http',
  // type, path, status range, interval ms, timeout ms, rise checks, fall checks
  health: { type: 'http', path: '/healthz', status: { min: 200, max: 399 }, interval: 2000, timeout: 1000, rise: 2, fall: 3 },
  balance: 'roundrobin',
  weight: '1',
  maxconn: 0, // no limit
  respondStatus: 200,
  redirectScheme: 'https',
  redirectStatus: 301,
  logAccess: true,
  burst: 0, // requests at once on top of the rate
  rateKeys: 100_000, // keys (buckets) a rate-limited rule keeps per process; the least recently used goes
  requestIdHeader: 'X-Request-Id',
} as const;

/**
 * The largest maxconn (a frontend's, a server's) and backend queue bound; a larger server maxconn
 * from a flag is clamped to it.
 */
export const MAX_MAXCONN = 1_000_000;
export const MAX_QUEUE = 1_000_000;

/** The largest weight (docs/configuration.md); a larger one from a flag is clamped to it. */
export const MAX_WEIGHT = 256;

/** The largest rate (requests a second) and burst; a flag-driven rate is clamped to 1–MAX_RATE. */
export const MAX_RATE = 1_000_000;

export const BALANCERS = ['roundrobin', 'leastconn'] as const;

export const HEALTH_TYPES = ['http', 'tcp', 'exec'] as const;

export const REDIRECT_STATUSES = [301, 302, 303, 307, 308] as const;
