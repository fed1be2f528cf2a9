// Two steps, both pure with respect to requests:
//  - compileProgram(config): every CEL expression compiled and type-checked, every reference
//    checked. Done once per config load; `flagman check` runs exactly this.
//  - buildRuntime(program, snapshot, …): the flag snapshot folded into the expressions, weights and maxconns,
//    backends wired to their observed state, the eligible servers of each backend listed. Done again
//    on every flag change and every change of a server's health; cheap.
import fs from 'node:fs';
import { accessLogOf } from '../access-line.js';
import { DEFAULTS, proxyVersion, type Config, type ServerConfig } from '../config/schema.js';
import { FlagmanError, FlagmanErrors } from '../errors.js';
import {
  compileCondition,
  compileKey,
  compileMaxconn,
  compileRate,
  compileWeight,
  type CompiledCondition,
  type CompiledKey,
  type CompiledMaxconn,
  type CompiledRate,
  type CompiledWeight,
} from '../expr/compile.js';
import { TrustedProxies } from '../expr/forwarded.js';
import { specialize, specializeKey, specializeRate } from '../expr/specialize.js';
import type { FlagSnapshot } from '../flags/snapshot.js';
import type { Candidate } from './balance/balancer.js';
import { BALANCER_TABLE } from './balance/index.js';
import { commandProblem } from './check-command.js';
import { PageCache } from './pages.js';
import { isEligible, serverStatus } from './server-state.js';
import type {
  RedirectTarget,
  RefuseTarget,
  RespondTarget,
  RuleLimits,
  Runtime,
  RuntimeFrontend,
  RuntimeLimit,
  RuntimeRule,
  Target,
} from './runtime.js';

import { CertSet } from '../tls/pair.js';
import type { ObservedState } from './servers.js';

// A Location naming the scheme's own port leaves the port out, as browsers write it.
const DEFAULT_PORTS = { http: 80, https: 443 } as const;

export interface Program {
  readonly config: Config;
  /** Per frontend, per rule: the compiled `when` (null: no condition). */
  readonly conditions: readonly (readonly (CompiledCondition | null)[])[];
  readonly weights: ReadonlyMap<ServerConfig, CompiledWeight>;
  /** The servers that have a maxconn, compiled as their weights are. */
  readonly maxconns: ReadonlyMap<ServerConfig, CompiledMaxconn>;
  /** Per frontend, per rule: its rate limit's compiled rate and key (null: no limit, or no `by`). */
  readonly limits: readonly (readonly ({ readonly rate: CompiledRate; readonly key: CompiledKey | null } | null)[])[];
  /** Every flag an expression reads: the flags that must never fall outside the tracked limit. */
  readonly flags: ReadonlySet<string>;
  /** Per frontend: its `trustedProxies`, parsed; null: none (the connection's address is the client). */
  readonly trusted: readonly (TrustedProxies | null)[];
}

/** Compiles and checks everything in `config` that can fail; throws FlagmanErrors listing all problems. */
export function compileProgram(config: Config): Program {
  const errors: FlagmanError[] = [];
  const attempt = <T>(fn: () => T): T | null => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof FlagmanErrors) errors.push(...err.errors);
      else if (err instanceof FlagmanError) errors.push(err);
      else throw err;
      return null;
    }
  };
  const conditions = config.frontends.map((fe) =>
    fe.rules.map((rule) => (rule.when === null ? null : attempt(() => compileCondition(rule.when!, fe.mode)))),
  );
  const limits = config.frontends.map((fe) =>
    fe.rules.map((rule) => {
      if (rule.limit === null) return null;
      const rate = attempt(() => compileRate(rule.limit!.rate));
      const key = rule.limit.by === null ? null : attempt(() => compileKey(rule.limit!.by!));
      return rate === null ? null : { rate, key };
    }),
  );
  const weights = new Map<ServerConfig, CompiledWeight>();
  const maxconns = new Map<ServerConfig, CompiledMaxconn>();
  for (const be of config.backends) {
    if (be.kind === 'proxy') {
      const health = be.health;
      if (health?.type === 'exec') {
        const problem = commandProblem(health.command[0]!);
        if (problem !== null)
          errors.push(new FlagmanError('CONFIG_COMMAND', `backends.${be.name}.health.command: ${problem}`, health.commandAt));
      }
      for (const server of be.servers) {
        const compiled = attempt(() => compileWeight(server.weight));
        if (compiled !== null) weights.set(server, compiled);
        const limit = server.maxconn === null ? null : attempt(() => compileMaxconn(server.maxconn!));
        if (limit !== null) maxconns.set(server, limit);
      }
    } else if (be.kind === 'respond' && be.file !== null) {
      const file = be.file;
      attempt(() => {
        try {
          fs.accessSync(file, fs.constants.R_OK);
        } catch (cause) {
          throw new FlagmanError(
            'CONFIG_READ',
            `backend "${be.name}": cannot read respond file ${file} (${(cause as NodeJS.ErrnoException).code})`,
            be.at,
            { cause },
          );
        }
      });
    }
  }
  const trusted = config.frontends.map((fe) => attempt(() => TrustedProxies.parse(fe.trustedProxies)));
  // TLS certificates are read as the listener will read them, so `flagman check` names a bad file.
  for (const fe of config.frontends) if (fe.tls !== null) attempt(() => CertSet.load(fe.tls!));
  if (errors.length > 0) throw new FlagmanErrors(errors);
  const flags = new Set<string>();
  const limitExprs = limits.flat().flatMap((l) => (l === null ? [] : [l.rate, l.key]));
  for (const c of [...conditions.flat(), ...weights.values(), ...maxconns.values(), ...limitExprs])
    for (const f of c?.flags ?? []) flags.add(f);
  return Object.freeze({ config, conditions, weights, maxconns, limits, flags, trusted });
}

/** A rule's rate limit under `snapshot`: its rate and key folded; null when the rate cannot be computed. */
function buildLimit(
  compiled: { readonly rate: CompiledRate; readonly key: CompiledKey | null },
  burst: number,
  by: string | null,
  state: RuleLimits['state'],
  snapshot: FlagSnapshot,
  problem: (p: string) => void,
): RuntimeLimit | null {
  const rate = specializeRate(compiled.rate, snapshot);
  if (rate.problem !== null) problem(rate.problem);
  if (rate.value === null) return null;
  let key: RuntimeLimit['key'] = null;
  if (compiled.key !== null) {
    const residual = specializeKey(compiled.key, snapshot);
    if (residual.problem !== null) problem(residual.problem);
    const constant = residual.kind === 'const' ? residual.value : null;
    key = residual.kind === 'dynamic' ? residual.key : constant === '' ? null : () => constant!;
  }
  return Object.freeze({ rate: rate.value, burst, capacity: rate.value + burst, by, key, buckets: state.buckets(by ?? '') });
}

export interface BuildContext {
  readonly observed: ObservedState;
  readonly pages: PageCache;
  readonly generation: number;
}

/** The runtime for `program` under `snapshot`. Touches no file except a respond page seen for the first time. */
export function buildRuntime(program: Program, snapshot: FlagSnapshot, ctx: BuildContext): Runtime {
  const { config } = program;
  const problems: string[] = [];
  const targets = new Map<string, Target>();
  const fallbacks: [{ fallback: Target | null }, string][] = [];
  for (const be of config.backends) {
    const counters = ctx.observed.backend(be.name);
    if (be.kind === 'redirect') {
      const port = be.port === null || be.port === DEFAULT_PORTS[be.scheme] ? '' : `:${be.port}`;
      targets.set(
        be.name,
        Object.freeze<RedirectTarget>({ kind: 'redirect', name: be.name, counters, status: be.status, prefix: `${be.scheme}://`, port }),
      );
      continue;
    }
    if (be.kind === 'refuse') {
      targets.set(be.name, Object.freeze<RefuseTarget>({ kind: 'refuse', name: be.name, counters }));
      continue;
    }
    if (be.kind === 'respond') {
      const headers: string[] = [];
      let hasType = false;
      for (const [k, v] of Object.entries(be.headers)) {
        if (k.toLowerCase() === 'content-type') hasType = true;
        headers.push(k, v);
      }
      if (!hasType)
        headers.push(
          'Content-Type',
          be.file !== null && /\.html?$/i.test(be.file) ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8',
        );
      const page = be.file !== null ? ctx.pages.file(be.file) : PageCache.inline(be.body ?? '');
      targets.set(be.name, Object.freeze<RespondTarget>({ kind: 'respond', name: be.name, counters, status: be.status, headers, page }));
      continue;
    }
    const servers: Candidate[] = be.servers.map((s) => {
      // specialize() clamps a weight to 0–256 and says so in `problem`.
      const residual = specialize(program.weights.get(s)!, snapshot);
      if (residual.problem !== null) problems.push(`backend ${be.name}, server ${s.name}: ${residual.problem}`);
      const weight = residual.value;
      // A maxconn is folded the same way: clamped to 0–MAX_MAXCONN, 0 (no limit) when it fails.
      const limit = program.maxconns.get(s);
      const folded = limit === undefined ? null : specialize(limit, snapshot);
      if (folded?.problem) problems.push(`backend ${be.name}, server ${s.name}: ${folded.problem}`);
      const maxconn = folded?.value ?? DEFAULTS.maxconn;
      const state = ctx.observed.server(be.name, s.name);
      // Without checks nothing can bring a server back up, so its health is not consulted.
      const health = be.health === null ? 'up' : state.health;
      const sendProxy = proxyVersion(s.sendProxy);
      const pool = be.mode === 'http' ? state.pool(s.host, s.port, be.timeouts, sendProxy) : null;
      return Object.freeze({
        name: s.name,
        host: s.host,
        port: s.port,
        weight,
        health,
        status: serverStatus(weight, health),
        maxconn,
        state,
        pool,
        sendProxy,
      });
    });
    const eligible = Object.freeze(servers.filter((s) => isEligible(s.status)));
    // Decided here, once per flag snapshot, so that a backend without limits runs no queue code.
    const limited = servers.some((s) => s.maxconn > 0);
    const target = {
      kind: 'proxy' as const,
      name: be.name,
      mode: be.mode,
      counters,
      servers,
      eligible,
      balancer: BALANCER_TABLE[be.balance](),
      limited,
      queue: ctx.observed.queue(be.name),
      queueBound: be.queue,
      health: be.health,
      timeouts: be.timeouts,
      fallback: null as Target | null,
    };
    if (be.fallback !== null) fallbacks.push([target, be.fallback]);
    targets.set(be.name, target);
  }
  for (const [target, name] of fallbacks) target.fallback = targets.get(name) ?? null;
  for (const t of targets.values()) Object.freeze(t);

  const frontends = config.frontends.map((fe, i): RuntimeFrontend => {
    const rules: RuntimeRule[] = [];
    const conditions = program.conditions[i]!;
    const limits = fe.rules.map((rule, index): RuleLimits => {
      const state = ctx.observed.rule(fe.name, index + 1);
      const maxBody = rule.maxBody === 'off' ? Infinity : (rule.maxBody ?? fe.maxBody ?? Infinity);
      const compiled = program.limits[i]![index] ?? null;
      const limit =
        compiled === null
          ? null
          : buildLimit(compiled, rule.limit!.burst, rule.limit!.by?.source ?? null, state, snapshot, (p) =>
              problems.push(`frontend ${fe.name}, rule ${index + 1}: ${p}`),
            );
      return Object.freeze({ rule: index + 1, use: rule.use, maxBody, limit, state });
    });
    for (const [index, rule] of fe.rules.entries()) {
      const target = targets.get(rule.use)!;
      const compiled = conditions[index] ?? null;
      const ruleLimits = limits[index]!;
      if (compiled === null) {
        rules.push({ index, test: null, target, limits: ruleLimits });
        break; // later rules can never match
      }
      const residual = specialize(compiled, snapshot);
      if (residual.problem !== null) problems.push(`frontend ${fe.name}, rule ${index + 1}: ${residual.problem}`);
      if (residual.kind === 'const') {
        if (residual.value !== true) continue; // the flags rule it out: it costs nothing per request
        rules.push({ index, test: null, target, limits: ruleLimits });
        break;
      }
      rules.push({ index, test: residual.test, target, limits: ruleLimits });
    }
    // With workers each process caps its own connections: its share, so that together they hold maxconn.
    const connCap = fe.maxconn === 0 ? null : Math.ceil(fe.maxconn / config.workers.count);
    return Object.freeze({
      name: fe.name,
      mode: fe.mode,
      counters: ctx.observed.frontend(fe.name),
      rules: Object.freeze(rules),
      underscoreHeaders: fe.underscoreHeaders,
      limits: Object.freeze(limits),
      maxconn: fe.maxconn,
      connCap,
      limitCounters: ctx.observed.frontendLimits(fe.name),
      trustedProxies: program.trusted[i] ?? null,
      requestId: fe.requestId === null ? null : Object.freeze({ header: fe.requestId.header, lower: fe.requestId.header.toLowerCase() }),
      acceptProxy: fe.acceptProxy,
    });
  });

  const folded = new Map<string, number | null>();
  for (const name of program.flags) folded.set(name, snapshot.flags.get(name)?.value ?? null);
  return Object.freeze({
    generation: ctx.generation,
    flagsVersion: snapshot.version,
    folded,
    frontends,
    targets,
    problems,
    accessLog: accessLogOf(config.log.access),
  });
}

/**
 * Whether `snapshot` gives every flag `runtime`'s expressions read the value it was built with: then
 * building it again would make the same runtime, and a flag change can leave it in place. Notes and
 * problems are not folded into anything; a flag no rule, weight, maxconn or limit names changes
 * nothing that routes.
 */
export function sameFolding(runtime: Runtime, snapshot: FlagSnapshot): boolean {
  for (const [name, value] of runtime.folded) if ((snapshot.flags.get(name)?.value ?? null) !== value) return false;
  return true;
}
