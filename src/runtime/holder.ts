// Publishes the compiled runtime by one assignment (docs/design/conventions.md). A request reads `current` once and
// keeps that runtime to its end, so a swap never changes a request half-way.
//
// Requests waiting in a backend's queue (queue.ts) are the exception: they have not started on a
// server yet, so they follow the newest runtime. Each swap binds every queue to the new runtime's
// backend of its name, whose servers, limits and health then decide, and wakes its waiters (a
// maxconn raised or lifted frees slots without any request ending). A queue whose backend is gone
// (a reload removed it, or made it answer by itself) is bound to nothing: its waiters are answered.
import type { Runtime } from './runtime.js';

export class RuntimeHolder {
  current: Runtime;

  constructor(initial: Runtime) {
    this.current = initial;
    bindQueues(null, initial);
  }

  swap(next: Runtime): void {
    const prev = this.current;
    this.current = next;
    bindQueues(prev, next);
  }
}

function bindQueues(prev: Runtime | null, next: Runtime): void {
  for (const t of next.targets.values()) if (t.kind === 'proxy') t.queue.bind(t);
  if (prev === null) return;
  for (const t of prev.targets.values()) {
    if (t.kind !== 'proxy') continue;
    const now = next.targets.get(t.name);
    if (now?.kind !== 'proxy') t.queue.bind(null);
  }
}
