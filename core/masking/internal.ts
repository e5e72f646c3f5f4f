// Internal contracts between the engine, the JSON walkers and the stream maskers.
import type { DetectorName, MaskStyle, TextStreamMasker } from './types.ts';

/** A name rule resolved for one column/key: how to mask the whole value. */
export interface Rule {
  /** Counter key and hash prefix: the detector name, or 'field' for untyped user rules. */
  type: string;
  detector: DetectorName | null;
  style: MaskStyle;
  /** Built-in rules may re-type cpf ↔ cnpj by the value's length (columns like `cpf_cnpj`). */
  builtin: boolean;
}

/** What the JSON maskers need from a session. */
export interface MaskOps {
  maskText(text: string): string;
  maskWhole(value: string, rule: Rule): string;
  ruleFor(name: string): Rule | null;
  textStream(left?: string): TextStreamMasker;
}
