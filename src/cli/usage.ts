// The error for a command line that is not understood: program.ts prints it as one line with a
// pointer to the help, and exits 2.
import { FlagmanError } from '../errors.js';

export class UsageError extends FlagmanError {
  override name = 'UsageError';
  /**
   * The command whose help the message points to; null: the general help (an unknown command).
   * Left undefined by a command's own checks: program.ts fills in the command it was running.
   */
  command: string | null | undefined;

  constructor(reason: string, command?: string | null) {
    super('USAGE', reason);
    this.command = command;
  }
}
