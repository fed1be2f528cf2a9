// `flagman check`: the same load + compile a start or reload runs, plus a read of the flags directory.
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { FlagmanError, FlagmanErrors } from '../errors.js';
import { inspectDir, worldWritableProblem } from '../flags/dir.js';
import { readFlagsOnce } from '../flags/write.js';
import { compileProgram } from '../runtime/compile.js';
import type { CliIo } from './io.js';
import { configPath, stateCandidates } from './paths.js';

/** What does not stop a start, but should be fixed: the directory's, the state file's, a flag's. */
interface Warning {
  readonly flag: string | null;
  readonly message: string;
}

interface Report {
  readonly config: Config;
  readonly flags: number;
  readonly warnings: readonly Warning[];
}

/** Loads, compiles and reads the flags as `run` would; throws what would stop it from starting. */
function inspect(file: string): Report {
  const config = loadConfig(file);
  compileProgram(config);
  const { dir, allowWorldWritable } = config.flags;
  // What would stop `run` from starting fails the check too (an ExecStartPre runs it).
  const unsafe = worldWritableProblem(dir, inspectDir(dir), allowWorldWritable);
  if (unsafe !== null) throw new FlagmanError('FLAG_DIR', unsafe, { file: dir });
  const listing = readFlagsOnce(dir, { allowWorldWritable, state: stateCandidates(config) });
  const warnings: Warning[] = [listing.problem, listing.stateProblem].filter((p) => p !== null).map((message) => ({ flag: null, message }));
  for (const [name, state] of listing.flags) if (state.problem !== null) warnings.push({ flag: name, message: state.problem });
  return { config, flags: listing.flags.size, warnings };
}

/** `check [--json]`: exit 0 when the config would start, else 1 with every error. */
export async function check(values: Record<string, unknown>, _positionals: string[], io: CliIo): Promise<number> {
  const file = configPath(values);
  if (values.json === true) return checkJson(file, io);
  const { config, flags, warnings } = inspect(file);
  for (const w of warnings) io.stderr.write(`flagman: warning: ${w.flag === null ? '' : `flag ${w.flag}: `}${w.message}\n`);
  const problems = warnings.filter((w) => w.flag !== null).length;
  const counts = `${config.frontends.length} frontend(s), ${config.backends.length} backend(s), ${flags} flag(s)`;
  io.stdout.write(`${config.file}: ok (${counts}${problems > 0 ? `, ${problems} flag problem(s)` : ''})\n`);
  return 0;
}

// An error as `--json` shows it: its code and place in fields of their own, null when it has none,
// as `get --json` shows a flag.
function errorJson(e: FlagmanError): object {
  return { code: e.code, file: e.at.file ?? null, line: e.at.line ?? null, col: e.at.col ?? null, message: e.reason };
}

// `--json`: the whole result on stdout, errors included, so a script reads one document whatever
// the outcome; the exit code is the text mode's.
function checkJson(file: string, io: CliIo): number {
  let report: Report | null = null;
  let errors: readonly FlagmanError[] = [];
  try {
    report = inspect(file);
  } catch (err) {
    if (err instanceof FlagmanErrors) errors = err.errors;
    else if (err instanceof FlagmanError) errors = [err];
    else throw err;
  }
  const doc = {
    ok: report !== null,
    config: report?.config.file ?? file,
    counts: report && { frontends: report.config.frontends.length, backends: report.config.backends.length, flags: report.flags },
    errors: errors.map(errorJson),
    warnings: report?.warnings ?? [],
  };
  io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  return report === null ? 1 : 0;
}
