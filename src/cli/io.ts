// Where the command line prints. main.ts hands the commands the process's stdout and stderr; a test
// hands them its own, so that it runs a command line in-process and reads what was printed, to the
// byte, without spawning a process for each.

/** What a command writes to: process.stdout, or a test's buffer. */
export interface Writer {
  write(text: string): unknown;
}

export interface CliIo {
  readonly stdout: Writer;
  readonly stderr: Writer;
}

/** The process's own streams: what `flagman` prints to. */
export const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr };
