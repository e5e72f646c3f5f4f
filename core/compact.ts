// Shared by the operator's modules and core/kube/rest.ts.

/** A copy of `obj` without its undefined properties (exactOptionalPropertyTypes-friendly spreads). */
export function compact<T extends Record<string, unknown>>(obj: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}
