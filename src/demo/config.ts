// Which config the demo runs: the shipped examples/demo/flagman.yaml, found from this file (not the
// working directory, so an installed package finds its own), or -c FILE; and, when FLAGMAN_DEMO_*
// variables move its ports, a copy on those ports, so the demo can run beside whatever holds 8080.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Document, isSeq, parseDocument } from 'yaml';
import { loadConfig, parseConfigText } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { FlagmanError } from '../errors.js';

/** The shipped demo config, relative to the package root. */
export const DEMO_CONFIG = 'examples/demo/flagman.yaml';

/** Moves the proxy: the first address of the first frontend. */
export const PROXY_PORT_VARIABLE = 'FLAGMAN_DEMO_PORT';
/** Moves the admin endpoint (and its dashboard). */
export const ADMIN_PORT_VARIABLE = 'FLAGMAN_DEMO_ADMIN_PORT';

/** The variable that moves a server of the config, and the demo app behind it: app1 → FLAGMAN_DEMO_APP1_PORT. */
export function serverPortVariable(server: string): string {
  return `FLAGMAN_DEMO_${server.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_PORT`;
}

/**
 * The package root: two folders above this file (dist/demo/), symlinks resolved, so a package
 * reached through a link (npm link, a pnpm store) still finds the examples beside its dist/.
 */
export function packageRoot(): string {
  return path.resolve(path.dirname(fs.realpathSync(fileURLToPath(import.meta.url))), '../..');
}

/** Loads the config to run; the shipped one, when this copy of flagman lacks it, is one error that says so. */
export function loadDemoConfig(file: string | undefined): Config {
  if (file !== undefined) return loadConfig(path.resolve(file));
  const shipped = path.join(packageRoot(), DEMO_CONFIG);
  if (!fs.existsSync(shipped)) {
    throw new FlagmanError(
      'CONFIG_READ',
      `the demo config is missing: this copy of flagman has no ${DEMO_CONFIG} ` +
        "(the demo runs from a clone of flagman's repository: npm install && npm start)",
      { file: shipped },
    );
  }
  return loadConfig(shipped);
}

/** The config flagman runs: `file` is the config itself, or a temp copy on other ports that `remove` deletes. */
export interface DemoRun {
  readonly file: string;
  readonly config: Config;
  readonly remove: () => void;
}

interface Move {
  readonly variable: string;
  /** Where the address is in the YAML document. */
  readonly at: readonly (string | number)[];
  readonly host: string;
  readonly port: number;
}

/** `config` on the ports the FLAGMAN_DEMO_* variables of `env` name: itself when they name none. */
export function onDemoPorts(config: Config, env: NodeJS.ProcessEnv): DemoRun {
  const doc = parseDocument(fs.readFileSync(config.file, 'utf8'));
  const moves = portMoves(config, doc, env);
  if (moves.length === 0) return { file: config.file, config, remove: () => {} };
  for (const m of moves) doc.setIn(m.at, hostPort(m.host, m.port));
  // The copy is in another folder: the paths the config has relative to its own folder (the demo's
  // flags, state and maintenance page) are written out, so both run on the same files and
  // `flagman list -c` on either config shows what this proxy holds.
  doc.setIn(['flags', 'dir'], config.flags.dir);
  doc.setIn(['flags', 'state'], config.flags.state ?? 'off');
  for (const be of config.backends) {
    if (be.kind === 'respond' && be.file !== null) doc.setIn(['backends', be.name, 'respond', 'file'], be.file);
  }
  const ports = moves.map((m) => `${m.variable}=${m.port}`).join(', ');
  const text = `# ${config.file} on the ports of ${ports}: written by the demo, removed when it stops.\n${doc.toString({ lineWidth: 0 })}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flagman-demo-'));
  const remove = (): void => fs.rmSync(dir, { recursive: true, force: true });
  const file = path.join(dir, path.basename(config.file));
  try {
    fs.writeFileSync(file, text);
    return { file, config: parseConfigText(text, file), remove };
  } catch (err) {
    remove();
    throw err;
  }
}

function portMoves(config: Config, doc: Document, env: NodeJS.ProcessEnv): Move[] {
  const moves: Move[] = [];
  const fe = config.frontends[0];
  const listen = fe?.listen[0];
  const proxy = portOf(env, PROXY_PORT_VARIABLE);
  if (proxy !== null) {
    if (fe === undefined || listen?.kind !== 'tcp')
      throw new FlagmanError('USAGE', `${PROXY_PORT_VARIABLE}: the config has no frontend on a tcp address to move`, { file: config.file });
    const list = doc.getIn(['frontends', fe.name, 'listen'], true);
    moves.push({
      variable: PROXY_PORT_VARIABLE,
      at: isSeq(list) ? ['frontends', fe.name, 'listen', 0] : ['frontends', fe.name, 'listen'],
      host: listen.host,
      port: proxy,
    });
  }
  const admin = portOf(env, ADMIN_PORT_VARIABLE);
  if (admin !== null) {
    const l = config.admin.listen;
    if (l?.kind !== 'tcp')
      throw new FlagmanError('USAGE', `${ADMIN_PORT_VARIABLE}: the config has no admin endpoint on a tcp address to move`, {
        file: config.file,
      });
    moves.push({ variable: ADMIN_PORT_VARIABLE, at: ['admin', 'listen'], host: l.host, port: admin });
  }
  for (const be of config.backends) {
    if (be.kind !== 'proxy') continue;
    for (const s of be.servers) {
      const port = portOf(env, serverPortVariable(s.name));
      if (port !== null)
        moves.push({ variable: serverPortVariable(s.name), at: ['backends', be.name, 'servers', s.name, 'address'], host: s.host, port });
    }
  }
  return moves;
}

function portOf(env: NodeJS.ProcessEnv, variable: string): number | null {
  const text = env[variable];
  if (text === undefined || text === '') return null;
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) throw new FlagmanError('USAGE', `${variable}=${text}: not a port number (1 to 65535)`);
  return port;
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
