// Publishes the compiled runtime by one assignment (docs/design/conventions.md). A request reads `current` once and
// keeps that runtime to its end, so a swap never changes a request half-way.
import type { Runtime } from './runtime.js';

export class RuntimeHolder {
  current: Runtime;

  constructor(initial: Runtime) {
    this.current = initial;
  }

  swap(next: Runtime): void {
    this.current = next;
  }
}
