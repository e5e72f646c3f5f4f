// The API group, version and REST paths of Guarita's kinds, alone: what a client needs to reach
// the objects, without the schema (the sidecar loads this, not TypeBox and the CRD builders).
export const GROUP = 'guarita.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
/** The REST path of the group version: every component builds its URLs from here (apiPath). */
export const API_PATH = `/apis/${GROUP}/${VERSION}`;

export type GuaritaPlural = 'accesspolicies' | 'approvalrequests';

/** The REST path of a collection (cluster-wide without a namespace) or, with a name, of one object. */
export function apiPath(plural: GuaritaPlural, namespace?: string, name?: string): string {
  const ns = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  return `${API_PATH}${ns}/${plural}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}
