// Round 12 review of masking, end to end through the REAL sidecar process in front of a real HTTP upstream. Each
// `finding` test FAILS on the code as reviewed for the reason its name states; each `control` passes and shows the same
// value masked in the form the engine reads. Engine-level counterparts: core/masking/masking-round12-attacks.test.ts;
// report: /work/tmp/masking12-review.md.
//
// 1. A JSON document whose first key comes more than 64 blanks after its start is read as text (json.ts opensJson,
//    MAX_LEADING_SPACE): in a JSON body's string (an event's payload) and on an NDJSON line, the RG and the name under
//    the policy's field rules reach the agent whole; with 64 blanks they are masked.
// 2. A CPF written in Segmented digits (U+1FBF0–U+1FBF9, Unicode Nd) in a JSON body reaches the agent whole, sized (the
//    fast path) and streamed; the same CPF in Mathematical bold digits is masked.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { suffix } from '../../e2e/support/kubectl.ts';
import { startContentMaskingHttp, type ContentMaskingHttp, type FixedBodies } from './content-masking-http.ts';

jest.setTimeout(120_000);

const RG = '12.345.678-9';
const NAME = 'Joao da Silva';
const inner = JSON.stringify({ rg: RG, nome: NAME });
const event = (n: number) => JSON.stringify({ evento: 'cadastro', payload: ' '.repeat(n) + inner });
const ndjson = (n: number) => `{"evento":"inicio"}\n{${' '.repeat(n)}"rg":"${RG}","nome":"${NAME}"}\n`;
const spell = (zero: number, s: string) => [...s].map((c) => (c >= '0' && c <= '9' ? String.fromCodePoint(zero + Number(c)) : c)).join('');
const SEG_CPF = spell(0x1fbf0, '529.982.247-25');
const MATH_CPF = spell(0x1d7ce, '529.982.247-25');
// Added with the fixes (the class, not the instance): blanks written as `\u0020` escapes (the pre-scan decodes a
// string's first 1,024 bytes and must not split an escape there), with no digit in the body (only the key reading
// can say it may change: the sized fast path); 10,000 blanks of indentation before an NDJSON line's brace; the
// other supplementary digit runs.
const escapedEvent = JSON.stringify({ evento: 'cadastro', payload: `${' '.repeat(300)}{"nome":"${NAME}"}` }).replaceAll(' ', '\\u0020');
const indented = `{"evento":"inicio"}\n${' '.repeat(10_000)}{"rg":"${RG}","nome":"${NAME}"}\n`;
const OTHER_CPFS = [0x1e950, 0x104a0, 0x11066, 0x1e4f0, 0x11f50].map((z) => spell(z, '529.982.247-25'));
// Round 12c: text inside terminal escape sequences, which an agent reading the raw body sees (a CSI's parameters, an
// OSC 8 hyperlink's URL, a title, a DCS string; in a JSON log line as \u001b escapes); an identifier a sequence longer
// than the engine's first reading's bounds splits; numeric references without `;`. A text body holding a C0 control
// (ESC, BEL) is refused by the HTTP listener (sidecar/src/http/body.ts), so text bodies carry the 8-bit (C1) forms and
// the escapes a log writes; the 7-bit forms go through SSH (ssh-terminal-escapes.int.test.ts).
const E = '\u001b';
const TERMINAL_TEXT = [
  'cpf \u009b52998224725m ok',
  '\u009d8;;http://crm.example/c/52998224725\u009cficha\u009d8;;\u009c',
  '\u009d0;cliente 529.982.247-25\u009c$ ',
  '\u0090doc 52998224725\u009c ok',
  '\u009fcpf 529.982.247-25\u009c ok',
  'log: \\u001b[52998224725m e \\x1b]0;cpf 529.982.247-25\\x07',
].join('\n');
const TERMINAL_SPLIT = `cpf 529.982\u009b${'0;'.repeat(40)}m.247-25 e 529.982\u0090q a b\u009c.247-25 fim\n`;
const TERMINAL_JSON = JSON.stringify({ log: `${E}]8;;http://x/52998224725\u0007link${E}]8;;\u0007`, msg: `cpf ${E}[52998224725m` });
const HTML_REFS = '<p>CPF &#53&#50&#57.&#57&#56&#50.&#x32&#x34&#x37-25 e 529&nbsp982&nbsp247&nbsp25</p>';

describe('HTTP: a document past 64 blanks loses its field rules (1); a CPF in Segmented digits (2)', () => {
  const POLICY = 'customers-api';
  const ns = `mask-r12-${suffix()}`;
  const BODIES: FixedBodies = {
    '/customers/events/64': ['application/json', event(64), true],
    '/customers/events/70': ['application/json', event(70), true],
    '/customers/log/64': ['application/x-ndjson', ndjson(64), true],
    '/customers/log/70': ['application/x-ndjson', ndjson(70), true],
    '/customers/seg': ['application/json', JSON.stringify({ doc: SEG_CPF }), 'sized'],
    '/customers/seg/stream': ['application/json', JSON.stringify({ doc: SEG_CPF }), true],
    '/customers/math': ['application/json', JSON.stringify({ doc: MATH_CPF }), 'sized'],
    '/customers/events/escaped': ['application/json', escapedEvent, 'sized'],
    '/customers/events/escaped/stream': ['application/json', escapedEvent, true],
    '/customers/log/indented': ['application/x-ndjson', indented, true],
    '/customers/others': ['application/json', JSON.stringify({ docs: OTHER_CPFS }), 'sized'],
    '/customers/terminal': ['text/plain; charset=utf-8', TERMINAL_TEXT, 'sized'],
    '/customers/terminal/stream': ['text/plain; charset=utf-8', TERMINAL_TEXT, true],
    '/customers/terminal/split': ['text/plain; charset=utf-8', TERMINAL_SPLIT, 'sized'],
    '/customers/terminal/split/stream': ['text/plain; charset=utf-8', TERMINAL_SPLIT, true],
    '/customers/terminal/json': ['application/json', TERMINAL_JSON, 'sized'],
    '/customers/terminal/json/stream': ['application/json', TERMINAL_JSON, true],
    '/customers/html': ['text/html; charset=utf-8', HTML_REFS, 'sized'],
  };
  let http: ContentMaskingHttp | undefined;
  const get = (path: string): ReturnType<ContentMaskingHttp['get']> => http!.get(path);

  beforeAll(async () => {
    http = await startContentMaskingHttp(ns, POLICY, BODIES, { style: 'partial', fields: [{ names: ['rg'] }, { names: ['nome'] }] });
  }, 180_000);

  afterAll(async () => { await http?.stop(); }, 60_000);

  it('control: an event whose payload document has 64 blanks before it has its rg and nome masked', async () => {
    const r = await get('/customers/events/64');
    expect(r.status).toBe(200);
    expect(r.text).toContain('cadastro');
    expect(r.text).not.toContain(RG);
    expect(r.text).not.toContain(NAME);
  });

  it('finding 1: the same event with 70 blanks before its payload document reaches the agent with the RG and the name', async () => {
    const r = await get('/customers/events/70');
    expect(r.status).toBe(200);
    expect(r.text).toContain('cadastro');
    expect(r.text).not.toContain(RG);
    expect(r.text).not.toContain(NAME);
  });

  it('control: an NDJSON line with 64 blanks after its brace has its rg and nome masked', async () => {
    const r = await get('/customers/log/64');
    expect(r.status).toBe(200);
    expect(r.text).toContain('inicio');
    expect(r.text).not.toContain(RG);
    expect(r.text).not.toContain(NAME);
  });

  it('finding 1: an NDJSON line with 70 blanks after its brace reaches the agent with the RG and the name', async () => {
    const r = await get('/customers/log/70');
    expect(r.status).toBe(200);
    expect(r.text).toContain('inicio');
    expect(r.text).not.toContain(RG);
    expect(r.text).not.toContain(NAME);
  });

  it('control: a CPF in Mathematical bold digits is masked', async () => {
    const r = await get('/customers/math');
    expect(r.status).toBe(200);
    expect(r.text).toContain('***.***.***-');
    expect(r.text).not.toContain(MATH_CPF);
  });

  it('finding 2: a CPF in Segmented digits reaches the agent whole (sized body: the fast path)', async () => {
    const r = await get('/customers/seg');
    expect(r.status).toBe(200);
    expect(r.text).not.toContain(SEG_CPF);
  });

  it('finding 2: the same body streamed reaches the agent whole', async () => {
    const r = await get('/customers/seg/stream');
    expect(r.status).toBe(200);
    expect(r.text).not.toContain(SEG_CPF);
  });

  it('fixed 1: 300 blanks written as \\u0020 before a payload document, no digit in the body: masked sized and streamed', async () => {
    expect(escapedEvent.replaceAll('\\u0020', '')).not.toMatch(/[0-9]/); // no digit but the escapes' own
    for (const path of ['/customers/events/escaped', '/customers/events/escaped/stream']) {
      const r = await get(path);
      expect(r.status).toBe(200);
      expect(r.text).toContain('cadastro');
      expect([path, JSON.stringify(JSON.parse(r.text)).includes(NAME)]).toEqual([path, false]); // (decoded: the name's blanks are escapes too)
    }
  });

  it('fixed 1: an NDJSON line indented by 10,000 blanks has its rg and nome masked', async () => {
    const r = await get('/customers/log/indented');
    expect(r.status).toBe(200);
    expect(r.text).toContain('inicio');
    expect(r.text).not.toContain(RG);
    expect(r.text).not.toContain(NAME);
  });

  it('fixed 2: CPFs in Adlam, Osmanya, Brahmi, Nag Mundari and Kawi digits are masked (sized body: the fast path)', async () => {
    const r = await get('/customers/others');
    expect(r.status).toBe(200);
    for (const cpf of OTHER_CPFS) expect([cpf, r.text.includes(cpf)]).toEqual([cpf, false]);
    expect(r.text.split('***.***.***-').length).toBe(OTHER_CPFS.length + 1);
  });

  it('fixed 12c: identifiers inside terminal escape sequences are masked in place, sized and streamed', async () => {
    for (const path of ['/customers/terminal', '/customers/terminal/stream']) {
      const r = await get(path);
      expect(r.status).toBe(200);
      expect([path, /52998224725|529\.982/.test(r.text)]).toEqual([path, false]);
      // In place: every sequence is still there, around the masks.
      const kept = [
        '\u009b*********25m', '\u009d8;;http://crm.example/c/*********25\u009cficha', '\u009d0;cliente ***.***.***-25\u009c', '\u0090doc *********25\u009c',
        '\u009fcpf ***.***.***-25\u009c', '\\u001b[*********25m', '\\x1b]0;cpf ***.***.***-25\\x07',
      ];
      for (const k of kept) {
        expect([path, k, r.text.includes(k)]).toEqual([path, k, true]);
      }
    }
  });

  it('fixed 12c: a CPF split by an 8-bit CSI past 24 parameters or by an 8-bit DCS string is masked, sized and streamed', async () => {
    for (const path of ['/customers/terminal/split', '/customers/terminal/split/stream']) {
      const r = await get(path);
      expect(r.status).toBe(200);
      expect([path, r.text]).toEqual([path, 'cpf ***.***.***-25 e ***.***.***-25 fim\n']);
    }
  });

  it('fixed 12c: a JSON log line with \\u001b escapes: the OSC 8 URL and the CSI parameter are masked', async () => {
    for (const path of ['/customers/terminal/json', '/customers/terminal/json/stream']) {
      const r = await get(path);
      expect(r.status).toBe(200);
      expect([path, JSON.parse(r.text)]).toEqual([path, { log: `${E}]8;;http://x/*********25\u0007link${E}]8;;\u0007`, msg: `cpf ${E}[*********25m` }]);
    }
  });

  it('fixed 12c: numeric references without `;` and &nbsp without `;` in an HTML body', async () => {
    const r = await get('/customers/html');
    expect(r.status).toBe(200);
    expect(r.text).toContain('<p>CPF ');
    expect(r.text).not.toContain('&#53&#50&#57');
    expect(r.text).not.toContain('529&nbsp982');
    expect(r.text).not.toMatch(/982|&#57&#56/);
  });
});
