// Segment files: append-only JSONL, one per policy and time/size slice, named after the first
// store-chain sequence number they hold. Line 1 is a header; every other line is one store entry
// {"l": <store link>, "r"?: <session record>, "c"?: <sidecar checkpoint>, "sc"?: <store checkpoint
// note>, "sf"?: <store tree frontier>}: "r" on store.record links, "c" ({note, frontier}) on
// store.checkpoint links, "sc"/"sf" on the last line of each policy in each commit group.
// Retention deletes whole segments, never lines.
import type { SessionRecord, StoreCheckpoint, StoredChainCheckpoint, StoreLink } from './types.ts';

export const SEGMENT_FORMAT = 'guarita-segment/v1';
const NAME = /^(\d{20})\.seg$/;

export interface SegmentHeader {
  format: typeof SEGMENT_FORMAT;
  namespace: string;
  policy: string;
  firstSeq: number;
  createdAt: string;
}

/** What a line carries besides its link and record. */
export interface EntryExtras {
  chainCheckpoint?: StoredChainCheckpoint;
  storeCheckpoint?: StoreCheckpoint;
}

export interface SegmentEntry extends EntryExtras {
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

export function headerLine(h: SegmentHeader): string {
  return `${JSON.stringify({ segment: h })}\n`;
}

export function encodeHeader(h: SegmentHeader): Buffer {
  return Buffer.from(headerLine(h));
}

/**
 * A store entry's line (newline included) from the JSON of its link and of its record: the writer
 * passes the JSON it already made when it hashed them (batch-check.ts jsonWithHash), so a record is
 * not serialized twice. Members in the order encodeEntry writes them.
 */
export function entryLine(linkJson: string, recordJson: string | undefined, extras: EntryExtras = {}): string {
  let line = `{"l":${linkJson}`;
  if (recordJson !== undefined) line += `,"r":${recordJson}`;
  if (extras.chainCheckpoint !== undefined) line += `,"c":${JSON.stringify(extras.chainCheckpoint)}`;
  if (extras.storeCheckpoint !== undefined) line += `,"sc":${JSON.stringify(extras.storeCheckpoint.note)},"sf":${JSON.stringify(extras.storeCheckpoint.frontier)}`;
  return `${line}}\n`;
}

export function encodeEntry(link: StoreLink, record: SessionRecord | undefined, extras: EntryExtras = {}): Buffer {
  return Buffer.from(entryLine(JSON.stringify(link), record === undefined ? undefined : JSON.stringify(record), extras));
}

interface RawLine { segment?: SegmentHeader; l?: StoreLink; r?: SessionRecord; c?: StoredChainCheckpoint; sc?: string; sf?: string[] }

function extrasOf(v: RawLine): EntryExtras {
  const extras: EntryExtras = {};
  if (v.c !== undefined && typeof v.c.note === 'string' && Array.isArray(v.c.frontier)) extras.chainCheckpoint = v.c;
  if (typeof v.sc === 'string' && Array.isArray(v.sf)) extras.storeCheckpoint = { note: v.sc, frontier: v.sf };
  return extras;
}

function parseLine(text: string): ({ header?: SegmentHeader; link?: StoreLink; record?: SessionRecord } & EntryExtras) | undefined {
  try {
    const v = JSON.parse(text) as RawLine;
    if (v.segment?.format === SEGMENT_FORMAT) return { header: v.segment };
    if (v.l === undefined || typeof v.l.seq !== 'number' || typeof v.l.hash !== 'string') return undefined;
    return { link: v.l, ...(v.r === undefined ? {} : { record: v.r }), ...extrasOf(v) };
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
    if (parsed.link !== undefined) {
      const { header: _h, link, ...rest } = parsed;
      entries.push({ link, ...rest, offset, length: nl - offset });
    }
    offset = nl + 1;
  }
  return { ...(header === undefined ? {} : { header }), entries, validBytes: offset, totalBytes: buf.length };
}
