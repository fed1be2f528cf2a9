// An explanation as a few lines an operator reads at a glance (`flagman explain`).
import { formatSize } from '../config/units.js';
import type { Explanation, LimitsStep } from './explain.js';

const flagList = (flags: Readonly<Record<string, number | null>>): string =>
  Object.entries(flags)
    .map(([n, v]) => `${n}=${v ?? 'unset'}`)
    .join(' ');

/** The explanation as text: the request, each rule walked, the answer. */
export function formatExplanation(e: Explanation): string {
  const r = e.request;
  const tcp = e.mode === 'tcp';
  // `from 198.51.100.9 (via 10.0.0.5)`: the client a trusted proxy's X-Forwarded-For named, and the proxy.
  const from = r.peer === r.ip ? r.ip : `${r.ip} (via ${r.peer})`;
  // `over https` says so where a rule on request.scheme could be what decides (plain http is the usual case).
  const lines = [
    tcp
      ? `frontend ${e.frontend}: tcp connection from ${from}`
      : `frontend ${e.frontend}: ${r.method} ${r.path} from ${from}` +
        `${r.host !== null ? `, host ${r.host}` : ''}${r.scheme === 'https' ? ', over https' : ''}`,
  ];
  for (const s of e.steps) {
    const mark = s.result === 'match' ? '→' : ' ';
    const why = s.result === 'off' ? 'off (by flags)' : s.result;
    const residual = s.residual !== null && s.residual !== s.when && s.result !== 'off' ? `  [with flags: ${s.residual}]` : '';
    const flags = Object.keys(s.flags).length > 0 ? `  (${flagList(s.flags)})` : '';
    const problem = s.problem !== null ? `  problem: ${s.problem}` : '';
    lines.push(`${mark} rule ${s.rule}: ${s.when ?? '(always)'} → ${s.use}: ${why}${flags}${residual}${problem}`);
  }
  const refused = tcp ? 'the connection is closed' : '503';
  if (e.rule === null) lines.push(`no rule matches: ${refused}`);
  if (e.unavailable !== null)
    lines.push(`backend ${e.unavailable} has no eligible server: ${e.backend !== null ? `falls back to ${e.backend}` : refused}`);
  if (e.backend !== null) {
    const servers = e.servers.map((s) => {
      const maxconn = s.maxconn > 0 ? ` maxconn ${s.maxconn}` : '';
      const flags = Object.keys(s.flags).length > 0 ? ` (${flagList(s.flags)})` : '';
      return `${s.name} ${s.address} weight ${s.weight}${maxconn}${s.health === 'down' ? ' DOWN' : ''}${flags}`;
    });
    lines.push(`answered by backend ${e.backend}${servers.length > 0 ? `: ${servers.join('; ')}` : ''}`);
  }
  // Only where a limit is set: most rules have none, and a line saying so is noise.
  const limits: string[] = [];
  if (e.maxconn > 0) limits.push(`at most ${e.maxconn} connections at once (frontend maxconn)`);
  if (e.limits !== null && (e.limits.maxBodyFrom !== null || e.limits.rate !== null)) limits.push(formatLimits(e.limits));
  if (limits.length > 0) lines.push(`limits: ${limits.join('; ')}`);
  if (Object.keys(e.flags).length > 0) lines.push(`decided by: ${flagList(e.flags)}`);
  return `${lines.join('\n')}\n`;
}

// `body at most 1MiB (frontend maxBody); 10/s + burst 5 per header("x-key"), this request's key "abc"`.
function formatLimits(l: LimitsStep): string {
  const body =
    l.maxBody === null
      ? `body not limited${l.maxBodyFrom === 'rule' ? ' (maxBody: off)' : ''}`
      : `body at most ${formatSize(l.maxBody)} (${l.maxBodyFrom} maxBody)`;
  const r = l.rate;
  if (r === null) return `${body}; no rate limit`;
  const flags = Object.keys(r.flags).length > 0 ? ` (${flagList(r.flags)})` : '';
  const problem = r.problem !== null ? `  problem: ${r.problem}` : '';
  if (r.rate === null) return `${body}; rate not limited${flags}${problem}`;
  const per = r.by === null ? 'one bucket for the rule' : `per ${r.by}, this request's key ${JSON.stringify(r.key)}`;
  return `${body}; rate ${r.rate}/s + burst ${r.burst}, ${per}${flags}${problem}`;
}
