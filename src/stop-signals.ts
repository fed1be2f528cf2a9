// The signals that stop a flagman process gracefully, `run` and `sync` alike (docs/signals.md):
// SIGTERM and SIGINT, and SIGQUIT, nginx's graceful stop. An operator who sends SIGQUIT by habit
// would otherwise get Node's default action, a core dump that drops what was in flight; and a
// process started in the background by a non-interactive shell inherits SIGQUIT ignored, so it
// would not stop at all.
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;
