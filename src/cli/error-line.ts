// How the command line prints a FlagmanError: its code first, so a reader can look it up in
// docs/errors.md, then what went wrong, then where (`file:line:col`, a file, a flag or an address).
import { formatPlace, type FlagmanError } from '../errors.js';

/** `CODE: reason (place)`, or `CODE: reason` for an error without a place. */
export function errorLine(e: FlagmanError): string {
  const where = formatPlace(e.at);
  return where ? `${e.code}: ${e.reason} (${where})` : `${e.code}: ${e.reason}`;
}
