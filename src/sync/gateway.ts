// etcd v3 through its JSON gateway (the `/v3/...` paths every etcd server answers on its client
// port): a range, a watch and authentication are three HTTP calls, so flagman speaks to etcd with
// node:http(s) and no client library or gRPC stack. Keys and values travel base64-encoded, 64-bit
// revisions as decimal strings. Nothing here retries: a failure is an EtcdError, and the mirror
// (mirror.ts) decides what to do about it.
import fs from 'node:fs';
import type http from 'node:http';
import { nodeHttp } from '../node-http.js';
import https from 'node:https';
import { FlagmanError } from '../errors.js';
import { prefixEnd } from './keys.js';

/** How to reach etcd: the endpoints, tried in turn, and the credentials etcdctl would take. */
export interface EtcdOptions {
  readonly endpoints: readonly URL[];
  /** The CA bundle that signs the servers' certificates (etcdctl --cacert); else the system's. */
  readonly cacert: string | null;
  /** A client certificate and its key (etcdctl --cert, --key). */
  readonly cert: string | null;
  readonly key: string | null;
  /** A user and password for etcd's authentication (etcdctl --user, --password). */
  readonly user: string | null;
  readonly password: string | null;
  /** How long a unary call (a range, an authentication) may take. */
  readonly timeoutMs: number;
}

/** Why a call to etcd failed; `endpoint` is the one asked. */
export class EtcdError extends Error {
  override name = 'EtcdError';
  constructor(
    message: string,
    readonly endpoint: string,
    /** The watch's start revision was compacted away: only a new listing can catch up. */
    readonly compacted = false,
    /** etcd no longer knows the auth token: a login gets another, and the call can be made again. */
    readonly tokenRejected = false,
  ) {
    super(message);
  }
}

export interface KeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly modRevision: number;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly key: Buffer;
  /** Empty on a delete. */
  readonly value: Buffer;
  readonly modRevision: number;
}

/** A running watch; `close` ends it without calling `onEnd`. */
export interface Watch {
  close(): void;
}

export interface WatchHandlers {
  /** etcd has set the watch up: from now on every change reaches `onEvents`. */
  onCreated(revision: number): void;
  /** A batch of changes, in the order etcd made them; `revision` is the store's when it sent them. */
  onEvents(events: readonly WatchEvent[], revision: number): void;
  /** The watch ended: the connection closed or failed, or etcd cancelled it. */
  onEnd(err: EtcdError): void;
}

// A listing comes in pages of this many keys, each read at the first page's revision, so one
// large prefix never makes one large answer (etcd's gateway holds a whole answer in memory).
const PAGE = 1000;

/** Reads one of etcd's JSON documents' fields that are int64 (sent as strings) or absent (0). */
function int(value: unknown): number {
  const n = typeof value === 'string' || typeof value === 'number' ? Number(value) : 0;
  return Number.isSafeInteger(n) ? n : 0;
}

function bytes(value: unknown): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
}

function b64(value: Uint8Array): string {
  return Buffer.from(value).toString('base64');
}

function keyValue(kv: Record<string, unknown>): KeyValue {
  return { key: bytes(kv.key), value: bytes(kv.value), modRevision: int(kv.mod_revision) };
}

/** The revision in a response's header. */
function headerRevision(doc: Record<string, unknown>): number {
  const header = doc.header as Record<string, unknown> | undefined;
  return int(header?.revision);
}

/** etcd's own words for a failed call: `{"error": ..., "message": ..., "code": N}`. */
function errorText(doc: unknown, fallback: string): string {
  if (doc !== null && typeof doc === 'object') {
    const d = doc as Record<string, unknown>;
    const inner = (d.error !== null && typeof d.error === 'object' ? d.error : d) as Record<string, unknown>;
    const message = inner.message ?? d.message ?? d.error;
    if (typeof message === 'string' && message !== '') return message;
  }
  return fallback;
}

/**
 * What a refused call says: etcd's JSON error, else the first line of the answer's text. etcd's
 * gateway refuses some calls in plain text before any JSON (a client certificate with a CommonName
 * while auth is on: "CommonName of client sending a request against gateway will be ignored ..."),
 * and that line is the only account of what to change.
 */
function refusalText(body: string): string {
  let doc: unknown = null;
  try {
    doc = JSON.parse(body);
  } catch {
    // Plain text, then.
  }
  const line = (body.trim().split('\n', 1)[0] ?? '').slice(0, 200);
  return errorText(doc, line === '' ? 'not an etcd answer' : line);
}

/** A network failure in words, with the system's code. */
function networkText(err: NodeJS.ErrnoException & { reason?: unknown }): string {
  if (err.code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
  if (err.code === 'ECONNRESET' || err.message === 'aborted') return 'the connection was cut (ECONNRESET)';
  // OpenSSL's message is its error queue (addresses, source files); its reason is the words, such
  // as "ssl/tls alert bad certificate": etcd refused the handshake (no client certificate, or one
  // its CA did not sign).
  if (typeof err.reason === 'string' && err.code?.startsWith('ERR_SSL_')) return `TLS handshake: ${err.reason} (${err.code})`;
  return err.code === undefined ? err.message : `${err.message.includes(err.code) ? err.message : `${err.message} (${err.code})`}`;
}

/** Reads a credential file named by an option, now, naming it when it cannot be read. */
function readCredential(file: string | null, option: string): Buffer | undefined {
  if (file === null) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new FlagmanError('SYNC_SOURCE', `${option}: cannot be read (${code})`, { file }, { cause: err });
  }
}

/** The gateway of one etcd cluster: which endpoint is in use, and the auth token for it. */
export class EtcdGateway {
  readonly #options: EtcdOptions;
  #index = 0;
  #token: string | null = null;
  #tls: https.AgentOptions = {};
  #agent: http.Agent;

  constructor(options: EtcdOptions) {
    if (options.endpoints.length === 0) throw new FlagmanError('SYNC_SOURCE', 'no etcd endpoint given (--endpoints or ETCDCTL_ENDPOINTS)');
    this.#options = options;
    this.#agent = this.#makeAgent();
  }

  /** The endpoint calls go to now. */
  get endpoint(): string {
    return (this.#options.endpoints[this.#index] as URL).origin;
  }

  #url(): URL {
    return this.#options.endpoints[this.#index] as URL;
  }

  // Credentials are read again at each connect, so a rotated client certificate is picked up by
  // the next reconnect without a restart.
  #makeAgent(): http.Agent {
    const o = this.#options;
    this.#tls = { ca: readCredential(o.cacert, '--cacert'), cert: readCredential(o.cert, '--cert'), key: readCredential(o.key, '--key') };
    return this.#url().protocol === 'https:' ? new https.Agent({ keepAlive: true, ...this.#tls }) : new nodeHttp.Agent({ keepAlive: true });
  }

  /**
   * Starts afresh on the next endpoint (or this one, `next` false): new connections, credentials
   * read again, a new auth token.
   */
  async connect(next: boolean): Promise<void> {
    this.#agent.destroy();
    if (next) this.#index = (this.#index + 1) % this.#options.endpoints.length;
    this.#token = null;
    this.#agent = this.#makeAgent();
    await this.#login();
  }

  // A token with a user's name and password (none without a user).
  async #login(): Promise<void> {
    const { user, password } = this.#options;
    if (user === null) return;
    this.#token = null;
    const doc = await this.#call('/v3/auth/authenticate', { name: user, password: password ?? '' });
    const token = doc.token;
    if (typeof token !== 'string' || token === '') throw new EtcdError('authentication answered no token', this.endpoint);
    this.#token = token;
  }

  // A call whose token etcd no longer knows is made again after a new login: a JWT token expires
  // at its TTL however often it is used, a simple token after 5 idle minutes, and a restarted etcd
  // forgets simple tokens. Without this, each expiry would read as etcd failing: a problem
  // reported, and every key listed again.
  async #ask(path: string, payload: object): Promise<Record<string, unknown>> {
    try {
      return await this.#call(path, payload);
    } catch (err) {
      if (!(err instanceof EtcdError && err.tokenRejected)) throw err;
      await this.#login();
      return this.#call(path, payload);
    }
  }

  /** Ends every connection (the mirror is stopping). */
  close(): void {
    this.#agent.destroy();
  }

  #headers(body: string): http.OutgoingHttpHeaders {
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    if (this.#token !== null) headers.authorization = this.#token;
    return headers;
  }

  #request(path: string, body: string, agent: http.Agent | false): http.ClientRequest {
    const url = new URL(path, this.#url());
    const options: https.RequestOptions = { method: 'POST', headers: this.#headers(body), agent };
    if (url.protocol === 'https:') return https.request(url, agent === false ? { ...options, ...this.#tls } : options);
    return nodeHttp.request(url, options);
  }

  /** One unary call: resolves with the answer's JSON object, or fails with an EtcdError. */
  #call(path: string, payload: object): Promise<Record<string, unknown>> {
    const endpoint = this.endpoint;
    const body = JSON.stringify(payload);
    return new Promise((resolve, reject) => {
      const req = this.#request(path, body, this.#agent);
      req.setTimeout(this.#options.timeoutMs, () => req.destroy(new Error(`no answer within ${this.#options.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => reject(new EtcdError(networkText(err), endpoint)));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new EtcdError(err.message, endpoint)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            const tokenRejected = res.statusCode === 401 && this.#token !== null && text.includes('invalid auth token');
            reject(new EtcdError(`${path}: HTTP ${res.statusCode}: ${refusalText(text)}`, endpoint, false, tokenRejected));
            return;
          }
          let doc: unknown = null;
          try {
            doc = JSON.parse(text);
          } catch {
            // Not JSON: no etcd answer.
          }
          if (doc === null || typeof doc !== 'object') reject(new EtcdError(`${path}: HTTP 200: not an etcd answer`, endpoint));
          else resolve(doc as Record<string, unknown>);
        });
      });
      req.end(body);
    });
  }

  /** Every key under `prefix` with its value, read at one revision (returned with them). */
  async list(prefix: Uint8Array): Promise<{ revision: number; kvs: KeyValue[] }> {
    const end = b64(prefixEnd(prefix));
    const kvs: KeyValue[] = [];
    let from: Uint8Array = prefix;
    let revision = 0;
    for (;;) {
      const doc = await this.#ask('/v3/kv/range', {
        key: b64(from),
        range_end: end,
        limit: PAGE,
        ...(revision === 0 ? {} : { revision }),
      });
      if (revision === 0) revision = headerRevision(doc);
      const page = Array.isArray(doc.kvs) ? (doc.kvs as Record<string, unknown>[]).map(keyValue) : [];
      kvs.push(...page);
      const last = page.at(-1);
      if (doc.more !== true || last === undefined) return { revision, kvs };
      // The next page starts right after the last key: the key with a 0 byte appended.
      from = Buffer.concat([last.key, Buffer.of(0)]);
    }
  }

  /** The store's revision now: a cheap call that shows etcd answers (the watch may be silent for hours). */
  async revision(prefix: Uint8Array): Promise<number> {
    const doc = await this.#ask('/v3/kv/range', { key: b64(prefix), range_end: b64(prefixEnd(prefix)), count_only: true });
    return headerRevision(doc);
  }

  /** Watches every key under `prefix` from `startRevision` on. */
  watch(prefix: Uint8Array, startRevision: number, handlers: WatchHandlers): Watch {
    const endpoint = this.endpoint;
    const body = JSON.stringify({
      create_request: { key: b64(prefix), range_end: b64(prefixEnd(prefix)), start_revision: startRevision },
    });
    let ended = false;
    const end = (err: EtcdError): void => {
      if (ended) return;
      ended = true;
      req.destroy();
      handlers.onEnd(err);
    };
    // A connection of its own: the watch holds it for as long as it lasts.
    const req = this.#request('/v3/watch', body, false);
    req.on('error', (err: NodeJS.ErrnoException) => end(new EtcdError(`watch: ${networkText(err)}`, endpoint)));
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          end(new EtcdError(`watch: HTTP ${res.statusCode}: ${refusalText(Buffer.concat(chunks).toString('utf8'))}`, endpoint));
        });
        return;
      }
      // The gateway streams one JSON document per line: {"result": {...}} or {"error": {...}}.
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        pending += text;
        let newline = pending.indexOf('\n');
        while (newline >= 0 && !ended) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line !== '') this.#watchLine(line, endpoint, handlers, end);
          newline = pending.indexOf('\n');
        }
      });
      res.on('error', (err) => end(new EtcdError(`watch: ${networkText(err)}`, endpoint)));
      res.on('end', () => end(new EtcdError('watch: the connection was closed', endpoint)));
    });
    req.end(body);
    return {
      close: () => {
        ended = true;
        req.destroy();
      },
    };
  }

  #watchLine(line: string, endpoint: string, handlers: WatchHandlers, end: (err: EtcdError) => void): void {
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(line) as Record<string, unknown>;
    } catch {
      end(new EtcdError('watch: an answer that is not JSON', endpoint));
      return;
    }
    const result = doc.result as Record<string, unknown> | undefined;
    if (result === undefined || result === null || typeof result !== 'object') {
      end(new EtcdError(`watch: ${errorText(doc.error ?? doc, 'an answer without a result')}`, endpoint));
      return;
    }
    const revision = headerRevision(result);
    const compactRevision = int(result.compact_revision);
    if (compactRevision > 0) {
      end(new EtcdError(`watch: revisions up to ${compactRevision} were compacted`, endpoint, true));
      return;
    }
    if (result.canceled === true) {
      const reason = typeof result.cancel_reason === 'string' && result.cancel_reason !== '' ? result.cancel_reason : 'cancelled by etcd';
      end(new EtcdError(`watch: ${reason}`, endpoint));
      return;
    }
    if (result.created === true) handlers.onCreated(revision);
    const events = Array.isArray(result.events) ? (result.events as Record<string, unknown>[]) : [];
    if (events.length === 0) return;
    handlers.onEvents(
      events.map((e) => {
        const kv = keyValue((e.kv ?? {}) as Record<string, unknown>);
        // PUT is the enum's zero, which the gateway leaves out.
        return { ...kv, type: e.type === 'DELETE' ? 'delete' : 'put' };
      }),
      revision,
    );
  }
}
