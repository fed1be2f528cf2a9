// `frontends:` of flagman.yaml (docs/configuration.md): where clients connect and the rules that pick a backend.
// Rule conditions stay CEL source text with positions; expr/ compiles them.
import { isScalar } from 'yaml';
import type { FrontendConfig, ListenAddress, RuleConfig, UnderscoreHeaders } from './schema.js';
import { DEFAULTS, MODES } from './schema.js';
import { checkName } from './backends.js';
import { fieldsOf, listItems, mapEntries, missing, readExpr, readOneOf, readString, tryParse, wrongKind } from './nodes.js';
import type { Entry, Walker } from './nodes.js';
import { readTls } from './tls.js';
import { parseListenAddress } from './units.js';

export const FRONTEND_KEYS = {
  mode: `${MODES.join(' | ')} (default ${DEFAULTS.mode}): tcp accepts raw connections, routed by client.ip and flags only`,
  listen: 'addresses: host:port, [v6]:port, :port or systemd:NAME; one string or a list',
  rules: 'first match wins; no match answers 503 (tcp: closes the connection)',
  underscoreHeaders: 'request header names with "_": allow (default), refuse (400) or drop',
  tls: 'serve HTTPS (HTTP/1.1 and HTTP/2): {cert, key}, or a list of them chosen by SNI (first: default)',
} as const;

const UNDERSCORE_HEADERS = ['allow', 'refuse', 'drop'] as const;

export const RULE_KEYS = {
  when: 'CEL condition; without it the rule always matches',
  use: 'the backend to send the request to',
} as const;

/** Reads every frontend, in file order. */
export function readFrontends(w: Walker, e: Entry | undefined, baseDir: string): FrontendConfig[] {
  if (e === undefined) return [];
  const out: FrontendConfig[] = [];
  for (const fe of mapEntries(w, e) ?? []) {
    if (!checkName(w, fe, 'frontend')) continue;
    const f = fieldsOf(w, fe, FRONTEND_KEYS);
    if (f === undefined) continue;
    const before = w.errors.length;
    const listen = f.listen === undefined ? [] : readListen(w, f.listen);
    if (f.listen === undefined) missing(w, fe, 'listen', ': a frontend needs at least one address');
    // An empty list after item errors is already explained; do not add to it.
    else if (listen.length === 0 && w.errors.length === before) {
      w.fail('CONFIG_SCHEMA', `${f.listen.path}: a frontend needs at least one address`, f.listen.at);
    }
    const underscoreHeaders: UnderscoreHeaders = f.underscoreHeaders === undefined ? 'allow' : (readOneOf(w, f.underscoreHeaders, UNDERSCORE_HEADERS) ?? 'allow');
    const mode = (f.mode && readOneOf(w, f.mode, MODES)) ?? DEFAULTS.mode;
    if (mode === 'tcp' && f.underscoreHeaders !== undefined) {
      w.fail('CONFIG_SCHEMA', `${f.underscoreHeaders.path}: a tcp frontend has no HTTP headers; only an http frontend takes underscoreHeaders`, f.underscoreHeaders.keyAt);
    }
    if (mode === 'tcp' && f.tls !== undefined) {
      w.fail('CONFIG_SCHEMA', `${f.tls.path}: TLS is for http frontends; a tcp frontend passes its bytes through untouched`, f.tls.keyAt);
    }
    const tls = f.tls === undefined || mode === 'tcp' ? null : (readTls(w, f.tls, baseDir) ?? null);
    out.push({ name: fe.name, mode, listen, rules: f.rules === undefined ? [] : readRules(w, f.rules), underscoreHeaders, tls, at: fe.keyAt });
  }
  return out;
}

function readListen(w: Walker, e: Entry): ListenAddress[] {
  const out: ListenAddress[] = [];
  for (const item of listItems(w, e, 'addresses', true) ?? []) {
    const text = isScalar(item.node) && typeof item.node.value === 'string' ? item.node.value : undefined;
    if (text === undefined) {
      wrongKind(w, item, 'an address such as :8080 or 127.0.0.1:8080');
      continue;
    }
    const addr = tryParse(w, item, () => parseListenAddress(text, item.at));
    if (addr !== undefined) out.push(addr);
  }
  return out;
}

function readRules(w: Walker, e: Entry): RuleConfig[] {
  const out: RuleConfig[] = [];
  for (const r of listItems(w, e, 'rules') ?? []) {
    const f = fieldsOf(w, r, RULE_KEYS);
    if (f === undefined) continue;
    const when = f.when === undefined ? null : readExpr(w, f.when, 'a CEL condition');
    if (f.use === undefined) {
      missing(w, r, 'use', ': the backend this rule sends to');
      continue;
    }
    const use = readString(w, f.use);
    if (use === undefined || when === undefined) continue;
    out.push({ when, use, at: r.keyAt, useAt: f.use.at });
  }
  return out;
}
