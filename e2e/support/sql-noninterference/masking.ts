// The masking the tester compares with: the policy's own spec.masking (its detectors and the field
// rules for cpf, email, ... columns), but with style redact. With the policy's partial style a masked
// CPF keeps some digits, which differ between the two schemas by construction, and every plain
// `SELECT cpf` would be flagged; redact turns every detected identifier into a fixed token ([CPF],
// [EMAIL], ...), so a value returned as it is compares equal and only what escapes masking differs.
import { compileMasker, type Masker, type MaskingSpec } from '../../../core/masking/index.ts';
import type { AccessPolicy } from '../../../crds/types.ts';

export function redactingMasker(policy: AccessPolicy): Masker {
  const spec = (policy.spec.masking ?? {}) as MaskingSpec;
  return compileMasker({ ...spec, style: 'redact', styles: {} });
}
