// Pure text → flag value (SPEC §1.1, §1.2). No I/O here, so the table test in
// test/unit/flags-parse.test.js can pin every rule down. Problem texts never quote the content:
// whoever can write the flags directory must not be able to push text into logs or status through
// an invalid file.
import { FLAG_NAME } from './snapshot.js';

/** What one flag file's content means. */
export type FlagContent =
  | { readonly kind: 'value'; readonly value: number; readonly note: string | null }
  | { readonly kind: 'empty' }
  | { readonly kind: 'invalid'; readonly problem: string };

// Names the FLAG_NAME regex accepts but that editors, package managers and config tools use for
// their own temporary or backup files (SPEC §1.1). `~` cannot match the regex; it is listed so the
// table reads like the spec.
export const IGNORED_SUFFIXES = ['~', '.swp', '.swx', '.tmp', '.bak', '.dpkg-new', '.dpkg-old'] as const;

// Fatal: a file that is not UTF-8 is binary, and must not be guessed at with U+FFFD.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const INTEGER = /^[+-]?[0-9]+$/;

/** True when `name` is a flag file name: matches FLAG_NAME and is none of the ignored kinds. */
export function isFlagName(name: string): boolean {
  // The regex already refuses dotfiles (`.MAINT.swp`, `..data`) and a leading digit
  // (consul-template's temporary files).
  if (!FLAG_NAME.test(name)) return false;
  return !IGNORED_SUFFIXES.some((suffix) => name.endsWith(suffix));
}

/** Parses a flag file's bytes: an integer with an optional `# note`, empty, or invalid. */
export function parseFlagContent(buf: Buffer): FlagContent {
  if (buf.includes(0)) return { kind: 'invalid', problem: 'binary content (NUL byte)' };
  let text: string;
  try {
    // The decoder drops a leading BOM (files saved by Windows editors), which is not content.
    text = utf8.decode(buf);
  } catch {
    return { kind: 'invalid', problem: 'binary content (not valid UTF-8)' };
  }

  let note: string | null = null;
  let sawComment = false;
  const code: string[] = [];
  for (const line of text.split('\n')) {
    const hash = line.indexOf('#');
    if (hash < 0) {
      code.push(line);
      continue;
    }
    code.push(line.slice(0, hash));
    if (!sawComment) {
      // Only the first comment is the note; an empty first comment means "no note".
      sawComment = true;
      const trimmed = line.slice(hash + 1).trim();
      note = trimmed === '' ? null : trimmed;
    }
  }

  const number = code.join('\n').trim();
  if (number === '') return { kind: 'empty' };
  if (!INTEGER.test(number)) return { kind: 'invalid', problem: 'not a base-10 integer' };
  const value = Number(number);
  if (!Number.isSafeInteger(value)) {
    return { kind: 'invalid', problem: 'integer outside the safe range (±9007199254740991)' };
  }
  // `-0` is a valid way to write zero; normalise so Object.is comparisons see no change.
  return { kind: 'value', value: value === 0 ? 0 : value, note };
}
