// The one place the webhook calls the masking library: spec.masking checks the schema cannot
// express (custom patterns compile under RE2, style/detector names, ...), with field paths.
import { validateMaskingSpec } from '../../core/masking/index.ts';
import type { MaskingCheck } from './access-policy.ts';

export const maskingCheck: MaskingCheck = (masking, fieldPrefix) => validateMaskingSpec(masking, fieldPrefix);
