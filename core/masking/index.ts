// Guarita masking engine: a pure library (no I/O) used by the sidecar on HTTP bodies and PostgreSQL result rows,
// and by `guarita mask` on files and logs. See README.md for detectors, precedence, layouts and stream bounds.
import { CompiledMasker } from './engine.ts';
import type { Masker, MaskingSpec } from './types.ts';

export type {
  CompileOptions, CustomPattern, DetectorName, FieldRule, MaskCounts, Masker, MaskingSpec, MaskSession, MaskStyle,
  SpecProblem, StreamMasker, TextStreamMasker,
} from './types.ts';
export { DETECTOR_NAMES, MASK_STYLES, MaskingConfigError } from './types.ts';
export { validateMaskingSpec } from './validate.ts';
export { HOLD as STREAM_LOOKAHEAD } from './engine.ts';
export { ESCAPE_SEQUENCE_SOURCE } from './invisible.ts';
export { utf8JsonKeysMayBeNamed } from './prescan.ts';
export { JsonDepthError, MAX_JSON_DEPTH, nestsDeeperThan } from './json.ts';

/** Compiles a spec once; the result is immutable and shared by all sessions. Throws MaskingConfigError. */
export function compileMasker(spec: MaskingSpec, opts?: { hashKey?: Uint8Array }): Masker {
  return new CompiledMasker(spec, opts);
}
