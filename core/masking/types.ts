// Public types of the masking engine. The CRD schema for AccessPolicy spec.masking mirrors MaskingSpec.

export type DetectorName =
  | 'cpf' | 'cnpj' | 'cnh' | 'pis' | 'tituloEleitor' | 'cns' | 'renavam' | 'cep' | 'phone' | 'email' | 'card' | 'ip' | 'birthDate';

/** Every built-in detector, in precedence order (see README: "Precedence"). */
export const DETECTOR_NAMES: readonly DetectorName[] = [
  'cpf', 'cnpj', 'cnh', 'pis', 'tituloEleitor', 'cns', 'renavam', 'cep', 'phone', 'email', 'card', 'ip', 'birthDate',
];

export type MaskStyle = 'redact' | 'partial' | 'hash' | 'surrogate';
export const MASK_STYLES: readonly MaskStyle[] = ['redact', 'partial', 'hash', 'surrogate'];

export interface FieldRule {
  /** Column or JSON key names, matched case-insensitively and exactly. */
  names: string[];
  /** Type to mask the value as (partial layout, hash prefix, counter); untyped when absent ('field'). */
  detector?: DetectorName;
  style?: MaskStyle;
}

export interface CustomPattern {
  name: string;
  /** RE2 syntax: linear-time matching, no lookaround or backreferences. */
  pattern: string;
  style?: 'redact' | 'hash';
}

export interface MaskingSpec {
  /** Default true. */
  enabled?: boolean;
  /** Default: every built-in detector. */
  detectors?: DetectorName[];
  /** Default 'partial'. */
  style?: MaskStyle;
  /** Per-detector style override. */
  styles?: Partial<Record<DetectorName, MaskStyle>>;
  /** Column / JSON-key rules: the whole value is masked by name, without content validation. */
  fields?: FieldRule[];
  customPatterns?: CustomPattern[];
}

/** Per detector name, custom pattern name, or 'field' (untyped name rule): how many values were masked. */
export interface MaskCounts { [type: string]: number }

export interface StreamMasker {
  /** Masks what can be decided so far; holds back a bounded tail (see README: "Streams"). */
  push(chunk: string): string;
  /** Flushes the held-back tail. The masker must not be used afterwards. */
  end(): string;
}

/** A stream of text (not JSON), which can also be flushed mid-way. */
export interface TextStreamMasker extends StreamMasker {
  /**
   * Emits everything held back, as end() does, but keeps the context: what is pushed next continues the same text
   * (keywords before it count, an override still open governs it). For output shown as it comes (a terminal).
   */
  flush(): string;
}

export interface MaskSession {
  maskText(text: string): string;
  maskJson(value: unknown): unknown;
  maskCell(columnName: string | undefined, value: string): string;
  /**
   * False only when maskText of the UTF-8 text utf8[start, end) would return it unchanged, decided
   * on the bytes without decoding them (prescan.ts): a cheap pre-scan before decoding and masking.
   */
  textMayChange(utf8: Uint8Array, start?: number, end?: number): boolean;
  /** The same for maskCell(columnName, ...): a column with a name rule, or a value that may be JSON, always may. */
  cellMayChange(columnName: string | undefined, utf8: Uint8Array, start?: number, end?: number): boolean;
  textStream(): TextStreamMasker;
  jsonStream(): StreamMasker;
  counts(): MaskCounts;
  /**
   * Another session of the same masker, with its own counts, that removes every value it masks: for a
   * second reading of the same data, a check that must neither count in the record nor leave masks that
   * read as identifiers again (a surrogate is a valid CPF, a custom pattern may match `[CPF]`).
   */
  removingSession(): MaskSession;
}

export interface Masker {
  /** Counters live in the session; the compiled masker is immutable and can be shared. */
  newSession(): MaskSession;
}

export interface CompileOptions {
  /** HMAC-SHA-256 key (from a Kubernetes Secret), needed by the 'hash' and 'surrogate' styles. At least 16 bytes. */
  hashKey?: Uint8Array;
}

export interface SpecProblem { field: string; message: string }

export class MaskingConfigError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'MaskingConfigError';
    this.field = field;
  }
}
