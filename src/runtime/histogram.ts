// A fixed-bucket histogram of durations, filled on the request path like the counters beside it
// (servers.ts): observe() is a short scan over a shared array of bounds and two additions, no
// allocation, so it costs about what an increment does. Buckets are not cumulative here (each
// counts the observations above the previous bound and at most its own; one more counts those
// above the last); /status turns them into Prometheus' cumulative form (le, +Inf) when it is read.

/**
 * Upper bounds (ms) of the request, connect and time-to-first-byte histograms: in seconds 0.0005,
 * 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, then +Inf. Prometheus'
 * default buckets (5 ms to 10 s, the range of an application's answers) with three more below,
 * because a proxy's own share is far smaller: a request answered on loopback, or by flagman itself,
 * and a connect to a server on the same network take well under a millisecond, and those would
 * otherwise all fall in one bucket with a slow LAN hop. Finer than 0.5 ms would only add series
 * (each bucket is one per frontend, backend or server) for differences nobody alerts on; above
 * 10 s a request is one for timeouts.server to judge, not a latency to graph. In ms so that
 * observe() compares the ms it is given as they are, without a division.
 */
export const LATENCY_BUCKETS_MS: readonly number[] = Object.freeze([0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]);

/** A histogram's figures as they travel (worker reports) and are added up: `counts` per bucket as Histogram keeps them, `sum` in ms. */
export interface HistogramCounts {
  readonly counts: readonly number[];
  readonly sum: number;
}

export class Histogram {
  /** Ascending upper bounds (ms), shared by every histogram of the kind: never copied. */
  readonly bounds: Float64Array;
  /** Per bucket: bounds.length of them, then the one above the last bound (+Inf). Not cumulative. */
  readonly counts: Float64Array;
  /** Every observation added up (ms). */
  sum = 0;

  constructor(bounds: Float64Array) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /**
   * Counts one observation of `ms` in the first bucket whose bound is at least `ms` (Prometheus'
   * `le`). A linear scan: the bounds are few, and the fast answers a proxy mostly sees leave after
   * the first comparisons, where a binary search would always make four.
   */
  observe(ms: number): void {
    const bounds = this.bounds;
    const n = bounds.length;
    let i = 0;
    while (i < n && ms > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += ms;
  }

  /** Observations in all. */
  get count(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }

  /** The figures to send or add up elsewhere (a copy). */
  snapshot(): HistogramCounts {
    return { counts: Array.from(this.counts), sum: this.sum };
  }

  /** Adds another histogram's figures, of the same bounds (a worker's, in the primary). */
  add(other: HistogramCounts): void {
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) counts[i]! += other.counts[i] ?? 0;
    this.sum += other.sum;
  }

  /** Back to no observation (the primary, before adding its workers' figures up again). */
  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
  }

  /**
   * The cumulative form `/status` shows (docs/admin.md): `buckets` maps each bound (ms, as text)
   * to the observations at most that long, `+Inf` to all of them; `sum` in ms, to the microsecond.
   */
  cumulative(): CumulativeHistogram {
    const buckets: Record<string, number> = {};
    const bounds = this.bounds;
    let n = 0;
    for (let i = 0; i < bounds.length; i++) buckets[String(bounds[i])] = n += this.counts[i]!;
    n += this.counts[bounds.length]!;
    buckets['+Inf'] = n;
    return { count: n, sum: Math.round(this.sum * 1000) / 1000, buckets };
  }
}

/** A histogram as `/status` gives it: cumulative counts by upper bound (ms as text, then `+Inf`). */
export interface CumulativeHistogram {
  readonly count: number;
  readonly sum: number;
  readonly buckets: Readonly<Record<string, number>>;
}

/** The bounds of the latency histograms, made once: every one shares it. */
export const LATENCY_BOUNDS = Float64Array.from(LATENCY_BUCKETS_MS);

/** A new request, connect or time-to-first-byte histogram. */
export function latencyHistogram(): Histogram {
  return new Histogram(LATENCY_BOUNDS);
}
