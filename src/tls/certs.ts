// The certificates of every TLS frontend, in memory, kept fresh: their files are watched and re-read
// when they change (certbot, cert-manager, an `mv` by hand), and a config reload re-reads them too.
// A handshake only picks from memory (pair.ts CertSet). A pair that fails to read — mismatched,
// half-written, garbage — keeps the previous one serving, and is reported (event log, /status)
// until the files are right again.
import path from 'node:path';
import type tls from 'node:tls';
import { FSWatcher } from 'chokidar';
import type { Config, TlsConfig } from '../config/schema.js';
import { FlagmanError, FlagmanErrors } from '../errors.js';
import { events } from '../log.js';
import { CertSet } from './pair.js';

// Long enough for a renewal that replaces the certificate and then the key to land as one change.
const DEBOUNCE_MS = 150;

/** The certificates one frontend serves, and the listeners serving them. */
export class TlsSite {
  readonly frontend: string;
  readonly config: TlsConfig;
  /** What handshakes get now; replaced whole when the files change and read well. */
  set: CertSet;
  /** Why the files on disk are not what is served, or null. */
  problem: string | null = null;
  readonly #servers = new Set<tls.Server>();

  constructor(frontend: string, config: TlsConfig, set: CertSet) {
    this.frontend = frontend;
    this.config = config;
    this.set = set;
  }

  /** A listener serves this site from now on (its default certificate follows reloads). */
  attach(server: tls.Server): void {
    this.#servers.add(server);
    server.setSecureContext(this.set.defaultOptions);
  }

  detach(server: tls.Server): void {
    this.#servers.delete(server);
  }

  /** Re-reads the files; swaps on success, keeps the old set and records the problem on failure. */
  refresh(report: boolean): void {
    let next: CertSet;
    try {
      next = CertSet.load(this.config);
    } catch (err) {
      const reason = err instanceof FlagmanError ? err.reason : String(err);
      if (reason !== this.problem && report) {
        events.error(
          { event: 'tls.problem', frontend: this.frontend, error: reason },
          `frontend ${this.frontend}: ${reason}; still serving the previous certificate`,
        );
      }
      this.problem = reason;
      return;
    }
    const fixed = this.problem !== null;
    this.problem = null;
    if (next.same(this.set)) {
      if (fixed && report)
        events.info({ event: 'tls.ok', frontend: this.frontend }, `frontend ${this.frontend}: certificate files readable again, unchanged`);
      return;
    }
    this.set = next;
    for (const s of this.#servers) s.setSecureContext(next.defaultOptions);
    if (report)
      events.info({ event: 'tls.reload', frontend: this.frontend, ...describe(next) }, `frontend ${this.frontend}: certificate reloaded`);
  }
}

/** What an event says about a set: each pair's names and serial. */
export function describe(set: CertSet): { certificates: { names: readonly string[]; serial: string }[] } {
  return { certificates: set.pairs.map((p) => ({ names: p.names, serial: p.serial })) };
}

/** Every TLS frontend's site, by frontend name; one per process. */
export class CertStore {
  readonly #report: boolean;
  #sites = new Map<string, TlsSite>();
  #watcher: FSWatcher | null = null;
  readonly #dirs = new Set<string>();
  readonly #files = new Set<string>();
  #timer: NodeJS.Timeout | null = null;

  /** `report`: this process logs TLS events (a worker leaves that to its primary). */
  constructor(report: boolean) {
    this.#report = report;
  }

  /**
   * Reads the certificates of every TLS frontend of `config` into new sites, changing nothing yet;
   * throws FlagmanErrors naming each bad file (a reload then fails and the old world stays).
   */
  stage(config: Config): Map<string, TlsSite> {
    const sites = new Map<string, TlsSite>();
    const errors: FlagmanError[] = [];
    for (const fe of config.frontends) {
      if (fe.tls === null) continue;
      try {
        sites.set(fe.name, new TlsSite(fe.name, fe.tls, CertSet.load(fe.tls)));
      } catch (err) {
        if (!(err instanceof FlagmanError)) throw err;
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new FlagmanErrors(errors);
    return sites;
  }

  /** Makes staged sites the current ones, and watches their files. */
  adopt(sites: Map<string, TlsSite>): void {
    this.#sites = sites;
    for (const site of sites.values()) {
      if (this.#report)
        events.info(
          { event: 'tls.load', frontend: site.frontend, ...describe(site.set) },
          `frontend ${site.frontend}: certificates loaded`,
        );
      for (const p of site.config.certificates) this.#watch(p.cert, p.key);
    }
  }

  /** The current site of a frontend, or undefined when it serves plain HTTP. */
  site(frontend: string): TlsSite | undefined {
    return this.#sites.get(frontend);
  }

  /** Problems with certificate files, for /status. */
  problems(): string[] {
    const out: string[] = [];
    for (const s of this.#sites.values())
      if (s.problem !== null) out.push(`frontend ${s.frontend}: ${s.problem}; serving the previous certificate`);
    return out;
  }

  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#watcher?.close();
  }

  // The folder, not the file: a rename over the file (`mv`, certbot's symlink swap) replaces the
  // inode a file watch is on (lifecycle/config-watch.ts does the same for the config file).
  #watch(...files: string[]): void {
    this.#watcher ??= this.#newWatcher();
    const w = this.#watcher;
    for (const file of files) {
      this.#files.add(file);
      const dir = path.dirname(file);
      if (this.#dirs.has(dir)) continue;
      this.#dirs.add(dir);
      w.add(dir);
    }
  }

  #newWatcher(): FSWatcher {
    const w = new FSWatcher({
      ignoreInitial: true,
      depth: 0,
      atomic: false,
      ignored: (p: string) => !this.#dirs.has(path.resolve(p)) && !this.#files.has(path.resolve(p)),
    });
    // Raw events come before chokidar's per-path throttle, which can drop the last of a burst.
    w.on('raw', () => this.#poke());
    w.on('all', () => this.#poke());
    // A watch that fails leaves SIGHUP, which re-reads the files too.
    w.on('error', () => undefined);
    return w;
  }

  #poke(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      // Every site: a few files, compared with what is served; unchanged ones swap nothing.
      for (const site of this.#sites.values()) site.refresh(this.#report);
    }, DEBOUNCE_MS);
  }
}
