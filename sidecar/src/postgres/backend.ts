// Backend messages the proxy itself sends to clients (authentication requests, its own errors
// and notices, rewritten data rows). pg-protocol's serializer covers the frontend direction
// only; its Writer does the framing here.
import { Writer } from 'pg-protocol/dist/buffer-writer.js';

export type TransactionStatus = 'I' | 'T' | 'E';

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'INFO' | 'LOG' | 'DEBUG';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

const CODE = {
  auth: 0x52, // R
  parameterStatus: 0x53, // S
  backendKeyData: 0x4b, // K
  readyForQuery: 0x5a, // Z
  error: 0x45, // E
  notice: 0x4e, // N
  dataRow: 0x44, // D
  negotiateProtocolVersion: 0x76, // v
  copyData: 0x64, // d
} as const;

function noticeOrError(code: number, f: ErrorFields): Buffer {
  const w = new Writer();
  w.addString('S').addCString(f.severity);
  w.addString('V').addCString(f.severity);
  w.addString('C').addCString(f.code);
  w.addString('M').addCString(f.message);
  if (f.detail !== undefined) w.addString('D').addCString(f.detail);
  if (f.hint !== undefined) w.addString('H').addCString(f.hint);
  w.addString('\0');
  return w.flush(code);
}

/** An ErrorResponse ('E') or NoticeResponse ('N') from (field type, value) pairs, in order. */
export function fieldsMessage(kind: 'E' | 'N', fields: ReadonlyArray<[string, string]>): Buffer {
  const w = new Writer();
  for (const [type, value] of fields) w.addString(type).addCString(value);
  w.addString('\0');
  return w.flush(kind === 'E' ? CODE.error : CODE.notice);
}

export function errorResponse(f: Omit<ErrorFields, 'severity'> & { severity?: ErrorFields['severity'] }): Buffer {
  return noticeOrError(CODE.error, { severity: 'ERROR', ...f });
}

export function noticeResponse(f: Omit<ErrorFields, 'severity'> & { severity?: ErrorFields['severity'] }): Buffer {
  return noticeOrError(CODE.notice, { severity: 'NOTICE', ...f });
}

export function readyForQuery(status: TransactionStatus): Buffer {
  return new Writer().addString(status).flush(CODE.readyForQuery);
}

export function authenticationCleartextPassword(): Buffer {
  return new Writer().addInt32(3).flush(CODE.auth);
}

export function authenticationOk(): Buffer {
  return new Writer().addInt32(0).flush(CODE.auth);
}

export function parameterStatus(name: string, value: string): Buffer {
  return new Writer().addCString(name).addCString(value).flush(CODE.parameterStatus);
}

export function backendKeyData(processId: number, secretKey: number): Buffer {
  return new Writer().addInt32(processId).addInt32(secretKey).flush(CODE.backendKeyData);
}

/** Protocol 3.x with a minor version we do not speak, or `_pq_.` options we do not know. */
export function negotiateProtocolVersion(minor: number, unknownOptions: readonly string[]): Buffer {
  const w = new Writer().addInt32((3 << 16) | minor).addInt32(unknownOptions.length);
  for (const o of unknownOptions) w.addCString(o);
  return w.flush(CODE.negotiateProtocolVersion);
}

/** A DataRow from cells that are raw bytes (null for SQL NULL). */
export function dataRow(cells: ReadonlyArray<Buffer | null>): Buffer {
  const w = new Writer(64 + cells.reduce((n, c) => n + 4 + (c?.length ?? 0), 0));
  w.addInt16(cells.length);
  for (const c of cells) {
    if (c === null) {
      w.addInt32(-1);
    } else {
      w.addInt32(c.length);
      w.add(c);
    }
  }
  return w.flush(CODE.dataRow);
}

export function notificationResponse(processId: number, channel: string, payload: string): Buffer {
  return new Writer().addInt32(processId).addCString(channel).addCString(payload).flush(0x41);
}

export function copyData(chunk: Buffer): Buffer {
  return new Writer(chunk.length + 8).add(chunk).flush(CODE.copyData);
}
