// The certificates of every TLS frontend, in memory, kept fresh: their files are watched and re-read
// when they change (certbot, cert-manager, an `mv` by hand), and a config reload re-reads them too.
// A handshake only picks from memory (pair.ts CertSet). A pair that fails to read — mismatched,
// half-written, garbage — keeps the previous one serving, and is reported (event log, /status)
// until the files are right again. The files are watched by file-watch.ts (each file, followed through
// a rename over it or a re-pointed symlink such as certbot's or a Secret volume's `..data` swap).
import type tls from 'node:tls';
import type { Config, TlsConfig } from '../config/schema.js';
import { FlagmanError, FlagmanErrors } from '../errors.js';
import { FileWatch } from '../file-watch.js';
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
  readonly #servers = new Set<tls.Server>();
  #watch: FileWatch<CertSet> | null = null;

  constructor(frontend: string, config: TlsConfig, set: CertSet) {
    this.frontend = frontend;
    this.config = config;
    this.set = set;
  }

  /** Why the files on disk are not what is served, or null. */
  get problem(): string | null {
    return this.#watch?.problem?.reason ?? null;
  }

  /** A listener serves this site from now on (its default certificate follows reloads). */
  attach(server: tls.Server): void {
    this.#servers.add(server);
    server.setSecureContext(this.set.defaultOptions);
  }

  detach(server: tls.Server): void {
    this.#servers.delete(server);
  }

  /**
   * Watches the files from now on: re-reads them when they change, swaps on success, keeps the old
   * set and records the problem on failure. `report`: this process logs what happens.
   */
  watch(report: boolean): void {
    this.#watch ??= new FileWatch<CertSet>(
      {
        files: this.config.certificates.flatMap((p) => [p.cert, p.key]),
        debounceMs: DEBOUNCE_MS,
        read: () => CertSet.load(this.config),
        // Compared with what is served; unchanged files swap nothing.
        same: (a, b) => a.same(b),
        onChange: (next) => {
          this.set = next;
          for (const s of this.#servers) s.setSecureContext(next.defaultOptions);
          if (report)
            events.info(
              { event: 'tls.reload', frontend: this.frontend, ...describe(next) },
              `frontend ${this.frontend}: certificate reloaded`,
            );
        },
        onProblem: (err, again) => {
          if (again || !report) return;
          events.error(
            { event: 'tls.problem', frontend: this.frontend, error: err.reason },
            `frontend ${this.frontend}: ${err.reason}; still serving the previous certificate`,
          );
        },
        onRecover: () => {
          if (report)
            events.info(
              { event: 'tls.ok', frontend: this.frontend },
              `frontend ${this.frontend}: certificate files readable again, unchanged`,
            );
        },
      },
      this.set,
    );
  }

  /** Stops watching the files (the site is no longer served). */
  unwatch(): void {
    this.#watch?.close();
    this.#watch = null;
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

  /** Makes staged sites the current ones, and watches their files (and no longer the old ones'). */
  adopt(sites: Map<string, TlsSite>): void {
    for (const old of this.#sites.values()) old.unwatch();
    this.#sites = sites;
    for (const site of sites.values()) {
      if (this.#report)
        events.info(
          { event: 'tls.load', frontend: site.frontend, ...describe(site.set) },
          `frontend ${site.frontend}: certificates loaded`,
        );
      site.watch(this.#report);
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
    for (const s of this.#sites.values()) s.unwatch();
  }
}
