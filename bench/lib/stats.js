// Small statistics and formatting helpers shared by the bench scripts.

/** Nearest-rank percentile of an already sorted array (null when empty). */
export function pct(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** {n, p50, p90, p99, max, mean} of a list of numbers, rounded to 0.01 (nulls when empty). */
export function summary(values) {
  const s = Float64Array.from(values).sort();
  const r = (x) => (x === null || x === undefined ? null : Math.round(x * 100) / 100);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : null;
  return {
    n: s.length,
    p50: r(pct(s, 50)),
    p90: r(pct(s, 90)),
    p99: r(pct(s, 99)),
    max: r(s.length ? s[s.length - 1] : null),
    mean: r(mean),
  };
}

/** A fixed-width text table: `cols` is [{key, title, align}], rows are objects. */
export function table(cols, rows) {
  const cell = (v) => (v === null || v === undefined ? '-' : typeof v === 'number' ? String(v) : String(v));
  const widths = cols.map((c) => Math.max(c.title.length, ...rows.map((r) => cell(r[c.key]).length)));
  const line = (vals) => vals.map((v, i) => (cols[i].align === 'left' ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  return [
    line(cols.map((c) => c.title)),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(cols.map((c) => cell(r[c.key])))),
  ].join('\n');
}

/** A fixed number of decimals, or '-' for null. */
export function fmt(x, digits = 1) {
  return x === null || x === undefined ? '-' : x.toFixed(digits);
}
