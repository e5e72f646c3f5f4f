// Formatted identifiers glued to letters (review finding, this round): x590.830.166-33, 590.830.166-33x,
// cliente:joao590.830.166-33, ...166-33obs reached agents unmasked, because the word-boundary rule that keeps
// hotel5299... a word also refused a formatted identifier touched by a letter. For a formatted layout the
// punctuation is the evidence: every formatted identifier of both corpora, glued on the left, the right or both to
// ASCII letters, accented letters, underscores and other scripts, is masked exactly as it is when spaced — in text,
// JSON (maskJson and the stream), cells, text streams cut at every position — and the byte pre-scan says it may change.
// What must stay: check digits (look-alikes stay unchanged glued too), the digit rule (1529.982.247-25), bare runs
// glued to words (hotel52998224725), versions (v1.2.3.4).
import { describe, expect, it } from '@jest/globals';
import { generateCorpus, KEYWORDS, layoutCorpus, Rng, streamingMismatches, type Sample } from './corpus.ts';
import { fold } from './fold.ts';
import { compileMasker } from './index.ts';

const masker = compileMasker({});
const gen = generateCorpus();
const layouts = layoutCorpus();
const LEFT = ['x', 'Z', 'joao', 'cliente:joao', 'CPF', 'é', 'ç', '_', 'Ж', '中'];
const RIGHT = ['x', 'obs', 'Z', 'é', 'ç', '_', 'Ж', '中'];
const PUNCTUATION = /[./()+-]/;

/** Formatted values: their layout has punctuation (after folding look-alikes); e-mail and IP have their own rules. */
const formatted = (samples: readonly Sample[]): Sample[] =>
  samples.filter((s) => s.type !== 'email' && s.type !== 'ip' && PUNCTUATION.test(fold(s.value)));

const valid = [...formatted(gen.valid), ...formatted(layouts.valid)];
const lookAlikes = [...formatted(gen.lookAlikes), ...formatted(layouts.lookAlikes)];

/**
 * The sentence around a value: its keyword first when the type needs one (CEP, dates, bare PIS...). A glue that is
 * itself a keyword (CPF) would be the nearest keyword and pick its own type: such values get another glue.
 */
function sentence(s: Sample, glueLeft: string, right: string): { text: string; head: string; tail: string } {
  const left = s.needsContext && glueLeft === 'CPF' ? 'x' : glueLeft;
  const head = s.needsContext ? `${KEYWORDS[s.type]}: ${left}` : `Registro ${left}`;
  const tail = `${right} ok`;
  return { text: `${head}${s.value}${tail}`, head, tail };
}

/** Glue combinations: left only, right only, both. */
function glues(): [string, string][] {
  const out: [string, string][] = [];
  for (const l of LEFT) out.push([l, ' ']);
  for (const r of RIGHT) out.push([' ', r]);
  for (let i = 0; i < LEFT.length; i++) out.push([LEFT[i] ?? '', RIGHT[i % RIGHT.length] ?? '']);
  return out;
}

function maskOf(text: string): { out: string; counts: string } {
  const session = masker.newSession();
  const out = session.maskText(text);
  return { out, counts: JSON.stringify(session.counts()) };
}

describe('formatted identifiers glued to letters', () => {
  it('the corpora hold formatted identifiers of every type that has a formatted layout', () => {
    const types = new Set(valid.map((s) => s.type));
    for (const t of ['cpf', 'cnpj', 'cnh', 'pis', 'tituloEleitor', 'cns', 'renavam', 'cep', 'phone', 'card', 'birthDate'] as const) expect([t, types.has(t)]).toEqual([t, true]);
    expect(valid.length).toBeGreaterThan(200);
    expect(lookAlikes.length).toBeGreaterThan(100);
  });

  it('are masked on the left, the right and both sides exactly as when spaced (text)', () => {
    const failures: string[] = [];
    for (const s of valid) {
      const spaced = sentence(s, ' ', ' ');
      const ref = maskOf(spaced.text);
      if (ref.out.includes(s.value)) continue; // the spaced form is not masked either (a layout another test owns)
      const maskedValue = ref.out.slice(spaced.head.length, ref.out.length - spaced.tail.length);
      for (const [l, r] of glues()) {
        const g = sentence(s, l, r);
        const got = maskOf(g.text);
        const expected = `${g.head}${maskedValue}${g.tail}`;
        if (got.out !== expected || got.counts !== ref.counts) failures.push(`${s.type}/${s.format} ${JSON.stringify(g.text)} → ${JSON.stringify(got.out)} ${got.counts}`);
      }
    }
    expect(failures.slice(0, 20)).toEqual([]);
  });

  it('the spaced forms the glued test compares with are masked (the comparison is not vacuous)', () => {
    const unmasked = valid.filter((s) => maskOf(sentence(s, ' ', ' ').text).out.includes(s.value)).map((s) => `${s.type}/${s.format} ${s.value}`);
    // Space-only groupings are excluded by the PUNCTUATION filter; everything left is masked when spaced.
    expect(unmasked).toEqual([]);
  });

  it('in JSON strings (maskJson and the JSON stream cut at every position), cells and text streams cut at every position', () => {
    const failures: string[] = [];
    const pick = valid.filter((_, i) => i % 7 === 0);
    for (const s of pick) {
      const { text } = sentence(s, 'cliente:joao', 'obs');
      const expectedText = maskOf(text).out;
      if (expectedText.includes(s.value)) failures.push(`text ${text}`);
      const json = JSON.stringify({ note: text, list: [text] });
      const masked = masker.newSession().maskJson(JSON.parse(json)) as { note: string; list: string[] };
      if (masked.note !== expectedText || masked.list[0] !== expectedText) failures.push(`maskJson ${json} → ${JSON.stringify(masked)}`);
      const expectedJson = JSON.stringify({ note: expectedText, list: [expectedText] });
      for (let k = 0; k <= json.length; k++) {
        const stream = masker.newSession().jsonStream();
        const out = stream.push(json.slice(0, k)) + stream.push(json.slice(k)) + stream.end();
        if (out !== expectedJson) failures.push(`jsonStream split ${k}: ${out}`);
      }
      for (let k = 0; k <= text.length; k++) {
        const stream = masker.newSession().textStream();
        const out = stream.push(text.slice(0, k)) + stream.push(text.slice(k)) + stream.end();
        if (out !== expectedText) failures.push(`textStream split ${k}: ${out}`);
      }
      const cell = masker.newSession().maskCell('observacao', text);
      if (cell !== expectedText) failures.push(`cell ${text} → ${cell}`);
    }
    expect(failures.slice(0, 20)).toEqual([]);
  });

  it('a long log of glued identifiers streams identically at every chunk size (identifiers across chunk boundaries)', () => {
    const doc = valid.map((s, i) => sentence(s, LEFT[i % LEFT.length] ?? 'x', RIGHT[i % RIGHT.length] ?? 'x').text).join('\n');
    expect(streamingMismatches(masker, doc)).toEqual([]);
    for (const s of valid) expect(maskOf(doc).out.includes(`${s.value}`) ? s.value : '').toBe('');
  });

  it('the byte pre-scan never lets a glued identifier through as bytes', () => {
    const session = masker.newSession();
    const misses: string[] = [];
    for (const s of valid) {
      for (const [l, r] of glues()) {
        const bare = `${l.trim()}${s.value}${r.trim()}`;
        const bytes = Buffer.from(bare, 'utf8');
        if (!session.textMayChange(bytes) || !session.cellMayChange('observacao', bytes)) misses.push(bare);
      }
    }
    expect(misses).toEqual([]);
  });

  it('look-alikes with broken check digits stay unchanged when glued', () => {
    const changed: string[] = [];
    for (const s of lookAlikes) {
      const spaced = sentence(s, ' ', ' ');
      if (maskOf(spaced.text).out !== spaced.text) continue; // masked by another reading when spaced: not this test's matter
      for (const [l, r] of glues()) {
        const { text } = sentence(s, l, r);
        const out = maskOf(text).out;
        if (out !== text) changed.push(`${s.type}/${s.format} ${JSON.stringify(text)} → ${JSON.stringify(out)}`);
      }
    }
    expect(changed.slice(0, 20)).toEqual([]);
  });

  it('keeps the digit rule, bare runs glued to words and version strings', () => {
    const keep = [
      '1529.982.247-25', '529.982.247-251', 'abc1529.982.247-25', 'x529.982.247-251', '9.529.982.247-25', '529.982.247-25.1', '529.982.247-25-1',
      'hotel52998224725', 'SKU52998224725', 'x52998224725', '52998224725x', 'ref11222333000181',
      'v1.2.3.4', 'python3.10.12', 'node24.3.0', 'build2026.07.15.1402', 'v10.0.12', 'ip192.168.0.1x',
      'x11-91234-5678', 'x11.91234.5678', 'x11 91234 5678', 'a244974 9284', 'data x12/03/1985', 'x529.982.247-26', 'pedido-123e4567-e89b-12d3-a456-426614174000',
    ];
    for (const t of keep) expect([t, maskOf(t).out]).toEqual([t, t]);
    // And the glued forms the review named.
    expect(maskOf('x590.830.166-33').out).toBe('x***.***.***-33');
    expect(maskOf('590.830.166-33x').out).toBe('***.***.***-33x');
    expect(maskOf('CPF590.830.166-33').out).toBe('CPF***.***.***-33');
    expect(maskOf('cliente:joao590.830.166-33').out).toBe('cliente:joao***.***.***-33');
    expect(maskOf('...166-33obs 590.830.166-33obs').out).toBe('...166-33obs ***.***.***-33obs');
    expect(maskOf('pedido_11.222.333/0001-81_ok').out).toBe('pedido_**.***.***/****-81_ok');
    expect(maskOf('contato(11) 91234-5678fim').out).toBe('contato(**) *****-5678fim');
    expect(maskOf('contato11 91234-5678fim').out).toBe('contato** *****-5678fim');
    expect(maskOf('contato+5511912345678fim').out).toBe('contato+*********5678fim');
    expect(maskOf('CPF814.349.508/67x').out).toBe('CPF***.***.***/67x');
  });

  it('adds no masking to random UUIDs and dashed hex identifiers', () => {
    const r = new Rng(20261205);
    const hex = (n: number): string => Array.from({ length: n }, () => '0123456789abcdef'[r.int(16)]).join('');
    const changed: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const id = `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
      const t = `req ${id} ok`;
      if (maskOf(t).out !== t) changed.push(t);
    }
    expect(changed).toEqual([]);
  });
});
