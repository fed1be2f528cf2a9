// `flagman sync etcd`: mirrors an etcd key prefix into the flags directory (sync/mirror.ts;
// docs/fleet.md). Each etcd option comes from its flag, else from the variable etcdctl reads, so
// one environment file serves both.
import fs from 'node:fs';
import { FlagmanError } from '../errors.js';
import { flushLogs } from '../log.js';
import { EtcdGateway } from '../sync/gateway.js';
import { STOP_SIGNALS } from '../stop-signals.js';
import { EtcdMirror } from '../sync/mirror.js';
import { flagSource } from './paths.js';
import { UsageError } from './usage.js';

/** The stores `sync` mirrors. */
const SOURCES = ['etcd'] as const;

// A unary call to etcd that takes longer than this counts as no answer.
const TIMEOUT_MS = 5000;

/** An option's value, else the environment variable's; null when neither is set. */
function option(values: Record<string, unknown>, name: string, variable: string): string | null {
  const given = values[name];
  if (typeof given === 'string') return given;
  const env = process.env[variable];
  return env === undefined || env === '' ? null : env;
}

/** etcdctl's endpoint list: comma-separated, `host:port` meaning http://host:port. */
export function parseEndpoints(text: string): URL[] {
  return text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
    .map((e) => {
      const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(e) ? e : `http://${e}`;
      let url: URL;
      try {
        url = new URL(withScheme);
      } catch {
        throw new FlagmanError('SYNC_SOURCE', `--endpoints: "${e}" is not an address such as http://127.0.0.1:2379`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new FlagmanError('SYNC_SOURCE', `--endpoints: "${e}" is neither http:// nor https://`);
      }
      return url;
    });
}

/** etcdctl's --user NAME[:PASSWORD], with --password for a password that holds a colon. */
function credentials(values: Record<string, unknown>): { user: string | null; password: string | null } {
  const user = option(values, 'user', 'ETCDCTL_USER');
  const password = option(values, 'password', 'ETCDCTL_PASSWORD');
  if (user === null || password !== null) return { user, password };
  const colon = user.indexOf(':');
  return colon < 0 ? { user, password: null } : { user: user.slice(0, colon), password: user.slice(colon + 1) };
}

/** `sync etcd [--endpoints URLS] --prefix PREFIX ...` */
export async function syncCommand(values: Record<string, unknown>, [source = '']: string[]): Promise<number> {
  if (!(SOURCES as readonly string[]).includes(source)) throw new UsageError(`sync: unknown source "${source}" (only etcd)`);
  const prefix = option(values, 'prefix', 'FLAGMAN_SYNC_PREFIX');
  if (prefix === null || prefix === '') {
    throw new UsageError('sync etcd: missing --prefix (or FLAGMAN_SYNC_PREFIX), the key prefix to mirror, such as /flagman/prod/flags/');
  }
  const { dir } = flagSource(values);
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new FlagmanError('FLAG_DIR', 'the flags directory is missing', { file: dir });
  }
  const gateway = new EtcdGateway({
    endpoints: parseEndpoints(option(values, 'endpoints', 'ETCDCTL_ENDPOINTS') ?? '127.0.0.1:2379'),
    cacert: option(values, 'cacert', 'ETCDCTL_CACERT'),
    cert: option(values, 'cert', 'ETCDCTL_CERT'),
    key: option(values, 'key', 'ETCDCTL_KEY'),
    ...credentials(values),
    timeoutMs: TIMEOUT_MS,
  });
  const mirror = new EtcdMirror({ dir, prefix, gateway, checkMs: 5000, backoffMs: 250, maxBackoffMs: 8000 });
  const stop = (): void => mirror.stop();
  for (const signal of STOP_SIGNALS) process.once(signal, stop);
  try {
    await mirror.run();
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, stop);
    await flushLogs();
  }
  return 0;
}
