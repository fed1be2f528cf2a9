// The usage text and the error that prints it (exit 2).

export class UsageError extends Error {
  override name = 'UsageError';
}

/** The help text shown by `flagman --help` and after a usage error. */
export function usage(): string {
  return `usage:
  flagman [run] [-c FILE]                   run the proxy (default FILE: ./flagman.yaml or $FLAGMAN_CONFIG)
  flagman check [-c FILE]                   validate config and flags: exit 0, or 1 with file:line:col errors
  flagman set NAME [VALUE] [--note TEXT]    write a flag atomically (temp file, fsync, rename); VALUE defaults to 1
  flagman unset NAME...                     remove flag files
  flagman get NAME                          a flag's value as the proxy reads it
  flagman list                              every flag with value, note and problem
  flagman explain [--method M] [--path P] [--host H] [--ip IP] [--header K:V]... [--frontend NAME] [--json]
                                            which rule a request matches now, and the flag values that decided it
  flagman status [--admin URL] [--json]     a running instance's state (from its admin endpoint), as tables
options:
  -c, --config FILE   the config file
  -d, --dir DIR       the flags directory (flag commands; instead of the config's flags.dir)
  --admin URL         the admin endpoint (status; instead of the config's admin.listen)
  --json              print the /status document as JSON (status)
`;
}
