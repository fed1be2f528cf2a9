// `flagman explain`: which rule a request would match now, from the config and the flags directory
// read exactly as the proxy reads them (explain/explain.ts).
import { loadConfig } from '../config/load.js';
import { explain, explainRequestOf } from '../explain/explain.js';
import { formatExplanation } from '../explain/format.js';
import type { FlagSnapshot } from '../flags/snapshot.js';
import { readFlagsOnce } from '../flags/write.js';
import { compileProgram } from '../runtime/compile.js';
import type { CliIo } from './io.js';
import { configPath, stateCandidates } from './paths.js';
import { UsageError } from './usage.js';

export async function explainCommand(values: Record<string, unknown>, _positionals: string[], io: CliIo): Promise<number> {
  const config = loadConfig(configPath(values));
  const program = compileProgram(config);
  const listing = readFlagsOnce(config.flags.dir, {
    allowWorldWritable: config.flags.allowWorldWritable,
    preferred: program.flags,
    state: stateCandidates(config),
  });
  if (listing.problem !== null) io.stderr.write(`flagman: warning: ${listing.problem}\n`);
  const snapshot: FlagSnapshot = { version: 0, flags: listing.flags };
  const field = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const req = explainRequestOf(field, (values.header as string[] | undefined) ?? []);
  if (typeof req === 'string') throw new UsageError(`--${req}`);
  const e = explain(program, snapshot, req);
  io.stdout.write(values.json === true ? `${JSON.stringify(e, null, 2)}\n` : formatExplanation(e));
  return 0;
}
