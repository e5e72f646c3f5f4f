// What the admission routes share: configuration, the policy cache, the few live lookups, metrics.
import type { FastifyBaseLogger } from 'fastify';
import type { OidcUsernameMapping } from '../../core/approvals/requester.ts';
import type { MaskingCheck } from './access-policy.ts';
import type { InjectorConfig } from './inject.ts';
import { METADATA_ONLY, type KubeApi } from './kube.ts';
import type { Pod, UserInfo } from './kube-types.ts';
import type { WebhookMetrics } from './metrics.ts';
import type { PolicySource } from './policy-cache.ts';

export interface ClusterLookups {
  /** The names among `names` that exist as Secrets in `namespace` (metadata-only reads). */
  existingSecrets(namespace: string, names: readonly string[]): Promise<Set<string>>;
  /** undefined when the namespace cannot be read. */
  namespaceLabels(namespace: string): Promise<Record<string, string> | undefined>;
  /**
   * Whether the requesting user may do this themselves (SubjectAccessReview). The webhook reads
   * with its own cluster-wide grants; what it tells a requester must not exceed theirs. Any error
   * answers false (fail closed: the answer is then the uniform one).
   */
  userMay(user: UserInfo, attributes: ResourceAttributes): Promise<boolean>;
  /** The pods of a namespace (errors propagate: the caller fails closed). Absent: cannot list, refuse. */
  podsIn?(namespace: string): Promise<Pod[]>;
}

export interface ResourceAttributes { verb: string; resource: string; group?: string; namespace: string; name?: string }

export interface WebhookContext {
  injector: InjectorConfig;
  /** Inline CSI drivers pods of opted-in namespaces may use (GUARITA_WEBHOOK_ALLOWED_CSI_DRIVERS). */
  allowedCsiDrivers: readonly string[];
  missingSecret: 'reject' | 'warn';
  usernameMappings: readonly OidcUsernameMapping[];
  /**
   * Username of the operator's service account (system:serviceaccount:<ns>:<name>), the only
   * identity that decides ApprovalRequest phases. Undefined: nobody does (fail closed).
   */
  operatorUsername?: string;
  policies: PolicySource;
  lookups: ClusterLookups;
  metrics: WebhookMetrics;
  log: FastifyBaseLogger;
  maskingCheck: MaskingCheck;
  now(): Date;
}

interface Meta { metadata?: { labels?: Record<string, string> } }

export function apiLookups(api: KubeApi): ClusterLookups {
  return {
    async existingSecrets(namespace, names) {
      const found = await Promise.all([...new Set(names)].map(async (name) => {
        const meta = await api.get<Meta>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`, { accept: METADATA_ONLY, timeoutMs: 3000 });
        return meta === undefined ? undefined : name;
      }));
      return new Set(found.filter((n): n is string => n !== undefined));
    },
    async userMay(user, attributes) {
      try {
        const review = await api.create<{ status?: { allowed?: boolean } }>('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
          spec: { user: user.username, uid: user.uid, groups: user.groups, extra: user.extra, resourceAttributes: { group: '', ...attributes } },
        });
        return review.status?.allowed === true;
      } catch {
        return false;
      }
    },
    async podsIn(namespace) {
      const list = await api.get<{ items?: Pod[] }>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, { timeoutMs: 5000 });
      return list?.items ?? [];
    },
    async namespaceLabels(namespace) {
      try {
        const ns = await api.get<Meta>(`/api/v1/namespaces/${encodeURIComponent(namespace)}`, { accept: METADATA_ONLY, timeoutMs: 3000 });
        return ns?.metadata?.labels ?? (ns === undefined ? undefined : {});
      } catch {
        return undefined;
      }
    },
  };
}
