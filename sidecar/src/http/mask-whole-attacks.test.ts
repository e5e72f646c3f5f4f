// Round 5 review of the HTTP masking fast path (eea1a2c): a whole strict-UTF-8 body of declared
// length is masked in one pass by maskWholeUtf8 instead of MaskingPipeline. body.test.ts compares it
// with the pipeline fed the same body in one chunk. An agent cannot choose which path its answer
// takes only by the upstream's framing (a chunked answer, a missing or longer Content-Length) if
// both paths send the same bytes: this compares the one-pass answer with the pipeline fed every
// other way the stream path sees the same body (random chunkings, one byte at a time), over
// generated bodies with identifiers in every corpus format and encoding, next to the characters
// that split or hide them (multi-byte UTF-8, U+FEFF inside, U+2028, NUL and other controls,
// invalid and overlong sequences), and checks that no identifier the pipeline masks survives.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { compileMasker } from '../../../core/masking/index.ts';
import { ENCODINGS, generateCorpus, KEYWORDS } from '../../../core/masking/corpus.ts';
import { bomEncoding, MaskingPipeline, maskWholeUtf8 } from './body.ts';

const corpus = generateCorpus(20261205, 3);
const maskers = [
  ['default', compileMasker({})],
  ['fields', compileMasker({ fields: [{ names: ['cpf', 'documento'], detector: 'cpf' }, { names: ['email'], detector: 'email' }, { names: ['nome'] }] })],
] as const;

/** Pieces a body is made of: identifiers as printed and encoded, with and without keywords, and what sits around them. */
const identifiers = corpus.valid.flatMap((s) => [s.value, `${KEYWORDS[s.type]} ${s.value}`, ...Object.values(ENCODINGS).map((e) => e(s.value))]);
const fillers = [' ', '\n', '\r\n', '\t', ',', 'ção', '€', '😀', '\u2028', '\u00a0', '\ufeff', '\u200b', 'é', '"', '\\', '{', '}', '[', ']', ':', 'nome', 'Ana'];
const piece = fc.oneof(fc.constantFrom(...identifiers), fc.constantFrom(...fillers), fc.string({ maxLength: 6 }));
/** Raw bytes that are not strict UTF-8, or controls the pipeline refuses: the one-pass path must leave or refuse as the pipeline does. */
const oddBytes = fc.constantFrom(
  Buffer.from([0xc0, 0xb5]), Buffer.from([0xe0, 0x80, 0xb5]), Buffer.from([0xff]), Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from([0x00]), Buffer.from([0x1b]), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from([0xe2, 0x82]),
);

const textBody = fc.array(piece, { maxLength: 30 }).map((p) => Buffer.from(p.join(''), 'utf8'));
const jsonBody = fc.array(fc.tuple(fc.constantFrom('cpf', 'email', 'nome', 'nota', 'documento', 'CPF', 'e\\u006dail', 'x'), fc.array(piece, { maxLength: 6 })), { maxLength: 8 })
  .map((fields) => Buffer.from(JSON.stringify(Object.fromEntries(fields.map(([k, v]) => [k, v.join('')]))).replaceAll('\\\\u006d', '\\u006d'), 'utf8'));
const withOddBytes = fc.tuple(textBody, fc.array(fc.tuple(fc.nat(), oddBytes), { maxLength: 3 }), fc.boolean()).map(([body, inserts, bom]) => {
  let out = body;
  for (const [at, bytes] of inserts) {
    const i = body.length === 0 ? 0 : at % (out.length + 1);
    out = Buffer.concat([out.subarray(0, i), bytes, out.subarray(i)]);
  }
  return bom ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), out]) : out;
});

type Outcome = { bytes: string; counts: Record<string, number> } | { refused: true };

function viaPipeline(m: (typeof maskers)[number][1], kind: 'json' | 'text', body: Buffer, cuts: readonly number[]): Outcome {
  const session = m.newSession();
  const pipeline = new MaskingPipeline(session, kind, new TextDecoder('utf-8', { fatal: false }), 1 << 20);
  const out: Buffer[] = [];
  try {
    let from = 0;
    for (const cut of [...cuts, body.length]) {
      if (cut < from) continue;
      out.push(pipeline.push(body.subarray(from, cut)));
      from = cut;
    }
    out.push(pipeline.end());
  } catch {
    return { refused: true };
  }
  return { bytes: Buffer.concat(out).toString('latin1'), counts: session.counts() };
}

function viaWhole(m: (typeof maskers)[number][1], kind: 'json' | 'text', body: Buffer): Outcome | undefined {
  const session = m.newSession();
  try {
    const r = maskWholeUtf8(body, kind, session, 1 << 20);
    return r === undefined ? undefined : { bytes: r.bytes.toString('latin1'), counts: session.counts() };
  } catch {
    return { refused: true };
  }
}

const cutsOf = (body: Buffer): fc.Arbitrary<number[]> => fc.array(fc.integer({ min: 0, max: Math.max(0, body.length) }), { maxLength: 6 }).map((c) => [...c].sort((a, b) => a - b));

describe.each(maskers)('maskWholeUtf8 against the stream path, whatever the chunking (%s masking)', (_name, m) => {
  it.each(['json', 'text'] as const)('%s bodies: the one-pass answer is byte for byte the chunked pipeline\'s (or left to it exactly when the pipeline decodes otherwise)', (kind) => {
    const bodies = kind === 'json' ? fc.oneof(jsonBody, textBody) : fc.oneof({ arbitrary: textBody, weight: 1 }, { arbitrary: withOddBytes, weight: 2 });
    const seen = { masked: 0, left: 0, refused: 0 };
    fc.assert(fc.property(bodies.chain((b) => fc.tuple(fc.constant(b), cutsOf(b))), ([body, cuts]) => {
      const whole = viaWhole(m, kind, body);
      const needsPipeline = bomEncoding(body) !== undefined || !isUtf8(body);
      expect({ left: whole === undefined }).toEqual({ left: needsPipeline });
      if (whole === undefined) {
        seen.left++;
        return;
      }
      if ('refused' in whole) seen.refused++;
      else if (Object.keys(whole.counts).length > 0) seen.masked++;
      expect(whole).toEqual(viaPipeline(m, kind, body, cuts));
    }), { numRuns: 400, seed: 20261205 });
    // The property saw what it is about: bodies with identifiers masked, and (text) bodies refused or left to the pipeline.
    expect(seen.masked).toBeGreaterThan(50);
    if (kind === 'text') expect(Math.min(seen.left, seen.refused)).toBeGreaterThan(5);
  });

  it('one byte at a time: a multi-byte character or identifier cut anywhere reads as in one pass', () => {
    const bodies = identifiers.slice(0, 60).flatMap((id) => [`ção ${id}😀`, JSON.stringify({ cpf: id, nota: `€${id}` })]);
    for (const text of bodies) {
      const body = Buffer.from(text, 'utf8');
      for (const kind of ['json', 'text'] as const) {
        const cuts = Array.from({ length: body.length }, (_, i) => i);
        expect({ text, kind, out: viaWhole(m, kind, body) }).toEqual({ text, kind, out: viaPipeline(m, kind, body, cuts) });
      }
    }
  });
});

describe('no identifier survives the one-pass path in text', () => {
  it('every corpus identifier, in each of its encodings and around multi-byte neighbours, comes out changed', () => {
    const m = compileMasker({});
    for (const s of corpus.valid) {
      if (s.needsContext) continue;
      for (const text of [s.value, `ção${' '}${s.value}😀`, `${s.value}\u2028`]) {
        const r = maskWholeUtf8(Buffer.from(text, 'utf8'), 'text', m.newSession(), 1 << 20);
        expect({ text, out: r?.bytes.toString('utf8').includes(s.value) }).toEqual({ text, out: false });
      }
    }
  });
});

describe('UTF-8 text decoded as UTF-16 (a label or byte-order mark that lies)', () => {
  const m = compileMasker({});
  const text = 'Cliente Larissa, CPF 590.830.166-33, e-mail larissa.oliveira1@exemplo.com.br, pedido pago.';
  const feed = (decoder: string, body: Buffer, chunk: number): string => {
    const pipeline = new MaskingPipeline(m.newSession(), 'text', new TextDecoder(decoder), 1 << 20);
    const out: Buffer[] = [];
    for (let i = 0; i < body.length; i += chunk) out.push(pipeline.push(body.subarray(i, i + chunk)));
    out.push(pipeline.end());
    return Buffer.concat(out).toString('utf8');
  };

  it.each([1, 2, 3, 7, 64, 4096])('chunks of %i bytes: refused when the bytes read as ASCII carry an identifier (the client would get them back by encoding the CJK text as UTF-16)', (chunk) => {
    for (const [decoder, body] of [['utf-16le', Buffer.from(text)], ['utf-16be', Buffer.from(`${text} `)], ['utf-8', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text)])]] as const) {
      expect(() => feed(decoder, body, chunk)).toThrow(/bytes read as ASCII or UTF-8 carry identifiers/);
    }
  });

  it.each([1, 2, 3, 7, 64, 4096])('chunks of %i bytes: genuine UTF-16 text (labelled, or behind its byte-order mark) is still masked, not refused', (chunk) => {
    for (const [decoder, body] of [['utf-16le', Buffer.from(text, 'utf16le')], ['utf-16be', Buffer.from(text, 'utf16le').swap16()], ['utf-8', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')])]] as const) {
      const out = feed(decoder, body, chunk);
      expect(out).not.toContain('590.830.166-33');
      expect(out).not.toContain('larissa.oliveira1@exemplo.com.br');
      expect(out).toContain('Cliente Larissa');
    }
  });
});
