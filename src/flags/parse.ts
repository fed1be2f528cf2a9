// Pure text → flag value. No I/O here, so the table test in
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
// their own temporary or backup files. `~` cannot match the regex; it is listed so the table reads
// like the documented list.
export const IGNORED_SUFFIXES = ['~', '.swp', '.swx', '.tmp', '.bak', '.dpkg-new', '.dpkg-old'] as const;

// Fatal: a file that is not UTF-8 is binary, and must not be guessed at with U+FFFD.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const INTEGER = /^[+-]?[0-9]+$/;

/** The range a flag value must lie in (JavaScript's safe integers), as messages print it. */
export const SAFE_RANGE = `${Number.MIN_SAFE_INTEGER}..${Number.MAX_SAFE_INTEGER}`;

/** An integer's text: its value, or which rule it breaks. */
export type IntegerText =
  | { readonly kind: 'integer'; readonly value: number }
  | { readonly kind: 'not-integer' }
  | { readonly kind: 'out-of-range' };

/** Parses a base-10 integer (optional sign, surrounding whitespace) as a flag file and `flagman set` take it. */
export function parseInteger(text: string): IntegerText {
  const number = text.trim();
  if (!INTEGER.test(number)) return { kind: 'not-integer' };
  const value = Number(number);
  // Beyond the safe range Number() rounds: 99999999999999999999 would read as 1e20.
  if (!Number.isSafeInteger(value)) return { kind: 'out-of-range' };
  // `-0` is a valid way to write zero; normalise so Object.is comparisons see no change.
  return { kind: 'integer', value: value === 0 ? 0 : value };
}

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

  const number = code.join('\n');
  if (number.trim() === '') return { kind: 'empty' };
  const parsed = parseInteger(number);
  if (parsed.kind === 'not-integer') return { kind: 'invalid', problem: 'not a base-10 integer' };
  if (parsed.kind === 'out-of-range') return { kind: 'invalid', problem: `integer outside the safe range (${SAFE_RANGE})` };
  return { kind: 'value', value: parsed.value, note };
}
