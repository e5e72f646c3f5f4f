// Go-style durations (time.ParseDuration) plus `d` for days, as Kubernetes users write them.

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  ns: 1e-9, us: 1e-6, 'µs': 1e-6, 'μs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600, d: 86400,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/y;

/** '15m' → 900, '1h30m' → 5400, '90d' → 7776000, '1.5s' → 1.5, '0' → 0. Throws on anything else. */
export function parseDuration(s: string): number {
  if (s === '0') return 0;
  if (s === '') throw new Error('invalid duration "": empty');
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const start = PART.lastIndex;
    const m = PART.exec(s);
    if (m === null) throw new Error(`invalid duration "${s}": expected <number><unit> at character ${start + 1} (units: ns, us, ms, s, m, h, d)`);
    total += Number(m[1]) * (UNIT_SECONDS[m[2] ?? ''] ?? 0);
  }
  if (!Number.isFinite(total)) throw new Error(`invalid duration "${s}": too large`);
  return total;
}
