// TypeScript types of the API, derived from the schema source (never written by hand).
import type { Static } from '@sinclair/typebox';
import type { accessPolicySpec, accessPolicyStatus } from './schema/access-policy.ts';
import type { approvalRequestSpec, approvalRequestStatus } from './schema/approval-request.ts';

export type AccessPolicySpec = Static<typeof accessPolicySpec>;
export type AccessPolicyStatus = Static<typeof accessPolicyStatus>;
export type ApprovalRequestSpec = Static<typeof approvalRequestSpec>;
export type ApprovalRequestStatus = Static<typeof approvalRequestStatus>;

export type PolicyRule = AccessPolicySpec['rules'][number];
export type PolicyTarget = AccessPolicySpec['target'];
export type PolicyMasking = NonNullable<AccessPolicySpec['masking']>;
export type PolicySubject = AccessPolicySpec['subjects'][number];
export type ApprovalPhase = NonNullable<ApprovalRequestStatus['phase']>;
export type Condition = NonNullable<AccessPolicyStatus['conditions']>[number];

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface AccessPolicy {
  apiVersion: 'guarita.io/v1alpha1';
  kind: 'AccessPolicy';
  metadata: ObjectMeta;
  spec: AccessPolicySpec;
  status?: AccessPolicyStatus;
}

export interface ApprovalRequest {
  apiVersion: 'guarita.io/v1alpha1';
  kind: 'ApprovalRequest';
  metadata: ObjectMeta;
  spec: ApprovalRequestSpec;
  status?: ApprovalRequestStatus;
}

// From the generated plain lists, not the schema modules: run-time importers do not load TypeBox.
export { SQL_STATEMENT_KINDS, SQL_TRAITS, HTTP_METHODS, DETECTORS, MASK_STYLES, PHASES } from './generated/vocabulary.ts';
export type SqlStatementKind = (typeof import('./schema/access-policy.ts').SQL_STATEMENT_KINDS)[number];
export type SqlTrait = (typeof import('./schema/access-policy.ts').SQL_TRAITS)[number];
export type SshRequestKind = (typeof import('./schema/access-policy.ts').SSH_REQUESTS)[number];
export type SftpOperation = (typeof import('./schema/access-policy.ts').SFTP_OPERATIONS)[number];
