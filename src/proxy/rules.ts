// First match wins (`rules` in docs/configuration.md): the one rule walk shared by requests and upgrades.
import type http from 'node:http';
import { connectionInput, requestInput, type RequestFrom } from '../expr/environment.js';
import type { RuntimeFrontend, RuntimeRule, Target } from '../runtime/runtime.js';

/** The first rule `req` from `from` matches (its target, its limits), or null (the caller answers 503). */
export function route(frontend: RuntimeFrontend, req: http.IncomingMessage, from: RequestFrom): RuntimeRule | null {
  const rules = frontend.rules;
  const first = rules[0];
  if (first === undefined) return null;
  // The common case (one catch-all left after flags folded the rest) needs no request view.
  if (first.test === null) return first;
  const input = requestInput(req, from);
  // Indexed loops in this file and in the balancers: a heap profile under load showed `for…of` allocating
  // an array iterator per request on these paths (bench/RESULTS.md).
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.test === null || rule.test(input)) return rule;
  }
  return null;
}

/** The target of the first rule a tcp connection from `clientIp` matches, or null (it is closed). */
export function routeConnection(frontend: RuntimeFrontend, clientIp: string): Target | null {
  const rules = frontend.rules;
  const first = rules[0];
  if (first === undefined) return null;
  if (first.test === null) return first.target;
  const input = connectionInput(clientIp);
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.test === null || rule.test(input)) return rule.target;
  }
  return null;
}
