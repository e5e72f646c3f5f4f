// The "done" criterion: on a generated corpus (valid identifiers of every type in every format, and
// checksum-invalid look-alikes of each), full recall and no false positives, in free text, in JSON and in cells,
// and the same result however a stream is cut into chunks.
import { describe, expect, it } from '@jest/globals';
import { generateCorpus, streamingMismatches, textTemplates, type Sample } from './corpus.ts';
import { compileMasker, DETECTOR_NAMES } from './index.ts';
import type { DetectorName } from './types.ts';

const corpus = generateCorpus();
const masker = compileMasker({});
const contentSamples = corpus.valid.filter((s) => !s.needsContext);
const contextSamples = corpus.valid.filter((s) => s.needsContext);
const describeSample = (s: Sample): string => `${s.type}/${s.format} ${JSON.stringify(s.value)}`;

/** The value is gone, exactly one value of its type was counted, and the text around it is untouched. */
function maskedOnce(input: string, output: string, s: Sample, counts: Record<string, number>): string | null {
  const at = input.indexOf(s.value);
  const before = input.slice(0, at);
  const after = input.slice(at + s.value.length);
  if (output.includes(s.value)) return 'value still present';
  if (!output.startsWith(before) || !output.endsWith(after)) return `surroundings changed: ${output}`;
  if (JSON.stringify(counts) !== JSON.stringify({ [s.type]: 1 })) return `counts ${JSON.stringify(counts)}`;
  return null;
}

function textFailures(samples: Sample[]): string[] {
  const failures: string[] = [];
  for (const s of samples) {
    for (const t of textTemplates(s)) {
      const session = masker.newSession();
      const why = maskedOnce(t, session.maskText(t), s, session.counts());
      if (why !== null) failures.push(`${describeSample(s)} in ${JSON.stringify(t)}: ${why}`);
    }
  }
  return failures;
}

function unchangedFailures(inputs: [Sample, string][], mask: (input: string) => string): string[] {
  return inputs.filter(([, t]) => mask(t) !== t).map(([s, t]) => `${describeSample(s)} in ${JSON.stringify(t)} -> ${mask(t)}`);
}

describe('corpus', () => {
  it('covers every detector with valid values and look-alikes', () => {
    const types = (xs: Sample[]): Set<DetectorName> => new Set(xs.map((s) => s.type));
    expect([...types(corpus.valid)].sort()).toEqual([...DETECTOR_NAMES].sort());
    expect(types(corpus.lookAlikes).size).toBe(DETECTOR_NAMES.length);
    expect(corpus.valid.length).toBeGreaterThan(250);
    expect(corpus.lookAlikes.length).toBeGreaterThan(150);
    expect(corpus.valid.some((s) => s.type === 'cnpj' && /[A-Z]/.test(s.value))).toBe(true);
  });
});

describe('free text', () => {
  it('masks every valid identifier, with and without its keyword (full recall)', () => {
    expect(textFailures(corpus.valid)).toEqual([]);
  });

  it('masks no checksum-invalid look-alike, even next to its keyword (no false positives)', () => {
    const inputs = corpus.lookAlikes.flatMap((s) => textTemplates({ ...s, needsContext: false }).map((t): [Sample, string] => [s, t]));
    expect(unchangedFailures(inputs, (t) => masker.newSession().maskText(t))).toEqual([]);
  });

  it('does not mask CEPs, dates, bare PIS numbers and bare landlines without their keyword', () => {
    const inputs = contextSamples.map((s): [Sample, string] => [s, `Registro ${s.value} atualizado.`]);
    expect(unchangedFailures(inputs, (t) => masker.newSession().maskText(t))).toEqual([]);
  });

  it('gives the same output when a stream is split at every position', () => {
    const failures: string[] = [];
    for (const t of [...corpus.valid, ...corpus.lookAlikes].flatMap(textTemplates)) {
      const expected = masker.newSession().maskText(t);
      for (let k = 0; k <= t.length; k++) {
        const stream = masker.newSession().textStream();
        const out = stream.push(t.slice(0, k)) + stream.push(t.slice(k)) + stream.end();
        if (out !== expected) failures.push(`${JSON.stringify(t)} split at ${k}: ${out}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('gives the same output and counts for the whole corpus fed in chunks of any size', () => {
    const doc = [...corpus.valid, ...corpus.lookAlikes].flatMap(textTemplates).join('\n');
    expect(streamingMismatches(masker, doc)).toEqual([]);
  });
});

describe('JSON', () => {
  const docFor = (s: Sample, value: string): string =>
    JSON.stringify({ id: 7, obs: `Cliente informou ${value} no cadastro`, valor: value, lista: [value, { item: value }] });

  it('masks every valid value by content, at any depth, in maskJson and jsonStream alike', () => {
    const failures: string[] = [];
    for (const s of contentSamples) {
      const doc = docFor(s, s.value);
      const session = masker.newSession();
      const viaValue = JSON.stringify(session.maskJson(JSON.parse(doc)));
      const stream = masker.newSession().jsonStream();
      const viaStream = stream.push(doc) + stream.end();
      if (viaValue.includes(s.value) || viaStream !== viaValue || session.counts()[s.type] !== 4) {
        failures.push(`${describeSample(s)}: ${viaValue} / ${viaStream} ${JSON.stringify(session.counts())}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('masks values that need context when their key names the type', () => {
    const keys: Partial<Record<DetectorName, string>> = { cep: 'cep', birthDate: 'dt_nasc', pis: 'nr_pis', phone: 'telefone' };
    const failures: string[] = [];
    for (const s of contextSamples) {
      const session = masker.newSession();
      const out = JSON.stringify(session.maskJson({ [keys[s.type] ?? s.type]: s.value }));
      if (out.includes(s.value) || session.counts()[s.type] !== 1) failures.push(`${describeSample(s)}: ${out}`);
    }
    expect(failures).toEqual([]);
  });

  it('masks digit-only identifiers serialised as JSON numbers', () => {
    const numeric = contentSamples.filter((s) => /^[1-9][0-9]{7,15}$/.test(s.value));
    expect(numeric.length).toBeGreaterThan(20);
    for (const s of numeric) {
      const stream = masker.newSession().jsonStream();
      const out = stream.push(`{"n":${s.value}}`) + stream.end();
      expect([s.value, out.includes(s.value)]).toEqual([s.value, false]);
      expect(masker.newSession().maskJson({ n: Number(s.value) })).not.toEqual({ n: Number(s.value) });
    }
  });

  it('leaves look-alikes untouched byte for byte', () => {
    const inputs = corpus.lookAlikes.map((s): [Sample, string] => [s, docFor(s, s.value)]);
    expect(unchangedFailures(inputs, (doc) => {
      const stream = masker.newSession().jsonStream();
      return stream.push(doc) + stream.end();
    })).toEqual([]);
    expect(unchangedFailures(inputs, (doc) => JSON.stringify(masker.newSession().maskJson(JSON.parse(doc))))).toEqual([]);
  });

  it('gives the same output when the JSON stream is split at every position', () => {
    const failures: string[] = [];
    const samples = [...corpus.valid, ...corpus.lookAlikes];
    for (const s of samples) {
      const doc = docFor(s, s.value);
      const expected = JSON.stringify(masker.newSession().maskJson(JSON.parse(doc)));
      for (let k = 0; k <= doc.length; k++) {
        const stream = masker.newSession().jsonStream();
        const out = stream.push(doc.slice(0, k)) + stream.push(doc.slice(k)) + stream.end();
        if (out !== expected) failures.push(`${doc} split at ${k}: ${out}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('PostgreSQL cells', () => {
  it('masks valid values in unnamed columns and leaves look-alikes', () => {
    const missed = contentSamples.filter((s) => masker.newSession().maskCell('observacao', s.value) === s.value);
    expect(missed.map(describeSample)).toEqual([]);
    const touched = corpus.lookAlikes.filter((s) => masker.newSession().maskCell('observacao', s.value) !== s.value);
    expect(touched.map(describeSample)).toEqual([]);
  });

  it('masks by column name first, whatever the value', () => {
    const session = masker.newSession();
    expect(session.maskCell('CEP', '01310-100')).toBe('01***-***');
    // Invalid, but the column says CPF: masked whole (its type's layout is for valid values only: whole-value.ts).
    expect(session.maskCell('cpf', '123.456.789-00')).toBe('***.***.***-**');
    expect(session.maskCell('cpf', '590.830.166-33')).toBe('***.***.***-33');
    expect(session.maskCell('dt_nasc', '1985-03-12')).toBe('1985-**-**');
    expect(session.counts()).toEqual({ cep: 1, cpf: 2, birthDate: 1 });
  });
});
