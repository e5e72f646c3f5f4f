// The two CustomResourceDefinitions, assembled from the schema source in ./schema.
import { accessPolicySpec, accessPolicyStatus } from './schema/access-policy.ts';
import { approvalRequestSpec, approvalRequestStatus } from './schema/approval-request.ts';
import { toStructural } from './openapi.ts';
import { GROUP, VERSION } from './api.ts';

// Group, version and paths live in ./api.ts (no schema there, so clients load them alone).
export { API_PATH, API_VERSION, apiPath, GROUP, VERSION, type GuaritaPlural } from './api.ts';

interface Column { name: string; type: string; jsonPath: string; description: string; priority?: number }

interface CrdInput {
  kind: string; plural: string; singular: string; shortNames: string[]; description: string;
  spec: unknown; status: unknown; columns: Column[];
}

function rootSchema(input: CrdInput): Record<string, unknown> {
  return {
    type: 'object',
    description: input.description,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string', description: 'guarita.io/v1alpha1' },
      kind: { type: 'string', description: input.kind },
      metadata: { type: 'object' },
      spec: toStructural(input.spec),
      status: toStructural(input.status),
    },
  };
}

function crd(input: CrdInput): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${input.plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'guarita' } },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: input.kind, listKind: `${input.kind}List`, plural: input.plural, singular: input.singular, shortNames: input.shortNames, categories: ['guarita'] },
      versions: [{
        name: VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: input.columns,
        schema: { openAPIV3Schema: rootSchema(input) },
      }],
    },
  };
}

export const accessPolicyCrd = crd({
  kind: 'AccessPolicy', plural: 'accesspolicies', singular: 'accesspolicy', shortNames: ['apol'],
  description: 'AccessPolicy governs what agent pods may do on one target (a PostgreSQL database or an HTTP API) through the Guarita sidecar: who, for which purpose, which commands, with what masking and approvals.',
  spec: accessPolicySpec, status: accessPolicyStatus,
  columns: [
    { name: 'Target', type: 'string', jsonPath: '.spec.target.name', description: 'Target name' },
    { name: 'Protocol', type: 'string', jsonPath: '.spec.target.protocol', description: 'postgres or http' },
    { name: 'Rules', type: 'integer', jsonPath: '.status.ruleCount', description: 'Rules in force' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Valid and in force' },
    { name: 'Sessions', type: 'integer', jsonPath: '.status.sessions.total', description: 'Commands recorded' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Age' },
  ],
});

export const approvalRequestCrd = crd({
  kind: 'ApprovalRequest', plural: 'approvalrequests', singular: 'approvalrequest', shortNames: ['areq'],
  description: 'ApprovalRequest holds one command that an AccessPolicy rule sent for just-in-time approval. Approve or deny by appending a review: kubectl patch approvalrequest NAME --type=json -p \'[{"op":"add","path":"/spec/reviews/-","value":{"decision":"Approved","reason":"..."}}]\'',
  spec: approvalRequestSpec, status: approvalRequestStatus,
  columns: [
    { name: 'Requester', type: 'string', jsonPath: '.spec.requester.username', description: 'Who issued the command' },
    { name: 'Command', type: 'string', jsonPath: '.spec.command.preview', description: 'The command, shortened' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Pending, Approved, Denied, Expired or Consumed' },
    { name: 'Approvals', type: 'string', jsonPath: '.status.approvals', description: 'Approvals counted', priority: 1 },
    { name: 'Policy', type: 'string', jsonPath: '.spec.policyRef.name', description: 'AccessPolicy', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Age' },
  ],
});

export const allCrds = [accessPolicyCrd, approvalRequestCrd];
