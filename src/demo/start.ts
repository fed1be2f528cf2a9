// `npm start`: a live demo. Starts the app servers the demo config names, then flagman itself (the
// built CLI, as a child process whose PID is kept), and once flagman has started prints where
// everything is and what to try. flagman's access log and events pass through to this terminal as
// flagman writes them. SIGINT, SIGTERM or SIGHUP (the terminal closing) stop flagman, then the apps.
// `npm start` execs this (package.json): a shell between npm and this process would die of npm's
// SIGTERM and leave the demo running.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { errorLine, flagmanErrorsOf } from '../errors.js';
import { type App, closeApps, startApps } from './apps.js';
import { banner } from './banner.js';
import { ADMIN_PORT_VARIABLE, type DemoRun, PROXY_PORT_VARIABLE, loadDemoConfig, onDemoPorts, packageRoot } from './config.js';

function say(text: string): void {
  process.stderr.write(`flagman demo: ${text.split('\n').join('\nflagman demo: ')}\n`);
}

/** Whether `line` is flagman's `start` event: it listens on every address and serves. */
function isStart(line: string): boolean {
  try {
    return (JSON.parse(line) as { event?: unknown }).event === 'start';
  } catch {
    return false;
  }
}

// The demo's flags directory, when missing (an installed package ships none), is created so the
// commands the demo prints work; if it cannot be, flagman runs without it and says so itself.
function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    say(`cannot create the flags directory ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

async function main(): Promise<number> {
  // A terminal or reader that has gone (EIO, EPIPE) must not end this process before it has stopped
  // flagman and removed its config copy.
  for (const out of [process.stdout, process.stderr]) out.on('error', () => {});
  const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } } });
  const run: DemoRun = onDemoPorts(loadDemoConfig(values.config), process.env);
  let apps: App[] = [];
  let child: ChildProcess | null = null;
  let stopping = false;
  const stop = (): void => {
    stopping = true;
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  // A terminal's Ctrl-C reaches flagman too (same process group); a SIGTERM sent to this process
  // alone (npm, a supervisor) or a hangup must not leave flagman running without it.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);
  process.once('exit', stop);
  try {
    ensureDir(run.config.flags.dir);
    apps = await startApps(run.config);
    if (stopping) return 0;
    const cli = path.join(packageRoot(), 'dist/cli/main.js');
    // stdout and stderr are piped and passed on rather than shared: flagman makes a pipe it writes
    // to non-blocking, which on a shared descriptor would change this process's writes too.
    const flagman = spawn(process.execPath, [cli, 'run', '-c', run.file], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = flagman;
    const closed = new Promise<number>((resolve) => {
      flagman.once('error', (err) => {
        say(`cannot start flagman: ${err.message}`);
        resolve(1);
      });
      flagman.once('close', (code) => resolve(code ?? 1));
    });
    flagman.stdout.pipe(process.stdout, { end: false });
    let started = false;
    readline.createInterface({ input: flagman.stderr, crlfDelay: Infinity }).on('line', (line) => {
      process.stderr.write(`${line}\n`);
      if (started || !isStart(line)) return;
      started = true;
      process.stdout.write(
        banner({ config: run.config, file: run.file, cli, cwd: process.cwd() }, { demo: process.pid, flagman: flagman.pid ?? 0 }, apps),
      );
    });
    const code = await closed;
    if (!started)
      say(
        `flagman stopped before it started (exit ${code}): the reason is above. ` +
          `A port in use? ${PROXY_PORT_VARIABLE}=PORT and ${ADMIN_PORT_VARIABLE}=PORT move flagman's.`,
      );
    return code;
  } finally {
    await closeApps(apps);
    run.remove();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const errors = flagmanErrorsOf(err);
    say(
      errors !== null
        ? errors.map(errorLine).join('\n')
        : `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    process.exitCode = 1;
  },
);
