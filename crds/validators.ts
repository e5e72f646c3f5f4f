// Runtime validation of Guarita resources, by validators generated ahead of time from the same
// schema the CRDs are generated from (crds/generate.ts, ajv standalone code in crds/generated/).
// Used wherever a resource is read from outside (files, the API, admission), so a malformed
// policy is refused with the field and the fix, never half-applied. A process that checks only
// AccessPolicies imports crds/access-policy-validator.ts and loads nothing of the other kinds.
import { validate } from './generated/approval-request.validator.ts';
import type { ApprovalRequest } from './types.ts';
import { check, parsed, type Checked, type GeneratedValidator } from './validation.ts';

export { fieldPath, ValidationError, type FieldError } from './validation.ts';
export { parseAccessPolicy, validateAccessPolicy } from './access-policy-validator.ts';

const approvalRequest = validate as unknown as GeneratedValidator;

export function validateApprovalRequest(value: unknown): Checked<ApprovalRequest> {
  return check<ApprovalRequest>(approvalRequest, 'ApprovalRequest', value);
}

export function parseApprovalRequest(value: unknown, source = 'ApprovalRequest'): ApprovalRequest {
  return parsed(validateApprovalRequest(value), source);
}
