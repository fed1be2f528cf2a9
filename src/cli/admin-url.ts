// Where a running instance's admin endpoint is: --admin URL, else the config's admin.listen.
import { loadConfig } from '../config/load.js';
import { FlagmanError } from '../errors.js';
import { configPath } from './paths.js';
import { UsageError } from './usage.js';

// A wildcard listen address is reached on loopback, the family it was bound in.
const WILDCARD_TO_LOOPBACK: Readonly<Record<string, string>> = { '': '127.0.0.1', '0.0.0.0': '127.0.0.1', '::': '[::1]' };

/** The URL of /status: from --admin (`http://host:port`, `host:port` or `:port`), else the config's admin.listen. */
export function statusUrl(values: Record<string, unknown>): URL {
  const given = values.admin;
  return new URL('status', typeof given === 'string' ? fromFlag(given) : fromConfig(values));
}

function fromFlag(text: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text.startsWith(':') ? `127.0.0.1${text}` : text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`--admin ${text}: not a URL such as http://127.0.0.1:8404`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--admin ${text}: only http:// and https:// URLs`);
  // Accept the endpoint's root or its /status page alike.
  url.pathname = `${url.pathname.replace(/\/status\/?$/, '').replace(/\/?$/, '')}/`;
  url.search = '';
  url.hash = '';
  return url;
}

function fromConfig(values: Record<string, unknown>): URL {
  const config = loadConfig(configPath(values));
  const listen = config.admin.listen;
  if (listen === null)
    throw new FlagmanError('ADMIN', 'no admin endpoint is configured (admin.listen): configure one, or pass --admin URL', {
      file: config.file,
    });
  const at = { file: listen.at.file, line: listen.at.line, col: listen.at.col };
  if (listen.kind === 'systemd')
    throw new FlagmanError('ADMIN', `admin.listen is the inherited socket ${listen.text}: pass --admin URL`, at);
  if (listen.port === 0) throw new FlagmanError('ADMIN', `admin.listen ${listen.text} takes a free port at start: pass --admin URL`, at);
  return localUrl(listen);
}

/** The http:// root at which a client on this machine reaches a tcp listen address. */
export function localUrl(listen: { readonly host: string; readonly port: number }): URL {
  const host = WILDCARD_TO_LOOPBACK[listen.host] ?? (listen.host.includes(':') ? `[${listen.host}]` : listen.host);
  return new URL(`http://${host}:${listen.port}/`);
}
