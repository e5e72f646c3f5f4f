// Time flags (--since, --until, --max-idle) and human durations, shared by the recording commands.
import { UsageError } from './args.ts';
import { durationMs } from '../../core/duration.ts';

// RFC 3339 with its zone (seconds optional: 2026-11-01T12:00Z), or a plain date meaning midnight UTC.
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/i;

export function parseDurationFlag(value: string, flag: string): number {
  const ms = durationMs(value.trim());
  if (ms === undefined) throw new UsageError(`${flag} must be a duration like 500ms, 5s, 2m or 1h30m (got '${value}')`);
  return ms;
}

/**
 * A point in time for --since/--until: a duration meaning "that long ago" (24h, 7d) or an RFC 3339
 * time (2026-11-01T12:00:00Z; a bare date is midnight UTC). Returns epoch milliseconds.
 */
export function parseTimeFlag(value: string, flag: string, now: number): number {
  const trimmed = value.trim();
  const ago = durationMs(trimmed);
  if (ago !== undefined) return now - ago;
  const t = TIMESTAMP.test(trimmed) ? Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(trimmed) ? `${trimmed}T00:00:00Z` : trimmed) : Number.NaN;
  if (Number.isNaN(t)) throw new UsageError(`${flag} must be a duration ago (24h, 7d) or a time with its zone (2026-11-01T12:00:00Z, 2026-11-01T09:00:00-03:00, or a date: 2026-11-01), got '${value}'`);
  return t;
}

/** 0.8s, 12s, 3m05s, 2h10m, 3d4h: compact, for people. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

/** 1.2 kB, 3.4 MB (decimal units, as people read file sizes). */
export function humanBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i] ?? 'TB'}`;
}
