// What the demo prints once flagman has started: where everything is, and commands to try that
// are true for the config, ports and working directory it runs with. At the default ports, from
// the repository root, the commands are the README's quick start, word for word (a test holds
// the README to it).
import path from 'node:path';
import { localUrl, statusUrl } from '../cli/admin-url.js';
import type { Config } from '../config/schema.js';

export interface DemoFacts {
  /** The config flagman runs, and its file. */
  readonly config: Config;
  readonly file: string;
  /** The built CLI, dist/cli/main.js. */
  readonly cli: string;
  /** Where the commands are to be typed: paths are shown relative to it. */
  readonly cwd: string;
}

/** The proxy's URL: the first address of the first frontend (null: none on tcp). */
export function proxyUrl(config: Config): URL | null {
  const listen = config.frontends[0]?.listen[0];
  return listen?.kind === 'tcp' ? localUrl(listen) : null;
}

/** The dashboard's URL: where `flagman status -c FILE` reads /status (null: no admin endpoint it can reach). */
export function dashboardUrl(file: string): URL | null {
  try {
    return new URL('./', statusUrl({ config: file }));
  } catch {
    return null;
  }
}

// The comments line up from this column, as in the README.
const COMMENT_COLUMN = 53;

function line(command: string, comment: string): string {
  return `${command}${' '.repeat(Math.max(3, COMMENT_COLUMN - command.length))}# ${comment}`;
}

/** A path as typed in `cwd`: relative when below it, else absolute; quoted for sh when it has to be. */
export function shown(p: string, cwd: string): string {
  const rel = path.relative(cwd, p);
  const text = rel === '' ? '.' : rel.startsWith('..') || path.isAbsolute(rel) ? p : rel;
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The commands to try, one per line, each with its comment. */
export function tryCommands(f: DemoFacts): string[] {
  const url = proxyUrl(f.config)?.href ?? '';
  const flags = shown(f.config.flags.dir, f.cwd);
  const flag = (name: string): string => (flags === '.' ? name : `${flags}/${name}`);
  const cli = `node ${shown(f.cli, f.cwd)}`;
  const config = shown(f.file, f.cwd);
  // The token of the maintenance rule's bypass cookie, so the curl line passes the rule the config
  // really has.
  const bypass = f.config.frontends[0]?.rules
    .map((r) => /cookie\("flagman_bypass"\) != "([^"]+)"/.exec(r.when?.source ?? '')?.[1])
    .find((token) => token !== undefined);
  return [
    line(`curl -s ${url}`, 'app1 and app2 take turns'),
    line(`echo 1 > ${flag('MAINT')}`, 'maintenance page for everyone…'),
    ...(bypass === undefined ? [] : [line(`curl -s --cookie 'flagman_bypass=${bypass}' ${url}`, '…except admins')]),
    line(`echo 0 > ${flag('MAINT')}`, 'back to normal'),
    line(`echo 0 > ${flag('app2.weight')}`, 'drain app2: only app1 answers'),
    line(`rm ${flag('app2.weight')}`, 'app2 back at weight 1'),
    line(`${cli} status -c ${config}`, 'flags, requests and servers, as the proxy sees them'),
    line(`${cli} list -c ${config}`, 'every flag the proxy holds'),
    line(`${cli} get MAINT -c ${config}`, 'one flag'),
  ];
}

/** The whole text: where things are, then the commands. */
export function banner(
  f: DemoFacts,
  pids: { readonly demo: number; readonly flagman: number },
  apps: readonly { name: string; host: string; port: number }[],
): string {
  const dashboard = dashboardUrl(f.file);
  const rows: [string, string][] = [
    ['proxy', proxyUrl(f.config)?.href ?? '(no tcp frontend)'],
    ['dashboard', dashboard?.href ?? '(no admin endpoint)'],
    ['apps', apps.map((a) => `${a.name} ${a.host}:${a.port}`).join(', ')],
    ['flags', `${shown(f.config.flags.dir, f.cwd)}/`],
  ];
  return [
    `flagman demo (pid ${pids.demo}): flagman runs as pid ${pids.flagman}`,
    ...rows.map(([k, v]) => `  ${k.padEnd(10)} ${v}`),
    "Below: flagman's access log (stdout, one JSON line per request) and its events (stderr).",
    'Try, in another terminal:',
    ...tryCommands(f).map((l) => `  ${l}`),
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}
