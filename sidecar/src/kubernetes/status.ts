// Answers the sidecar itself gives kubectl: metav1.Status objects, which kubectl prints as
// "Error from server (<Reason>): <message>" (and client-go turns into typed errors).
import type { ServerResponse } from 'node:http';

const REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 406: 'NotAcceptable', 408: 'Timeout', 409: 'Conflict',
  410: 'Expired', 413: 'RequestEntityTooLarge', 415: 'UnsupportedMediaType', 422: 'Invalid', 429: 'TooManyRequests', 431: 'BadRequest', 500: 'InternalError', 502: 'InternalError', 503: 'ServiceUnavailable',
};

export interface StatusBody {
  kind: 'Status'; apiVersion: 'v1'; metadata: Record<string, never>; status: 'Failure'; message: string; reason: string; code: number;
  details?: { name?: string; group?: string; kind?: string; causes?: { reason: string; message: string }[] };
}

export function statusBody(code: number, message: string, details?: StatusBody['details']): StatusBody {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: REASONS[code] ?? 'Unknown', code, ...(details === undefined ? {} : { details }) };
}

/** Sends a Status (or cuts the connection when the response has already begun). */
export function sendStatus(res: ServerResponse, code: number, message: string, headers: Record<string, string> = {}, details?: StatusBody['details']): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = `${JSON.stringify(statusBody(code, message, details))}\n`;
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** The same Status over a raw socket (an upgrade request is answered before any HTTP response object exists). */
export function statusOnSocket(code: number, message: string): string {
  const text = `${JSON.stringify(statusBody(code, message))}\n`;
  return `HTTP/1.1 ${code} ${REASONS[code] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`;
}
