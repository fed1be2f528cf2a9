// The command table (docs/design/conventions.md, "Registry tables"): each command's arguments,
// options, help and implementation, in one entry. The parser and the help read it (spec.ts), so
// what a command takes and what its help says are written once, here.
import { commandHelp, generalHelp } from './help.js';
import type { CliIo } from './io.js';
import type { CommandSpec, OptionSpec, Values } from './spec.js';
import { UsageError } from './usage.js';

type Run = CommandSpec['run'];

// Each command's code is loaded when that command runs: the proxy's (run) is most of flagman, and
// loading it for `--version`, `get` or `set` cost ~0.3 s of CPU per call (0.43 s against 0.1 s here).
function lazy<M>(load: () => Promise<M>, pick: (m: M) => (values: Values, positionals: string[], io: CliIo) => Promise<number>): Run {
  return async (values, positionals, io) => pick(await load())(values, positionals, io);
}
const runCommand = lazy(
  () => import('./run.js'),
  (m) => m.runCommand,
);
const check = lazy(
  () => import('./check.js'),
  (m) => m.check,
);
const set = lazy(
  () => import('./flag.js'),
  (m) => m.set,
);
const unset = lazy(
  () => import('./flag.js'),
  (m) => m.unset,
);
const get = lazy(
  () => import('./flag.js'),
  (m) => m.get,
);
const list = lazy(
  () => import('./flag.js'),
  (m) => m.list,
);
const explainCommand = lazy(
  () => import('./explain.js'),
  (m) => m.explainCommand,
);
const status = lazy(
  () => import('./status.js'),
  (m) => m.status,
);
const sync = lazy(
  () => import('./sync.js'),
  (m) => m.syncCommand,
);

const CONFIG: OptionSpec = {
  type: 'string',
  short: 'c',
  arg: 'FILE',
  help: 'the config file (default: $FLAGMAN_CONFIG, else ./flagman.yaml)',
};
const DIR: OptionSpec = { type: 'string', short: 'd', arg: 'DIR', help: "the flags directory, instead of the config's flags.dir" };
const VERSION: OptionSpec = { type: 'boolean', short: 'V', help: "print flagman's version" };

const config = { config: CONFIG } as const;
const flagDir = { config: CONFIG, dir: DIR } as const;

/** The command `flagman` runs when none is named (`flagman -c FILE`). */
export const DEFAULT_COMMAND = 'run';

const TABLE = {
  run: {
    args: '',
    summary: 'run the proxy (the command when none is named)',
    about: `Runs the proxy: listens on the config's frontends (and its admin endpoint), watches the flags
directory and routes every request by the rules. SIGHUP or a change of the config file reloads it;
SIGTERM or SIGINT lets the requests in flight finish, then exits 0.`,
    options: config,
    examples: ['flagman run -c /etc/flagman/flagman.yaml', 'FLAGMAN_CONFIG=./flagman.yaml flagman'],
    run: runCommand,
  },
  check: {
    args: '',
    summary: 'validate the config and the flags directory',
    about: `Loads and compiles the config as a start or a reload would, and reads the flags directory.
Exit 0 when flagman would start on them (a flag's problem is a warning, on stderr); else 1, with
each error as file:line:col: reason.`,
    options: { ...config, json: { type: 'boolean', help: 'print the result as one JSON object: ok, config, counts, errors, warnings' } },
    examples: ['flagman check -c /etc/flagman/flagman.yaml', "flagman check --json | jq '.errors'"],
    run: check,
  },
  set: {
    args: 'NAME [VALUE]',
    summary: 'write a flag atomically; VALUE defaults to 1',
    about: `Writes VALUE, an integer (default 1), to the flag file NAME as the proxy expects it written:
a temp file, fsync, rename; mode 0644 whatever the umask. A negative VALUE goes after --.`,
    options: {
      ...flagDir,
      note: { type: 'string', arg: 'TEXT', help: 'a one-line note kept after the value (list, get --json and status show it)' },
    },
    examples: ['flagman set MAINT --note "db migration"', 'flagman set app2.weight 0 -d /etc/flagman/flags', 'flagman set OFFSET -- -5'],
    run: set,
  },
  unset: {
    args: 'NAME...',
    summary: 'remove flag files',
    about: `Removes the flag files: each flag is then unset, and flag("NAME") reads 0 or the default
given, flag("NAME", 1). A flag that is already unset is fine.`,
    options: flagDir,
    examples: ['flagman unset MAINT app2.weight'],
    run: unset,
  },
  get: {
    args: 'NAME',
    summary: "a flag's value alone, as the proxy holds it",
    about: `Prints the value of flag NAME alone, "unset" when none. It is read through the proxy's state
file, as routing reads it: a file emptied or garbled keeps the value the proxy keeps. A problem
with the flag goes to stderr.`,
    options: { ...flagDir, json: { type: 'boolean', help: 'print the flag as a JSON object: name, value, note, changedAt, problem' } },
    examples: ['flagman get MAINT', '[ "$(flagman get MAINT)" = 1 ] && echo "in maintenance"'],
    run: get,
  },
  list: {
    args: '',
    summary: 'every flag with its value, note and problem',
    about: `Prints every flag of the flags directory as a table (NAME VALUE NOTE PROBLEM), each read as
"get" reads it. A problem of the directory goes to stderr.`,
    options: { ...flagDir, json: { type: 'boolean', help: 'print a JSON array of the objects "get --json" prints' } },
    examples: ['flagman list', 'flagman list --json -d /etc/flagman/flags'],
    run: list,
  },
  explain: {
    args: '',
    summary: 'which rule a request matches now, and why',
    about: `Walks a frontend's rules for the request the options describe, with the flags read as the proxy
reads them, and prints each rule's result, the backend that answers and the flag values that
decided it. It runs no health checks: the admin endpoint's /explain also knows which servers are
down.`,
    options: {
      ...config,
      method: { type: 'string', arg: 'M', help: 'the request method (default GET)' },
      path: { type: 'string', arg: 'P', help: 'the request path and query (default /)' },
      host: { type: 'string', arg: 'H', help: 'the Host header' },
      ip: { type: 'string', arg: 'IP', help: 'where the connection comes from (default 127.0.0.1); see trustedProxies' },
      header: { type: 'string', arg: 'K:V', multiple: true, help: 'a request header (again for more)' },
      frontend: { type: 'string', arg: 'NAME', help: 'the frontend (default: the first in the config)' },
      json: { type: 'boolean', help: 'print the explanation as JSON' },
    },
    examples: ['flagman explain --path /api/x --ip 10.1.2.3', 'flagman explain --frontend web --header "X-Canary: 1" --json'],
    run: explainCommand,
  },
  status: {
    args: '',
    summary: "a running instance's state, from its admin endpoint",
    about: `Reads GET /status from the admin endpoint named by --admin, else by the config's admin.listen,
and prints the process line, a table each for flags, frontends and servers, then the problems.
When a "flagman sync" mirrors etcd into the flags directory, its line follows.`,
    options: {
      ...flagDir,
      admin: {
        type: 'string',
        arg: 'URL',
        help: "the admin endpoint: http://host:port, host:port or :port (default: the config's admin.listen)",
      },
      json: { type: 'boolean', help: 'print the /status document as the endpoint sent it' },
    },
    examples: ['flagman status --admin 127.0.0.1:8404', "flagman status --json | jq '.flags'"],
    run: status,
  },
  sync: {
    args: 'SOURCE',
    summary: 'mirror an etcd key prefix into the flags directory',
    about: `Keeps the flags directory equal to an etcd key prefix (SOURCE: etcd): the key PREFIX/NAME is the
flag file NAME, its value written as it is, atomically; a deleted key removes the file. It lists
the prefix, then watches it; whenever etcd cannot be reached the files keep their values and it
retries. It removes only the files it wrote (listed in the directory's .flagman-sync-etcd.json):
a flag written by hand stays. Each etcd option falls back to the variable etcdctl reads.`,
    options: {
      ...flagDir,
      endpoints: { type: 'string', arg: 'URLS', help: 'etcd endpoints, comma-separated (default $ETCDCTL_ENDPOINTS, else 127.0.0.1:2379)' },
      prefix: {
        type: 'string',
        arg: 'PREFIX',
        help: 'the key prefix to mirror, such as /flagman/prod/flags/ (default $FLAGMAN_SYNC_PREFIX)',
      },
      cacert: { type: 'string', arg: 'FILE', help: "the CA that signs etcd's certificates (default $ETCDCTL_CACERT)" },
      cert: { type: 'string', arg: 'FILE', help: 'a client certificate for etcd (default $ETCDCTL_CERT)' },
      key: { type: 'string', arg: 'FILE', help: "the client certificate's key (default $ETCDCTL_KEY)" },
      user: { type: 'string', arg: 'NAME[:PASSWORD]', help: "etcd's user, and password (default $ETCDCTL_USER)" },
      password: { type: 'string', arg: 'PASSWORD', help: "the user's password (default $ETCDCTL_PASSWORD)" },
    },
    examples: [
      'flagman sync etcd --endpoints http://10.0.0.1:2379,http://10.0.0.2:2379 --prefix /flagman/prod/flags/',
      'ETCDCTL_ENDPOINTS=https://etcd1:2379 ETCDCTL_CACERT=/etc/flagman/etcd-ca.pem flagman sync etcd --prefix /flagman/prod/flags/',
    ],
    run: sync,
  },
  help: {
    args: '[COMMAND]',
    summary: "a command's help: its options and examples",
    about: 'Prints the help of COMMAND, or the list of commands. "flagman COMMAND --help" is the same.',
    options: {},
    examples: ['flagman help set'],
    run: help,
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof TABLE;

// Seen as specs, so that every command is run the same way.
export const COMMANDS: Readonly<Record<CommandName, CommandSpec>> = TABLE;

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** What `flagman` takes when no command is named: run's options, and --version. */
export const TOP_LEVEL = { args: '', options: { ...COMMANDS[DEFAULT_COMMAND].options, version: VERSION } } as const;

/** The general usage; `flagman help` and `flagman --help`. */
export function usage(): string {
  return generalHelp(COMMANDS, DEFAULT_COMMAND, { config: CONFIG, dir: DIR, version: VERSION });
}

/** `flagman help COMMAND` and `flagman COMMAND --help`. */
export function helpFor(name: CommandName): string {
  return commandHelp(name, COMMANDS[name], name === DEFAULT_COMMAND);
}

/** `help [COMMAND]` */
async function help(_values: Values, [name]: string[], io: CliIo): Promise<number> {
  if (name !== undefined && !isCommand(name)) throw new UsageError(`unknown command "${name}"`, null);
  io.stdout.write(name === undefined ? usage() : helpFor(name));
  return 0;
}
