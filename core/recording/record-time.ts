// Times as the evidence contract takes them: RFC 3339 naming an instant that exists.
//
// A record's `time` may carry any UTC offset (Z or ±hh:mm) and any fraction of a second; a
// checkpoint's time is the sidecar's own UTC clock (Z only, at most nanoseconds). The ingest schema
// checks the form only; a time of the right form that names no instant (month 13, hour 25,
// 2026-02-30) parses to NaN or rolls over, and NaN compares false with every since/until bound, so
// such a record would pass every time filter of the read API and of exports (round 7 closed it for
// checkpoints, round 9 for records).
//
// The date and clock are checked by arithmetic, not by a Date round trip: the operator checks one
// per record it ingests, and the round trip (parse, format, compare) was a tenth of a batch's CPU.

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))$/;
const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(year: number, month: number): number {
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return (DAYS_IN_MONTH[month - 1] ?? 0) + (leap ? 1 : 0);
}

/**
 * Whether a regex match's year, month, day, hour, minute and second groups (1–6) name a date and a
 * clock time that exist as written: nothing rolls over, 24:00 is not midnight, and a leap second
 * (:60) is refused since no JavaScript Date can place it.
 */
function existsAsWritten(m: RegExpExecArray): boolean {
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return false;
  return Number(m[4]) <= 23 && Number(m[5]) <= 59 && Number(m[6]) <= 59;
}

/** Whether `time` is an RFC 3339 time (any offset) of a calendar date and clock time that exist, at a real offset. */
export function isRealInstant(time: unknown): boolean {
  if (typeof time !== 'string') return false;
  const m = RFC3339.exec(time);
  if (m === null || !existsAsWritten(m)) return false;
  return m[8] === undefined || (Number(m[8]) <= 23 && Number(m[9]) <= 59);
}

/** Whether `time` is an RFC 3339 UTC time (Z, at most 9 fraction digits) of a date and clock time that exist. */
export function isRealUtcTime(time: string): boolean {
  const m = RFC3339_UTC.exec(time);
  return m !== null && existsAsWritten(m);
}
