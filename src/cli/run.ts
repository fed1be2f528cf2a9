// `flagman run`. It prints nothing through the command line's io: the proxy's events go to its own
// log sink (log-sink.ts), which writes to the process's descriptors for as long as the proxy runs.
// Here the proxy (lifecycle/run.ts) and its admin endpoint (admin/) are put together.
import type http from 'node:http';
import { createMetrics } from '../admin/metrics.js';
import { createAdminServer } from '../admin/server.js';
import { run } from '../lifecycle/run.js';
import type { AdminSources } from '../lifecycle/sources.js';
import { helperNiceWanted } from '../helper-threads.js';
import { configPath } from './paths.js';
import { UsageError } from './usage.js';

export function runCommand(values: Record<string, unknown>): Promise<number> {
  if (helperNiceWanted() === null) throw new UsageError(`FLAGMAN_HELPER_NICE must be on or off, not "${process.env.FLAGMAN_HELPER_NICE}"`);
  return run(configPath(values), adminEndpoint);
}

function adminEndpoint(sources: AdminSources): () => http.Server {
  // One registry, however often a reload moves the admin endpoint.
  const metrics = createMetrics(sources);
  return () => createAdminServer(sources, metrics);
}
