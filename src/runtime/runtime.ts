// The compiled runtime: config × flag snapshot, everything a request needs, precomputed. Immutable
// and replaced whole (docs/design/conventions.md); each request reads it once and keeps it to the end.
import type { AccessLog } from '../access-line.js';
import type { HealthConfig, Mode, Timeouts, UnderscoreHeaders } from '../config/schema.js';
import type { RequestInput } from '../expr/environment.js';
import type { TrustedProxies } from '../expr/forwarded.js';
import type { Balancer, Candidate } from './balance/balancer.js';
import type { Page } from './pages.js';
import type { RateBuckets } from './buckets.js';
import type { BackendQueue } from './queue.js';
import type { Counters, FrontendLimitCounters, RuleState } from './servers.js';

export interface RespondTarget {
  readonly kind: 'respond';
  readonly name: string;
  readonly counters: Counters;
  readonly status: number;
  /** Flat [name, value, …], Content-Type included. */
  readonly headers: readonly string[];
  /** The body, refreshed in place when its file changes. */
  readonly page: Page;
}

export interface ProxyTarget {
  readonly kind: 'proxy';
  readonly name: string;
  /** http: requests through pooled connections; tcp: each client connection joined to one of its own. */
  readonly mode: Mode;
  readonly counters: Counters;
  /** Every server, in config order (for status). */
  readonly servers: readonly Candidate[];
  /**
   * The servers a new request may go to (server-state.ts: weight > 0 and health up), computed when
   * a weight or a health changes, so a pick never filters.
   */
  readonly eligible: readonly Candidate[];
  readonly balancer: Balancer;
  /**
   * Some server has a maxconn under these flags: a pick skips the servers at their limit, and a
   * request that finds no free slot waits in `queue`. false: none of that runs.
   */
  readonly limited: boolean;
  /** The backend's queue (queue.ts), the same object for every runtime: observed state, kept by name. */
  readonly queue: BackendQueue<ProxyTarget>;
  /** The most that may wait in the queue (config `queue`); null: no bound. */
  readonly queueBound: number | null;
  /** Active checks, whose rise and fall passive failures count toward too; null: no checks, always up. */
  readonly health: HealthConfig | null;
  readonly timeouts: Timeouts;
  /** Where requests go when no server is eligible; null: 503. */
  readonly fallback: Target | null;
}

export interface RedirectTarget {
  readonly kind: 'redirect';
  readonly name: string;
  readonly counters: Counters;
  readonly status: number;
  /** `https://` or `http://`: the start of every Location. */
  readonly prefix: string;
  /** `:8443`, or '' for the scheme's own port: what follows the host in every Location. */
  readonly port: string;
}

/** A tcp backend that closes every connection at once (config `refuse: true`). */
export interface RefuseTarget {
  readonly kind: 'refuse';
  readonly name: string;
  readonly counters: Counters;
}

export type Target = RespondTarget | ProxyTarget | RedirectTarget | RefuseTarget;

/** A rule's rate limit under the current flags (docs/proxying.md, "Limits and the queue"). */
export interface RuntimeLimit {
  /** Requests a second. */
  readonly rate: number;
  readonly burst: number;
  /** rate + burst: what a bucket holds. */
  readonly capacity: number;
  /** The `by` expression as written; null: one bucket for the rule. */
  readonly by: string | null;
  /** A request's key; null: every request has the key "". */
  readonly key: ((input: RequestInput) => string) | null;
  readonly buckets: RateBuckets;
}

/** The limits of one rule of the config, whether or not the flags leave it in the rule list. */
export interface RuleLimits {
  /** The rule's number in the file (1-based). */
  readonly rule: number;
  /** Its backend's name. */
  readonly use: string;
  /** The largest request body in bytes: the rule's, else its frontend's; Infinity: none. */
  readonly maxBody: number;
  /** null: not rate-limited (none configured, or its rate could not be computed). */
  readonly limit: RuntimeLimit | null;
  /** Its refusals and buckets (observed). */
  readonly state: RuleState;
}

export interface RuntimeRule {
  /** Index of the rule in the config, for explain and logs. */
  readonly index: number;
  /** null: matches every request (no `when`, or its flags made it constant true). */
  readonly test: ((input: RequestInput) => boolean) | null;
  readonly target: Target;
  readonly limits: RuleLimits;
}

export interface RuntimeFrontend {
  readonly name: string;
  readonly mode: Mode;
  readonly counters: Counters;
  /** Rules whose flags made them constant false are left out; a constant-true rule ends the list. */
  readonly rules: readonly RuntimeRule[];
  readonly underscoreHeaders: UnderscoreHeaders;
  /** Every rule of the config, in file order, with its limits (for status). */
  readonly limits: readonly RuleLimits[];
  /** Client connections served at once, as configured (proxy/maxconn.ts); 0: no limit. */
  readonly maxconn: number;
  /** What this process serves of them: `maxconn`, or with workers each one's share (rounded up). */
  readonly connCap: number | null;
  readonly limitCounters: FrontendLimitCounters;
  /** Whose X-Forwarded-For names the client (proxy/origin.ts); null: nobody's, the connection's address is the client. */
  readonly trustedProxies: TrustedProxies | null;
  /** The header of the frontend's request IDs (proxy/request-id.ts); null: it gives none. */
  readonly requestId: RequestIdHeader | null;
  /** Its connections start with a PROXY header (proxy/accept-proxy.ts): what status shows of it. */
  readonly acceptProxy: boolean;
}

/** A frontend's request IDs: the header that carries them, as configured and lower-cased. */
export interface RequestIdHeader {
  readonly header: string;
  readonly lower: string;
}

export interface Runtime {
  /** Config generation (counts loads) and flag snapshot version it was built from. */
  readonly generation: number;
  readonly flagsVersion: number;
  /**
   * The value each flag its expressions read was folded with (unset: null). A snapshot that gives
   * every one of them the same value builds the same runtime (sameFolding, compile.ts).
   */
  readonly folded: ReadonlyMap<string, number | null>;
  /** In config order; a listener keeps the index of its frontend. */
  readonly frontends: readonly RuntimeFrontend[];
  readonly targets: ReadonlyMap<string, Target>;
  /** What the flags made of the expressions that needs an operator's eye (a clamped weight, a failing rule). */
  readonly problems: readonly string[];
  /** Writes the access lines (`log.access`); null: off. */
  readonly accessLog: AccessLog | null;
}
