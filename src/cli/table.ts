// Plain-text tables for the CLI: columns padded to their widest cell, two spaces apart, numbers
// right-aligned, no trailing spaces (so `grep` and `awk` work on the output).

/** Formats rows (the first is the header) as aligned lines; columns in `right` are right-aligned. */
export function formatTable(rows: readonly (readonly string[])[], right: ReadonlySet<number> = new Set()): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const lines = rows.map((r) =>
    r
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}
