// Accessors for libpg-query's JSON parse trees, shared by the classifier (sql.ts) and the
// sensitive-column guard (sql-columns.ts). The parser omits fields at their default value, so
// every read is of something that may be absent.

export type Json = { [key: string]: unknown };

export function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
export function obj(v: unknown): Json | undefined {
  return isObj(v) ? v : undefined;
}
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
