// `flagman check`: the same load + compile a start or reload runs, plus a read of the flags directory.
import { loadConfig } from '../config/load.js';
import { FlagmanError } from '../errors.js';
import { inspectDir, worldWritableProblem } from '../flags/dir.js';
import { readFlagsOnce } from '../flags/write.js';
import { compileProgram } from '../runtime/compile.js';
import { configPath, stateCandidates } from './paths.js';
import { UsageError } from './usage.js';

export async function check(values: Record<string, unknown>, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('check takes no arguments');
  const config = loadConfig(configPath(values));
  compileProgram(config);
  const { dir, allowWorldWritable } = config.flags;
  // What would stop `run` from starting fails the check too (an ExecStartPre runs it).
  const unsafe = worldWritableProblem(dir, inspectDir(dir), allowWorldWritable);
  if (unsafe !== null) throw new FlagmanError('FLAG_DIR', unsafe, { file: dir });
  const listing = readFlagsOnce(dir, { allowWorldWritable, state: stateCandidates(config) });
  for (const p of [listing.problem, listing.stateProblem]) if (p !== null) process.stderr.write(`flagman: warning: ${p}\n`);
  let problems = 0;
  for (const [name, state] of listing.flags) {
    if (state.problem === null) continue;
    problems++;
    process.stderr.write(`flagman: warning: flag ${name}: ${state.problem}\n`);
  }
  const counts = `${config.frontends.length} frontend(s), ${config.backends.length} backend(s), ${listing.flags.size} flag(s)`;
  process.stdout.write(`${config.file}: ok (${counts}${problems > 0 ? `, ${problems} flag problem(s)` : ''})\n`);
  return 0;
}
