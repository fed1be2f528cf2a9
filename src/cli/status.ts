// `flagman status`: a running instance's state, read from its admin endpoint's /status (docs/cli.md; docs/admin.md).
import { nodeHttp } from '../node-http.js';
import https from 'node:https';
import type { AsReceived, StatusDocument } from '../admin/status-types.js';
import { FlagmanError } from '../errors.js';
import { statusUrl } from './admin-url.js';
import type { CliIo } from './io.js';
import { readLedger } from '../sync/ledger.js';
import { flagSource } from './paths.js';
import { formatStatus, formatSync } from './status-view.js';

const TIMEOUT_MS = 5000;

// What the network errors mean, in words.
const NETWORK_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused (is flagman running, with this admin address?)',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EHOSTUNREACH: 'host unreachable',
  EADDRNOTAVAIL: 'address not available',
};

// node:http rather than fetch: fetch refuses the "bad ports" of the Fetch standard (6000, 6667, …),
// on which an operator may well have put the admin endpoint.
function get(url: URL): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : nodeHttp).get(
      url,
      { headers: { accept: 'application/json' }, agent: false, timeout: TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${TIMEOUT_MS / 1000} s`), { code: 'TIMEOUT' })));
    req.on('error', reject);
  });
}

/** Fetches /status; resolves with the body as sent and the parsed document. */
async function fetchStatus(url: URL): Promise<{ text: string; doc: AsReceived<StatusDocument> }> {
  let answer: { status: number; text: string };
  try {
    answer = await get(url);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = (e.code !== undefined ? NETWORK_REASONS[e.code] : undefined) ?? e.message;
    throw new FlagmanError('ADMIN', `cannot read the admin endpoint: ${reason}`, { address: url.href }, { cause: err });
  }
  if (answer.status !== 200)
    throw new FlagmanError('ADMIN', `the admin endpoint answered HTTP ${answer.status}, not a status document`, { address: url.href });
  let doc: unknown;
  try {
    doc = JSON.parse(answer.text);
  } catch {
    doc = null;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new FlagmanError('ADMIN', 'the answer is not a status document (JSON object)', { address: url.href });
  // An object from an instance of any version: status-view.ts checks each field it reads.
  return { text: answer.text, doc: doc as AsReceived<StatusDocument> };
}

// Whether a process runs (signal 0 asks without sending; EPERM: it runs as another user).
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// The sync's ledger in the flags directory (-d, else the config's), when there is one. Without a
// config to read, there is no directory to look in: the proxy's status alone, then.
function syncSection(values: Record<string, unknown>, now: number): string {
  let dir: string;
  try {
    dir = flagSource(values).dir;
  } catch {
    return '';
  }
  const ledger = readLedger(dir);
  return ledger === null ? '' : `\n${formatSync(ledger, now, running)}`;
}

/** `status [--admin URL] [--json]` */
export async function status(values: Record<string, unknown>, _positionals: string[], io: CliIo): Promise<number> {
  const url = statusUrl(values);
  const { text, doc } = await fetchStatus(url);
  const now = Date.now();
  io.stdout.write(values.json === true ? (text.endsWith('\n') ? text : `${text}\n`) : formatStatus(doc, now) + syncSection(values, now));
  return 0;
}
