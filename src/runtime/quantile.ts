// The q-quantile of a histogram as /status gives it (histogram.ts, CumulativeHistogram), estimated as
// Prometheus' histogram_quantile() does: find the bucket that holds the q-th observation and assume
// the observations spread evenly inside it (linear interpolation between its lower and upper
// bound; the first bucket starts at 0). One that falls in the +Inf bucket is given the highest
// finite bound, as Prometheus does: nothing says how far above it lies.
//
// Written once for every reader: `flagman status` imports it, and the dashboard's script inlines
// its source (admin/dashboard-script.ts): so it must stay one self-contained function, using nothing
// from outside it, in JavaScript a browser runs as it is.

/**
 * The `q`-quantile (0–1) of cumulative `buckets` (upper bound as text → observations at most that
 * long; `+Inf` → all of them), in the bounds' unit; null when there is no observation. Keys may
 * come in any order (a JSON object puts `1` before `0.5`), and a count that is not a finite number
 * (a reader's document, from any version) is left out.
 */
export function histogramQuantile(q: number, buckets: Readonly<Record<string, unknown>>): number | null {
  const sorted = Object.entries(buckets)
    .map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n] as const)
    .filter((e): e is readonly [number, number] => !Number.isNaN(e[0]) && typeof e[1] === 'number' && Number.isFinite(e[1]))
    .sort((a, b) => a[0] - b[0]);
  const last = sorted[sorted.length - 1];
  if (last === undefined || last[0] !== Infinity || sorted.length < 2) return null;
  const total = last[1];
  if (!(total > 0)) return null;
  const rank = Math.min(1, Math.max(0, q)) * total;
  let i = 0;
  while (i < sorted.length - 1 && sorted[i]![1] < rank) i++;
  if (i === sorted.length - 1) return sorted[sorted.length - 2]![0];
  const end = sorted[i]![0];
  if (i === 0 && end <= 0) return end;
  const start = i === 0 ? 0 : sorted[i - 1]![0];
  const below = i === 0 ? 0 : sorted[i - 1]![1];
  const inBucket = sorted[i]![1] - below;
  if (!(inBucket > 0)) return end;
  return start + (end - start) * ((rank - below) / inBucket);
}
