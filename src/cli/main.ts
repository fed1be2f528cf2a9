#!/usr/bin/env node
// The `flagman` command: the command line (program.ts) run on this process's arguments, stdout and
// stderr, its result the exit code.
import { runCli } from './program.js';

void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
