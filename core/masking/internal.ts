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

/** The text before a value, computed when read. */
export interface LeftContext {
  readonly text: string;
}

/** What the JSON maskers need from a session. */
export interface MaskOps {
  /**
   * `text` masked as plain text; `left.text`, the text before it (a JSON value's document before it: json-context.ts),
   * is read for keywords and boundaries only and is not part of the result. Asked for only when it can matter.
   */
  maskText(text: string, left?: LeftContext): string;
  maskWhole(value: string, rule: Rule): string;
  ruleFor(name: string): Rule | null;
  textStream(left?: string): TextStreamMasker;
}
