// A record's `time` as the ingest contract takes it: RFC 3339 with a UTC offset (Z or ±hh:mm) and
// any fraction of a second, naming an instant that exists. The ingest schema checks the form only;
// a time of the right form that names no instant (month 13, hour 25, 2026-02-30) parses to NaN or
// rolls over, and NaN compares false with every since/until bound, so such a record would pass every
// time filter of the read API and of exports. Round 7 closed the same form for checkpoint times
// (checkpoint.ts isRealTime, which takes Z only: checkpoints are the sidecar's own UTC clock).
import { isRealTime } from './checkpoint.ts';

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/;

/** Whether `time` is an RFC 3339 time (the contract's form) of a calendar date and clock time that exist, at a real offset. */
export function isRealInstant(time: unknown): boolean {
  if (typeof time !== 'string') return false;
  const m = RFC3339.exec(time);
  if (m === null) return false;
  // The local date and clock must exist as written (isRealTime rolls nothing over); a leap second
  // (:60) is refused too, since Date.parse cannot place it.
  if (!isRealTime(`${m[1]}Z`)) return false;
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59)) return false;
  return Number.isFinite(Date.parse(time));
}
