// The one CEL environment every flagman expression is parsed and checked in (docs/expressions.md): the
// `request` and `client` variables, flag(), header(), cookie() and cidr(…).containsIP(…).
// Creating an Environment is expensive, so there is exactly one, built at import.
//
// cel-js is pinned to one exact version in package.json, not a range: flagman reaches past its
// public API — the AST's `{op, args}` node shapes (tree.ts, direct.ts, specialize.ts build and read
// them through casts), serialize() for literals (source.ts), ParseError for our macros, the
// checker's getType() — and any release may change those. A bump is a deliberate change, checked
// by `npm run fuzz` (test/fuzz/rules.js: folded rules against plain evaluation) and the expr tests.

import { Environment, ParseError } from '@marcbachmann/cel-js';
import type { ASTNode } from '@marcbachmann/cel-js';
import type { FlagSnapshot } from '../flags/snapshot.js';
import { EMPTY_SNAPSHOT } from '../flags/snapshot.js';
import { Cidr } from './ip.js';
import { ClientView, RequestView, cookieValue, headerValue } from './request.js';

// The per-request input lives in request.ts; the proxy imports it from here, with the environment.
export { connectionInput, requestInput } from './request.js';
export type { RequestFrom, RequestInput } from './request.js';

/**
 * The snapshot flag() reads. Specialization replaces flag() calls by their values; one is left in a
 * residual only where its default must still be evaluated (it reads the request, or fails), and
 * specialize.ts sets this around that residual's synchronous evaluation, as around its constants'.
 */
let flagSource: FlagSnapshot = EMPTY_SNAPSHOT;

/** Runs `fn` with flag() reading `snapshot`; `fn` must be synchronous. */
export function withFlags<T>(snapshot: FlagSnapshot, fn: () => T): T {
  flagSource = snapshot;
  try {
    return fn();
  } finally {
    flagSource = EMPTY_SNAPSHOT;
  }
}

function flagHandler(name: string, fallback?: bigint): bigint {
  const value = flagSource.flags.get(name)?.value;
  return value === null || value === undefined ? (fallback ?? 0n) : BigInt(value);
}

/** The literal string argument of a call node, or undefined when it is anything else. */
export function literalString(node: ASTNode | undefined): string | undefined {
  return node?.op === 'value' && typeof node.args === 'string' ? node.args : undefined;
}

/** The code of parse errors raised by our own macros (their messages stand alone). */
export const FLAGMAN_PARSE_ERROR = 'flagman_invalid_argument';

/**
 * cidr("…") is a macro rather than a function so that the block is parsed once, when the
 * expression is parsed (at load, and again when a residual is re-parsed), and evaluation just
 * returns the pre-built Cidr. It also lets a non-literal or invalid block fail at parse time,
 * with the position of the argument.
 */
function cidrMacro({ args }: { args: readonly ASTNode[] }) {
  const arg = args[0];
  const text = literalString(arg);
  if (text === undefined) {
    const message = 'cidr() needs a string literal, like cidr("10.0.0.0/8")';
    throw new ParseError({ code: FLAGMAN_PARSE_ERROR, message, ...(arg && { node: arg, range: arg.range }) });
  }
  const parsed = Cidr.parse(text);
  if (typeof parsed === 'string') {
    throw new ParseError({ code: FLAGMAN_PARSE_ERROR, message: `cidr("${text}"): ${parsed}`, ...(arg && { node: arg, range: arg.range }) });
  }
  return {
    typeCheck: (checker: { getType(name: string): unknown }) => checker.getType('CIDR'),
    evaluate: () => parsed,
  };
}

/** The flagman CEL environment. */
export const env: Environment = new Environment()
  .registerType('Request', {
    ctor: RequestView,
    fields: { method: 'string', path: 'string', query: 'string', host: 'string', scheme: 'string', peer: 'string' },
  })
  .registerType('Client', { ctor: ClientView, fields: { ip: 'string' } })
  .registerType('CIDR', Cidr)
  .registerVariable('request', 'Request', { description: 'the request being routed' })
  .registerVariable('client', 'Client', { description: 'the connected client' })
  .registerFunction('flag(string): int', (name: string) => flagHandler(name), {
    description: "a flag's value, 0 when unset",
  })
  .registerFunction('flag(string, int): int', flagHandler, {
    description: "a flag's value, the default when unset",
  })
  .registerFunction('header(string): string', headerValue, {
    description: 'a request header, "" when absent',
  })
  .registerFunction('cookie(string): string', cookieValue, {
    description: 'a request cookie, "" when absent',
  })
  .registerFunction('cidr(ast): CIDR', cidrMacro, { description: 'an IPv4 or IPv6 CIDR block' })
  .registerFunction('CIDR.containsIP(string): bool', (block: Cidr, ip: string) => block.containsIP(ip), {
    description: 'whether an address lies in the block',
  });

/** Variables whose value differs per request. */
export const REQUEST_VARIABLES: ReadonlySet<string> = new Set(['request', 'client']);

/** Functions whose result differs per request (besides reading request variables). */
export const REQUEST_FUNCTIONS: ReadonlySet<string> = new Set(['header', 'cookie']);

/** Names of known global functions and receiver methods, for an "unknown function" message. */
export const KNOWN_FUNCTIONS: { readonly global: ReadonlySet<string>; readonly method: ReadonlySet<string> } = (() => {
  const global = new Set<string>();
  const method = new Set<string>();
  for (const f of env.getDefinitions().functions) (f.receiverType ? method : global).add(f.name);
  return { global, method };
})();
