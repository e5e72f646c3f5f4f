// Admission-time validation of spec.masking: every problem with its field path and how to fix it.
import { customPatternProblems } from './custom.ts';
import type { CustomPattern, FieldRule, MaskingSpec, SpecProblem } from './types.ts';
import { DETECTOR_NAMES, MASK_STYLES } from './types.ts';

const DETECTORS = new Set<string>(DETECTOR_NAMES);
const STYLES = new Set<string>(MASK_STYLES);
export const MAX_FIELD_NAME = 256;

const detectorList = (): string => DETECTOR_NAMES.join(', ');
const styleList = (): string => MASK_STYLES.join(', ');

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkDetector(v: unknown, field: string, out: SpecProblem[]): void {
  if (typeof v !== 'string' || !DETECTORS.has(v)) out.push({ field, message: `unknown detector '${String(v)}'; use one of: ${detectorList()}` });
}

function checkStyle(v: unknown, field: string, out: SpecProblem[]): void {
  if (typeof v !== 'string' || !STYLES.has(v)) out.push({ field, message: `unknown style '${String(v)}'; use one of: ${styleList()}` });
}

function checkDetectors(spec: MaskingSpec, p: string, out: SpecProblem[]): void {
  if (spec.detectors === undefined) return;
  if (!Array.isArray(spec.detectors)) {
    out.push({ field: `${p}.detectors`, message: 'must be a list of detector names' });
    return;
  }
  const seen = new Set<string>();
  spec.detectors.forEach((d, i) => {
    checkDetector(d, `${p}.detectors[${i}]`, out);
    if (seen.has(d)) out.push({ field: `${p}.detectors[${i}]`, message: `'${d}' is listed twice; remove the duplicate` });
    seen.add(d);
  });
}

function checkStyles(spec: MaskingSpec, p: string, out: SpecProblem[]): void {
  if (spec.style !== undefined) checkStyle(spec.style, `${p}.style`, out);
  if (spec.styles === undefined) return;
  if (!isObject(spec.styles)) {
    out.push({ field: `${p}.styles`, message: 'must map detector names to styles' });
    return;
  }
  for (const [det, style] of Object.entries(spec.styles)) {
    checkDetector(det, `${p}.styles.${det}`, out);
    checkStyle(style, `${p}.styles.${det}`, out);
  }
}

function checkField(f: FieldRule, path: string, out: SpecProblem[]): void {
  if (!isObject(f) || !Array.isArray(f.names) || f.names.length === 0) {
    out.push({ field: `${path}.names`, message: 'must be a non-empty list of column or JSON key names' });
    return;
  }
  f.names.forEach((n, j) => {
    if (typeof n !== 'string' || n.trim() === '' || n.length > MAX_FIELD_NAME) {
      out.push({ field: `${path}.names[${j}]`, message: `must be a non-empty name of at most ${MAX_FIELD_NAME} characters` });
    }
  });
  if (f.detector !== undefined) checkDetector(f.detector, `${path}.detector`, out);
  if (f.style !== undefined) checkStyle(f.style, `${path}.style`, out);
}

function checkList<T>(v: T[] | undefined, field: string, out: SpecProblem[], each: (item: T, path: string) => void): void {
  if (v === undefined) return;
  if (!Array.isArray(v)) {
    out.push({ field, message: 'must be a list' });
    return;
  }
  v.forEach((item, i) => each(item, `${field}[${i}]`));
}

/** Every problem of a spec.masking, for the admission webhook. An empty list means the spec compiles. */
export function validateMaskingSpec(spec: MaskingSpec, fieldPrefix = 'spec.masking'): SpecProblem[] {
  const out: SpecProblem[] = [];
  const raw: unknown = spec;
  if (!isObject(raw)) return [{ field: fieldPrefix, message: 'must be an object' }];
  if (spec.enabled !== undefined && typeof spec.enabled !== 'boolean') out.push({ field: `${fieldPrefix}.enabled`, message: 'must be true or false' });
  checkDetectors(spec, fieldPrefix, out);
  checkStyles(spec, fieldPrefix, out);
  checkList(spec.fields, `${fieldPrefix}.fields`, out, (f, path) => checkField(f, path, out));
  const seen = new Set<string>();
  checkList<CustomPattern>(spec.customPatterns, `${fieldPrefix}.customPatterns`, out, (c, path) => {
    if (!isObject(c)) out.push({ field: path, message: 'must be an object with name and pattern' });
    else out.push(...customPatternProblems(c, path, seen));
  });
  return out;
}
