// Segment files: append-only JSONL, one per policy and time/size slice, named after the first
// store-chain sequence number they hold. Line 1 is a header; every other line is one store entry
// {"l": <signed store link>, "r": <signed session record>} ("r" absent for tombstone links).
// Retention deletes whole segments, never lines.
import type { SessionRecord, StoreLink } from './types.ts';

export const SEGMENT_FORMAT = 'guarita-segment/v1';
const NAME = /^(\d{20})\.seg$/;

export interface SegmentHeader {
  format: typeof SEGMENT_FORMAT;
  namespace: string;
  policy: string;
  firstSeq: number;
  createdAt: string;
}

export interface SegmentEntry {
  link: StoreLink;
  record?: SessionRecord;
  /** Byte offset and length of the line (without the newline). */
  offset: number;
  length: number;
}

export interface ParsedSegment {
  header?: SegmentHeader;
  entries: SegmentEntry[];
  /** Byte length of the well-formed prefix; anything after it is a torn or corrupt tail. */
  validBytes: number;
  totalBytes: number;
}

export function segmentName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, '0')}.seg`;
}

export function segmentFirstSeq(name: string): number | undefined {
  const m = NAME.exec(name);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

export function encodeHeader(h: SegmentHeader): Buffer {
  return Buffer.from(`${JSON.stringify({ segment: h })}\n`);
}

export function encodeEntry(link: StoreLink, record: SessionRecord | undefined): Buffer {
  return Buffer.from(`${JSON.stringify(record === undefined ? { l: link } : { l: link, r: record })}\n`);
}

function parseLine(text: string): { header?: SegmentHeader; link?: StoreLink; record?: SessionRecord } | undefined {
  try {
    const v = JSON.parse(text) as { segment?: SegmentHeader; l?: StoreLink; r?: SessionRecord };
    if (v.segment?.format === SEGMENT_FORMAT) return { header: v.segment };
    if (v.l === undefined || typeof v.l.seq !== 'number' || typeof v.l.hash !== 'string') return undefined;
    return v.r === undefined ? { link: v.l } : { link: v.l, record: v.r };
  } catch {
    return undefined;
  }
}

/** Parses a segment; stops at the first line that is incomplete (no newline) or unparseable. */
export function parseSegment(buf: Buffer): ParsedSegment {
  const entries: SegmentEntry[] = [];
  let header: SegmentHeader | undefined;
  let offset = 0;
  while (offset < buf.length) {
    const nl = buf.indexOf(0x0a, offset);
    if (nl < 0) break;
    const parsed = parseLine(buf.toString('utf8', offset, nl));
    if (parsed === undefined || (parsed.header !== undefined && offset !== 0)) break;
    if (parsed.header !== undefined) header = parsed.header;
    if (parsed.link !== undefined) entries.push({ link: parsed.link, ...(parsed.record === undefined ? {} : { record: parsed.record }), offset, length: nl - offset });
    offset = nl + 1;
  }
  return { ...(header === undefined ? {} : { header }), entries, validBytes: offset, totalBytes: buf.length };
}
