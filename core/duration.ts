// Durations as Kubernetes users write them: Go's time.ParseDuration syntax plus `d` for days
// (250ms, 30s, 1m30s, 15m, 24h, 180d). The one parser for policies, settings and CLI flags.

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  ns: 1e-9, us: 1e-6, 'µs': 1e-6, 'μs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600, d: 86400,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/y;

/** '15m' → 900, '1h30m' → 5400, '90d' → 7776000, '1.5s' → 1.5, '0' → 0 (seconds). Throws on anything else. */
export function parseDuration(s: string): number {
  if (s === '0') return 0;
  if (s === '') throw new Error('invalid duration "": empty');
  let total = 0;
  const part = new RegExp(PART.source, 'y');
  while (part.lastIndex < s.length) {
    const start = part.lastIndex;
    const m = part.exec(s);
    if (m === null) throw new Error(`invalid duration "${s}": expected <number><unit> at character ${start + 1} (units: ns, us, ms, s, m, h, d)`);
    total += Number(m[1]) * (UNIT_SECONDS[m[2] ?? ''] ?? 0);
  }
  if (!Number.isFinite(total)) throw new Error(`invalid duration "${s}": too large`);
  return total;
}

/** Whole milliseconds of a duration, or undefined when the text is not one (for settings that report their own errors). */
export function durationMs(text: string): number | undefined {
  try {
    return Math.round(parseDuration(text.trim()) * 1000);
  } catch {
    return undefined;
  }
}

/** The shortest exact spelling: 2h, 15m, 30s, 250ms. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** RFC 3339 without milliseconds, the way Kubernetes writes metav1.Time. */
export function kubeTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
