// Which rule a request would match now, and why (`flagman explain`: docs/cli.md; `/explain`: docs/admin.md). It walks
// the rules with the very functions the proxy's runtime is built from — specialize() folds the flag
// snapshot into each condition, the residual tests the request — so an explanation cannot disagree
// with routing. The CLI feeds it the config and a one-shot read of the flags directory; the admin
// endpoint feeds it the live program and snapshot.
import type { IncomingHttpHeaders } from 'node:http';
import { FlagmanError } from '../errors.js';
import { forwardedClient, forwardedHostOf, schemeOf } from '../expr/forwarded.js';
import type { RequestInput } from '../expr/request.js';
import { specialize, specializeKey, specializeRate } from '../expr/specialize.js';
import type { FlagSnapshot } from '../flags/snapshot.js';
import type { Program } from '../runtime/compile.js';

/** The request to explain; what is not given takes a plain default. */
export interface ExplainRequest {
  readonly frontend?: string | undefined;
  readonly method?: string | undefined;
  /** Path, with a query if any. */
  readonly path?: string | undefined;
  readonly host?: string | undefined;
  /**
   * The address the connection comes from (request.peer); `client.ip` too, unless it is one of
   * the frontend's trusted proxies and the headers have an X-Forwarded-For.
   */
  readonly ip?: string | undefined;
  /** `Name: value` pairs, as given on the command line or in the query. */
  readonly headers?: readonly (readonly [string, string])[] | undefined;
}

/** One rule as the request met it. */
export interface RuleStep {
  /** 1-based, as an operator counts rules in the file. */
  readonly rule: number;
  readonly when: string | null;
  readonly use: string;
  /** match; no match; `off`: the flags alone rule it out, whatever the request. */
  readonly result: 'match' | 'no match' | 'off';
  /** What is left of `when` once the flags are folded in (null when no `when`). */
  readonly residual: string | null;
  /** The flags `when` reads, with their values now (null: unset). */
  readonly flags: Readonly<Record<string, number | null>>;
  readonly problem: string | null;
}

/** A server of the chosen backend, with its weight under the current flags. */
export interface ServerStep {
  readonly name: string;
  readonly address: string;
  readonly weight: number;
  /** Its maxconn under the current flags (docs/proxying.md, "Limits and the queue"); 0: no limit. */
  readonly maxconn: number;
  /** Health from the running instance's checks; null when not known (the CLI runs no checks). */
  readonly health: 'up' | 'down' | null;
  readonly flags: Readonly<Record<string, number | null>>;
}

/** The limits of the matching rule (docs/proxying.md, "Limits and the queue"). */
export interface LimitsStep {
  /** The largest request body in bytes; null: none. */
  readonly maxBody: number | null;
  /** Whose it is: the rule's own `maxBody` (`off` included), the frontend's, or null (none set). */
  readonly maxBodyFrom: 'rule' | 'frontend' | null;
  /** The rule's rate limit under the current flags; null: none. */
  readonly rate: {
    /** Requests a second; null: the rate could not be computed, nothing is limited. */
    readonly rate: number | null;
    readonly burst: number;
    /** The `by` expression; null: one bucket for the rule. */
    readonly by: string | null;
    /** This request's key ("" when no `by`). */
    readonly key: string;
    /** The flags the rate and the key read, with their values now. */
    readonly flags: Readonly<Record<string, number | null>>;
    readonly problem: string | null;
  } | null;
}

export interface Explanation {
  readonly frontend: string;
  /** tcp: a connection is explained, of which only the client address matters. */
  readonly mode: 'http' | 'tcp';
  /**
   * What the request is judged on. `ip` is client.ip, `peer` the connection's address: the same
   * unless a trusted proxy's X-Forwarded-For named another. `scheme` and `host` are request.scheme
   * and the Host (with its port, if any) request.host reads: a trusted proxy's valid
   * X-Forwarded-Proto and X-Forwarded-Host, else the listener's and the Host header.
   */
  readonly request: {
    readonly method: string;
    readonly path: string;
    readonly scheme: string;
    readonly host: string | null;
    readonly ip: string;
    readonly peer: string;
    readonly headers: Readonly<Record<string, string>>;
  };
  /** The matching rule (1-based), or null: no rule matched (503). */
  readonly rule: number | null;
  /** The backend that answers: the rule's, or its fallback when no server is eligible; null: 503. */
  readonly backend: string | null;
  /** The rule's backend when a fallback answers instead (or 503 for lack of servers), else null. */
  readonly unavailable: string | null;
  /** Every flag read by the rules walked and by the chosen backend's weights: what decided it. */
  readonly flags: Readonly<Record<string, number | null>>;
  readonly steps: readonly RuleStep[];
  readonly servers: readonly ServerStep[];
  /** The matching rule's limits; null when no rule matches, and for tcp (no request to limit). */
  readonly limits: LimitsStep | null;
  /** The frontend's maxconn, the client connections it serves at once (tcp too); 0: no limit. */
  readonly maxconn: number;
  /** Flag snapshot version the answer is for (0 for a one-shot read). */
  readonly flagsVersion: number;
}

function flagValues(names: readonly string[], snapshot: FlagSnapshot, into: Record<string, number | null>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const n of names) {
    const v = snapshot.flags.get(n)?.value ?? null;
    out[n] = v;
    into[n] = v;
  }
  return out;
}

/** Health of a server as a running instance sees it; null when unknown. */
export type HealthOf = (backend: string, server: string) => 'up' | 'down' | null;

/**
 * The request to explain from its fields by name and its `Name: value` headers, as the command
 * line (`--method`, `--header`) and the admin endpoint's query (`?method=`, `&header=`) give them
 * alike; a string says which header is not `NAME:VALUE`.
 */
export function explainRequestOf(field: (name: string) => string | undefined, headerTexts: readonly string[]): ExplainRequest | string {
  const headers: [string, string][] = [];
  for (const text of headerTexts) {
    const i = text.indexOf(':');
    if (i <= 0) return `header "${text}": expected NAME:VALUE`;
    headers.push([text.slice(0, i).trim(), text.slice(i + 1).trim()]);
  }
  return { frontend: field('frontend'), method: field('method'), path: field('path'), host: field('host'), ip: field('ip'), headers };
}

/**
 * Explains `req` against `program` under `snapshot`; `health` (the admin endpoint's) makes a down
 * server ineligible as it is for routing. Throws FlagmanError USAGE for an unknown frontend.
 */
export function explain(program: Program, snapshot: FlagSnapshot, req: ExplainRequest, health: HealthOf = () => null): Explanation {
  const { config } = program;
  const index = req.frontend === undefined ? 0 : config.frontends.findIndex((f) => f.name === req.frontend);
  const fe = config.frontends[index];
  if (fe === undefined) {
    const known = config.frontends.map((f) => f.name).join(', ');
    throw new FlagmanError('USAGE', `no frontend named "${req.frontend ?? ''}" in ${config.file} (frontends: ${known})`, {
      file: config.file,
    });
  }
  const headers: IncomingHttpHeaders = {};
  const shown: Record<string, string> = {};
  for (const [k, v] of req.headers ?? []) {
    const name = k.trim().toLowerCase();
    const prev = headers[name];
    headers[name] = typeof prev === 'string' ? `${prev}, ${v}` : v;
    shown[name] = headers[name] as string;
  }
  const host = req.host ?? (typeof headers.host === 'string' ? headers.host : undefined);
  if (host !== undefined) headers.host = host;
  // Who the request is from and what it asks for, as the proxy decides it (proxy/origin.ts).
  const peer = req.ip ?? '127.0.0.1';
  const proxies = program.trusted[index] ?? null;
  const trusted = proxies?.contains(peer) === true;
  const ip = trusted ? forwardedClient(headers['x-forwarded-for'], peer, proxies) : peer;
  const scheme = schemeOf(trusted, fe.tls === null ? 'http' : 'https', headers);
  const judged = forwardedHostOf(trusted, headers) ?? host;
  const input: RequestInput = {
    method: (req.method ?? 'GET').toUpperCase(),
    url: req.path ?? '/',
    host: judged,
    scheme,
    clientIp: ip,
    peer,
    headers,
  };

  const decided: Record<string, number | null> = {};
  const steps: RuleStep[] = [];
  let matched: number | null = null;
  for (const [i, rule] of fe.rules.entries()) {
    const compiled = program.conditions[index]![i] ?? null;
    let result: RuleStep['result'];
    let residual: string | null = null;
    let problem: string | null = null;
    let flags: Record<string, number | null> = {};
    if (compiled === null) {
      result = 'match';
    } else {
      flags = flagValues(compiled.flags, snapshot, decided);
      const r = specialize(compiled, snapshot);
      residual = r.source;
      problem = r.problem;
      if (r.kind === 'const') result = r.value ? 'match' : 'off';
      else result = r.test(input) ? 'match' : 'no match';
    }
    steps.push({ rule: i + 1, when: rule.when?.source ?? null, use: rule.use, result, residual, flags, problem });
    if (result === 'match') {
      matched = i;
      break;
    }
  }

  let backend: string | null = matched === null ? null : fe.rules[matched]!.use;
  let unavailable: string | null = null;
  let servers: ServerStep[] = [];
  // Follow fallbacks as the proxy does when no server of a backend is eligible (config/refs.ts forbids loops).
  for (let hops = 0; backend !== null && hops <= config.backends.length; hops++) {
    const be = config.backends.find((b) => b.name === backend);
    if (be === undefined || be.kind !== 'proxy') break;
    servers = be.servers.map((s) => {
      const compiled = program.weights.get(s)!;
      const weight = specialize(compiled, snapshot).value;
      const limit = program.maxconns.get(s);
      const maxconn = limit === undefined ? 0 : specialize(limit, snapshot).value;
      const flags = flagValues([...compiled.flags, ...(limit?.flags ?? [])], snapshot, decided);
      return { name: s.name, address: `${s.host}:${s.port}`, weight, maxconn, health: health(be.name, s.name), flags };
    });
    if (servers.some((s) => s.weight > 0 && s.health !== 'down')) break;
    unavailable ??= backend;
    backend = be.fallback;
  }
  let limits: LimitsStep | null = null;
  if (matched !== null && fe.mode === 'http') {
    const rule = fe.rules[matched]!;
    const maxBody = rule.maxBody === 'off' ? null : (rule.maxBody ?? fe.maxBody);
    const maxBodyFrom = rule.maxBody !== null ? 'rule' : fe.maxBody !== null ? 'frontend' : null;
    const compiled = program.limits[index]![matched] ?? null;
    let rate: LimitsStep['rate'] = null;
    if (compiled !== null) {
      const flags = flagValues([...compiled.rate.flags, ...(compiled.key?.flags ?? [])], snapshot, decided);
      const r = specializeRate(compiled.rate, snapshot);
      const k = compiled.key === null ? null : specializeKey(compiled.key, snapshot);
      const key = k === null ? '' : k.kind === 'const' ? k.value : k.key(input);
      rate = {
        rate: r.value,
        burst: rule.limit!.burst,
        by: rule.limit!.by?.source ?? null,
        key,
        flags,
        problem: r.problem ?? k?.problem ?? null,
      };
    }
    limits = { maxBody, maxBodyFrom, rate };
  }
  return {
    frontend: fe.name,
    mode: fe.mode,
    request: { method: input.method, path: input.url, scheme, host: judged ?? null, ip, peer, headers: shown },
    rule: matched === null ? null : matched + 1,
    backend,
    unavailable,
    flags: decided,
    steps,
    servers,
    limits,
    maxconn: fe.maxconn,
    flagsVersion: snapshot.version,
  };
}
