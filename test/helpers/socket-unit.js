// What a .socket unit does, for tests on a machine whose PID 1 is not systemd: one listening TCP
// socket on 127.0.0.1, held open by the test process for the whole test and handed to each flagman
// it starts as fd 3 with LISTEN_FDS=1 and LISTEN_FDNAMES (LISTEN_PID cannot be known before the
// spawn; flagman accepts its absence). Between two flagmans, connections wait in the socket's
// backlog instead of being refused, exactly as they do behind systemd.
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { execa } from './execa.js';
import { cli, eachLine } from './e2e.js';

/**
 * Binds 127.0.0.1:0 and makes it listen, without this process ever accepting on it: a net.Server
 * here would poll the socket and take connections meant for flagman. So the handle is only bound
 * (net._createServerHandle, what the cluster module's primary uses for the same reason), and a
 * throwaway child calls listen() on it; the listening state belongs to the socket, not the child.
 */
export function holdSocket(t) {
  const handle = net._createServerHandle('127.0.0.1', 0, 4);
  if (typeof handle === 'number') throw new Error(`cannot bind 127.0.0.1:0 (errno ${handle})`);
  t.teardown(() => handle.close());
  const r = spawnSync(
    process.execPath,
    ['-e', 'require("node:net").createServer().listen({ fd: 3, backlog: 4096 }, () => process.exit(0))'],
    {
      stdio: ['ignore', 'inherit', 'inherit', handle.fd],
    },
  );
  if (r.status !== 0) throw new Error('the listen helper failed');
  const out = {};
  handle.getsockname(out);
  return { fd: handle.fd, port: out.port };
}

/**
 * Starts `flagman run -c configFile` with the held socket as `systemd:NAME`; resolves once it has
 * logged `start`, with `stop(signal)` resolving to its exit.
 */
export async function startWithSocket(t, socket, configFile, { name = 'web' } = {}) {
  const proc = execa(process.execPath, [cli, 'run', '-c', configFile], {
    reject: false,
    buffer: false,
    stdio: ['ignore', 'ignore', 'pipe', socket.fd],
    env: { LISTEN_FDS: '1', LISTEN_FDNAMES: name },
  });
  const exited = proc.then((r) => r);
  t.teardown(async () => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await exited;
  });
  const lines = [];
  const started = new Promise((resolve) => {
    eachLine(proc.stderr, (line) => {
      lines.push(line);
      if (line.includes('"event":"start"')) resolve();
    });
  });
  await Promise.race([
    started,
    exited.then((r) => {
      throw new Error(`flagman exited early (${r.exitCode}):\n${lines.join('\n')}`);
    }),
  ]);
  return {
    proc,
    lines,
    stop(signal = 'SIGTERM') {
      proc.kill(signal);
      return exited;
    },
  };
}
