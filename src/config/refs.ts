// Checks that need the whole config: names used by rules and fallbacks exist, fallbacks do not
// loop, modes agree (a tcp frontend only reaches tcp backends, and back), and no two listeners
// would bind the same socket. Run after every section is read.
import type { Walker } from './nodes.js';
import type { BackendConfig, FrontendConfig, ListenAddress, Mode } from './schema.js';
import { backendMode } from './schema.js';
import { listenClash } from './units.js';

function defined(names: ReadonlySet<string>): string {
  return names.size === 0 ? 'none are defined' : `defined: ${[...names].join(', ')}`;
}

/**
 * Records CONFIG_REF errors for unknown or looping backend references. `declared` holds every name
 * written under backends, so a backend that failed its own checks is not also reported as unknown.
 */
export function checkRefs(
  w: Walker,
  frontends: readonly FrontendConfig[],
  backends: readonly BackendConfig[],
  declared: ReadonlySet<string>,
): void {
  const byName = new Map(backends.map((b) => [b.name, b]));
  for (const fe of frontends) {
    fe.rules.forEach((rule, i) => {
      const path = `frontends.${fe.name}.rules[${i}].use`;
      if (!declared.has(rule.use)) {
        w.fail('CONFIG_REF', `${path}: no backend named "${rule.use}" (${defined(declared)})`, rule.useAt);
        return;
      }
      const b = byName.get(rule.use);
      if (b !== undefined && backendMode(b) !== fe.mode) {
        w.fail('CONFIG_REF', `${path}: ${modeMismatch(`the ${fe.mode} frontend ${fe.name}`, fe.mode, b)}`, rule.useAt);
      }
    });
  }
  for (const b of backends) {
    if (b.kind !== 'proxy' || b.fallback === null || b.fallbackAt === null) continue;
    const path = `backends.${b.name}.fallback`;
    if (b.fallback === b.name) w.fail('CONFIG_REF', `${path}: a backend cannot fall back to itself`, b.fallbackAt);
    else if (!declared.has(b.fallback)) {
      w.fail('CONFIG_REF', `${path}: no backend named "${b.fallback}" (${defined(declared)})`, b.fallbackAt);
    } else if (byName.has(b.fallback) && backendMode(byName.get(b.fallback)!) !== b.mode) {
      w.fail('CONFIG_REF', `${path}: ${modeMismatch(`the ${b.mode} backend ${b.name}`, b.mode, byName.get(b.fallback)!)}`, b.fallbackAt);
    } else {
      const loop = fallbackLoop(b, byName);
      // Report a loop once, at the member written first in the file.
      if (loop?.every((name) => backends.findIndex((x) => x.name === name) >= backends.indexOf(b))) {
        w.fail('CONFIG_REF', `${path}: fallbacks form a loop: ${[...loop, b.name].join(' → ')}`, b.fallbackAt);
      }
    }
  }
}

// Why `user` (of `mode`) cannot send its connections to backend `b`: they speak different modes.
function modeMismatch(user: string, mode: Mode, b: BackendConfig): string {
  const what =
    b.kind === 'respond'
      ? 'a respond backend (HTTP answers)'
      : b.kind === 'refuse'
        ? 'a refuse backend (tcp only)'
        : `a ${backendMode(b)} backend`;
  const can = mode === 'tcp' ? 'backends with mode: tcp, or refuse: true' : 'http backends (servers without mode: tcp, or respond)';
  return `cannot use "${b.name}", ${what}: ${user} can only use ${can}`;
}

// The chain of names from `start` back to `start`, or null when the chain ends (no eligible server
// anywhere would otherwise bounce a request between backends forever).
function fallbackLoop(start: BackendConfig, byName: ReadonlyMap<string, BackendConfig>): string[] | null {
  const chain = [start.name];
  let next = start.kind === 'proxy' ? start.fallback : null;
  while (next !== null) {
    if (next === start.name) return chain;
    if (chain.includes(next)) return null; // a loop not through start: reported from its own members
    const b = byName.get(next);
    if (b === undefined) return null;
    chain.push(next);
    next = b.kind === 'proxy' ? b.fallback : null;
  }
  return null;
}

/** Records an error for each listen address that would bind a socket already taken in this config. */
export function checkListenClashes(w: Walker, frontends: readonly FrontendConfig[], admin: ListenAddress | null): void {
  const taken: { addr: ListenAddress; owner: string }[] = [];
  if (admin !== null) taken.push({ addr: admin, owner: 'admin' });
  for (const fe of frontends) {
    for (const addr of fe.listen) {
      const clash = taken.find((t) => listenClash(t.addr, addr));
      if (clash !== undefined) {
        w.fail(
          'CONFIG_SCHEMA',
          `frontends.${fe.name}.listen: "${addr.text}" would bind the same socket as "${clash.addr.text}" of ${clash.owner}`,
          addr.at,
        );
      }
      taken.push({ addr, owner: `frontend ${fe.name}` });
    }
  }
}
