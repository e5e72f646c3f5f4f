// Text whose lines open JSON documents (json-lines.ts; round 10 review, finding 1): NDJSON, JSON Lines, server-sent
// events, JSON log lines and pretty-printed documents in text keep the JSON reading (name rules, field rules, number
// tokens) in maskText and in text streams cut anywhere; other text is masked exactly as before.
import { describe, expect, it } from '@jest/globals';
import { NEGATIVES } from './corpus.ts';
import { compileMasker } from './index.ts';
import { mayOpenJsonLine } from './json-lines.ts';
import { utf8MayOpenJsonLine } from './prescan.ts';

const RG = '12.345.678-9';
const CPF_TYPO = '529.982.247-20';
const masker = compileMasker({ fields: [{ names: ['rg'] }] });
const DOC = `{"nome":"Joao","rg":"${RG}","cpf":"${CPF_TYPO}","documento":52998224725.0,"email":"ana at exemplo"}`;
// A CPF with a typo and 'ana at exemplo' are not valid values of their names' types: masked whole (whole-value.ts).
const MASKED = '{"nome":"Joao","rg":"**.***.***-*","cpf":"***.***.***-**","documento":"*********25","email":"*** ** *******"}';
const LEAKS = [RG, CPF_TYPO, '52998224725', 'ana at exemplo'];

function streamed(t: string, size: number, m = masker): string {
  const s = m.newSession().textStream();
  let out = '';
  for (let i = 0; i < t.length; i += size) out += s.push(t.slice(i, i + size));
  return out + s.end();
}

/** maskText and the text stream in every chunk size agree on `t`; returns their output. */
function masked(t: string): string {
  const whole = masker.newSession().maskText(t);
  for (const size of [1, 2, 3, 5, 7, 64, 4096]) expect([size, streamed(t, size)]).toEqual([size, whole]);
  return whole;
}

describe('lines that open JSON documents are read as JSON', () => {
  it.each([
    ['NDJSON', `${DOC}\n${DOC}\n`, `${MASKED}\n${MASKED}\n`],
    ['NDJSON with CRLF and no final newline', `${DOC}\r\n${DOC}`, `${MASKED}\r\n${MASKED}`],
    ['an array per line', `[${DOC}]\n[${DOC},${DOC}]\n`, `[${MASKED}]\n[${MASKED},${MASKED}]\n`],
    ['server-sent events', `event: cliente\ndata: ${DOC}\n\nid: 2\ndata:${DOC}\n\n`, `event: cliente\ndata: ${MASKED}\n\nid: 2\ndata:${MASKED}\n\n`],
    ['a JSON log line after text lines', `INFO start\n  ${DOC}\nINFO fim\n`, `INFO start\n  ${MASKED}\nINFO fim\n`],
    ['a broken line between documents', `${DOC}\n{"rg": oops\n${DOC}\n`, `${MASKED}\n{"rg": oops\n${MASKED}\n`],
    ['text after a document on its line', `${DOC} fim 529.982.247-25\nproxima\n`, `${MASKED} fim ***.***.***-25\nproxima\n`],
  ])('%s', (_what, text, want) => {
    expect(masked(text)).toBe(want);
  });

  it('reads a pretty-printed document across its lines', () => {
    const pretty = `resposta:\n${JSON.stringify(JSON.parse(DOC), null, 2)}\nfim\n`;
    const out = masked(pretty);
    for (const leak of LEAKS) expect(out).not.toContain(leak);
    expect(out).toContain('"nome": "Joao"');
    expect(out.endsWith('}\nfim\n')).toBe(true);
  });

  it('reads the data of each event on its own line (a multi-line data field is read per line)', () => {
    const out = masked(`data: {"rg":\ndata: "${RG}"}\n\n`);
    expect(out).toBe(`data: {"rg":\ndata: "${RG}"}\n\n`); // out of reach: documented in the README
  });

  it('leaves lines that only start with a brace or bracket as the text they are', () => {
    for (const t of ['[INFO] cpf 529.982.247-25 ok', '{ cpf: 529.982.247-25 }', '[1, 52998224725]', '{}', '[]', '{', '[', 'data: [x]', "{'rg': '12.345.678-9'}"]) {
      const out = masked(`${t}\nfim`);
      expect(out.includes(RG)).toBe(t.includes(RG));
      expect(out).not.toContain('529.982.247-25');
    }
  });

  it('masks the negative corpus and the same text in JSON lines as before (nothing but the JSON reading changes)', () => {
    const text = NEGATIVES.join('\n');
    expect(masked(text)).toBe(text);
    const lines = NEGATIVES.map((t) => JSON.stringify({ obs: t })).join('\n');
    expect(masked(lines)).toBe(lines);
  });

  it('flushes a document open at the flush as it is, and reads what follows as text', () => {
    const s = masker.newSession().textStream();
    const out = s.push(`{"rg":"${RG}","obs":"x`) + s.flush() + s.push('y"}\n') + s.end();
    expect(out).not.toContain(RG);
    expect(out.endsWith('y"}\n')).toBe(true);
  });

  it('holds at most a line opening back (a live event stream shows each event when its line ends)', () => {
    const s = masker.newSession().textStream();
    expect(s.push(`data: ${DOC}\n\n`)).toBe(`data: ${MASKED}\n`);
    expect(s.push('da')).toBe('');
    expect(s.end()).toBe('\nda');
  });

  it('bounds a document that never ends (the JSON stream streams it)', () => {
    const s = masker.newSession().textStream();
    let out = s.push(`{"obs":"`);
    for (let i = 0; i < 100; i++) out += s.push(`cpf 529.982.247-25 ${'x'.repeat(1000)} `);
    expect(out.length).toBeGreaterThan(90_000);
    out += s.end();
    expect(out).not.toContain('529.982.247-25');
  });

  it('finds the openings the reader reads, on text and on bytes', () => {
    for (const t of [DOC, `x\n${DOC}`, `data: ${DOC}`, `  \t[${DOC}]`, `x\r\n  data:{"a":1}`]) {
      expect([t, mayOpenJsonLine(t), utf8MayOpenJsonLine(Buffer.from(t))]).toEqual([t, true, true]);
    }
    for (const t of ['x {"a":1}', 'data {"a":1}', 'x\nda ta: {', '']) expect([t, mayOpenJsonLine(t), utf8MayOpenJsonLine(Buffer.from(t))]).toEqual([t, false, false]);
  });
});

describe('the pre-scan still says no only where nothing changes', () => {
  it('says yes for a JSON line whose key has a name rule, however its value looks', () => {
    const s = masker.newSession();
    for (const t of ['{"email":"ana at exemplo"}', 'log\n{"rg":"x"}', 'data: {"nome":"a","telefone":"nao informado"}', '{"payload":"{\\"email\\":\\"a\\"}"}']) {
      expect([t, s.textMayChange(Buffer.from(t)), s.maskText(t) !== t]).toEqual([t, true, true]);
    }
    for (const t of ['{"nome":"Ana"}', 'data: {"status":"ok"}', 'texto sem nada']) {
      expect([t, s.textMayChange(Buffer.from(t)), s.maskText(t)]).toEqual([t, false, t]);
    }
  });
});

// Round 10b review, finding 4: a byte-order mark before a line's opening is read past as indentation, in maskText,
// text streams cut anywhere, cells, and the byte pre-scan; it stays in the output.
describe('a byte-order mark before a JSON line', () => {
  it.each([
    ['at the start of a JSON Lines file written "UTF-8 with BOM"', `\ufeff${DOC}\n${DOC}\n`, `\ufeff${MASKED}\n${MASKED}\n`],
    ['before indentation', `\ufeff  ${DOC}\n`, `\ufeff  ${MASKED}\n`],
    ['at the start of each file in `cat a.jsonl b.jsonl`', `\ufeff${DOC}\n\ufeff${DOC}\n`, `\ufeff${MASKED}\n\ufeff${MASKED}\n`],
    ['before an SSE field', `\ufeffdata: ${DOC}\n\n`, `\ufeffdata: ${MASKED}\n\n`],
    ['before an array', `\ufeff[${DOC}]\n`, `\ufeff[${MASKED}]\n`],
  ])('%s', (_what, text, want) => {
    expect(masked(text)).toBe(want);
    expect(mayOpenJsonLine(text)).toBe(true);
    expect(utf8MayOpenJsonLine(Buffer.from(text))).toBe(true);
  });

  it('in a cell, and the pre-scan says it may change', () => {
    const s = masker.newSession();
    expect(s.maskCell('linha', `\ufeff${DOC}`)).toBe(`\ufeff${MASKED}`);
    expect(s.cellMayChange('linha', Buffer.from(`\ufeff{"rg":"x"}`))).toBe(true);
    expect(s.textMayChange(Buffer.from(`\ufeff{"rg":"x"}`))).toBe(true);
  });

  it('a BOM inside a line, or a BOM then text, is no opening', () => {
    for (const t of [`x\ufeff{"rg":"x"}`, '\ufeffINFO {"rg":"x"}']) {
      expect([t, mayOpenJsonLine(t), masked(t)]).toEqual([t, false, t]);
      expect(utf8MayOpenJsonLine(Buffer.from(t))).toBe(false);
    }
  });
});
