// The one error type flagman throws on purpose, with a stable code from the catalogue below and the
// place it came from (a config position, a flag file, an address), so every message can name it.

/** Where an error came from: a file position, or just a file, flag or address. */
export interface Place {
  readonly file?: string;
  readonly line?: number;
  readonly col?: number;
  readonly flag?: string;
  readonly address?: string;
}

// Registry table (docs/design/conventions.md), the one list of codes in code: ErrorCode derives from
// it, so a code not listed here does not compile. docs/errors.md documents each code, and
// test/unit/error-catalogue.test.js keeps the two and the codes src/ throws in step.
// What goes wrong talking to a server is not thrown but handed to the exchange: an UpstreamError,
// with its own table of codes (upstream/error.ts: CONNECT_TIMEOUT, SERVER_TIMEOUT, …).
export const ERROR_CODES = {
  CONFIG_READ: 'the config file cannot be read',
  CONFIG_YAML: 'the config file is not valid YAML',
  CONFIG_SCHEMA: 'a config key is unknown, missing or has a value of the wrong kind',
  CONFIG_REF: 'a config entry names a backend that does not exist',
  CONFIG_EXPR: 'a CEL expression does not parse or has the wrong type',
  CONFIG_TLS: 'a certificate or key file of a TLS frontend cannot be read, does not parse, or the two do not match',
  CONFIG_COMMAND: 'the command of an exec health check cannot be found or is not executable',
  CONFIG_LOG: 'the access log file (log.file) cannot be opened',
  FLAG_NAME: 'a flag name does not match ^[A-Za-z][A-Za-z0-9_.-]{0,127}$',
  FLAG_VALUE: 'a flag value is not a base-10 safe integer',
  FLAG_DIR: 'the flags directory is missing, unusable or unsafe',
  FLAG_WRITE: 'a flag file could not be written or removed',
  LISTEN: 'an address could not be listened on',
  ADMIN: 'the admin endpoint is not configured, cannot be reached, or did not answer a status document',
  SYNC_SOURCE: 'an option of flagman sync (an etcd endpoint, a certificate or key file) is invalid or cannot be read',
  INSTALL: "a part of flagman loaded on first use is missing from disk: flagman's files changed since the process started",
  USAGE: 'the command line is not understood',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Formats a place as `file:line:col`, `file`, `flag NAME` or an address. */
export function formatPlace(at: Place): string {
  if (at.file !== undefined) {
    if (at.line !== undefined) return `${at.file}:${at.line}:${at.col ?? 1}`;
    return at.file;
  }
  if (at.flag !== undefined) return `flag ${at.flag}`;
  return at.address ?? '';
}

export class FlagmanError extends Error {
  override name = 'FlagmanError';
  readonly code: ErrorCode;
  readonly at: Place;
  /** The message without the place, for listings that show the place in a column of its own. */
  readonly reason: string;

  constructor(code: ErrorCode, reason: string, at: Place = {}, options?: { cause?: unknown }) {
    const where = formatPlace(at);
    super(where ? `${where}: ${reason}` : reason, options);
    this.code = code;
    this.at = at;
    this.reason = reason;
  }
}

/** Several errors found in one pass (a config check reports them all, not just the first). */
export class FlagmanErrors extends Error {
  override name = 'FlagmanErrors';
  readonly errors: readonly FlagmanError[];

  constructor(errors: readonly FlagmanError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.errors = errors;
  }
}

/** `CODE: reason (place)`, or `CODE: reason` for an error without a place: how a person is told (docs/errors.md). */
export function errorLine(e: FlagmanError): string {
  const where = formatPlace(e.at);
  return where ? `${e.code}: ${e.reason} (${where})` : `${e.code}: ${e.reason}`;
}

/** The errors `err` carries when it is flagman's own (one, or the several a check found); null otherwise. */
export function flagmanErrorsOf(err: unknown): readonly FlagmanError[] | null {
  return err instanceof FlagmanErrors ? err.errors : err instanceof FlagmanError ? [err] : null;
}
