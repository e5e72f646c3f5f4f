// Round 10b review of the masking engine (adversarial review of b4d5e8c, the round 10 fixes). Each `finding` test
// FAILS on the code as reviewed for the reason its name states; each `control` passes and shows the same value masked
// in the form the engine reads. The real-target counterpart (the real sidecar in front of a real HTTP upstream) is
// sidecar/test/masking-round10b-attacks.int.test.ts; the reasoning is in docs/security-model.md, "Round 10b review: masking".
//
// 1. A text line that opens JSON is now read by the JSON masker (json-lines.ts), which masks each string value and
//    number token alone: the text reading's keyword context is gone. Identifiers that need their keyword (a bare
//    10-digit landline after `contato`, an 8-digit CEP or a date of birth after `cep` / `nascimento` in an EAV
//    record, a value under `dt_nascto`) were masked in JSON log lines before b4d5e8c and are not now.
// 2. Integers spelled as decimals in text (text-number.ts) are read from their digits alone (engine #spelledHits
//    calls findHits on the digits, without the line): `tel 1133334444.0`, `{'cep': 22041001.0}` and
//    `nascimento 19850312.0` stay whole, while `tel 1133334444`, `{'cep': 22041001}` and `nascimento 19850312` are
//    masked.
// 3. The byte pre-scan (textMayChange / utf8JsonKeysMayBeNamed: the sidecar's fast path) does not see a JSON document
//    held in a string that starts with an escaped whitespace (`"\n{\"email\":...}"`), which the JSON masker reads as a
//    document (opensJson skips the decoded whitespace) and masks under its name rules: the pre-scan says "cannot
//    change" for a body the pipeline changes.
// 4. A byte-order mark before the first JSON line (a file written "UTF-8 with BOM") keeps that line as text.
import { describe, expect, it } from '@jest/globals';
import type { Session } from './engine.ts';
import { compileMasker } from './index.ts';
import { utf8JsonKeysMayBeNamed } from './prescan.ts';

const RG = '12.345.678-9';
const CPF_TYPO = '529.982.247-20';
const masker = compileMasker({ fields: [{ names: ['rg'] }, { names: ['nome'] }] });
const session = () => masker.newSession();

function streamed(t: string, size: number): string {
  const s = session().textStream();
  let out = '';
  for (let i = 0; i < t.length; i += size) out += s.push(t.slice(i, i + size));
  return out + s.end();
}

// ---- 1. JSON lines lose the text reading's keyword context ------------------------------------------------------

describe('finding 1: a text line read as JSON loses the keyword context the text reading gave', () => {
  const LANDLINE = '1133334444';
  const CEP = '01310-100';
  const BIRTH = '12/03/1985';

  it('control: the same records as text after a prefix (read as text) are masked', () => {
    const out = session().maskText(
      `app: {"level":"info","msg":"contato atualizado","contato":"${LANDLINE}"}\n` +
      `app: {"campo":"cep","valor":"${CEP}"}\napp: {"msg":"cadastro","dt_nascto":"${BIRTH}"}\n`,
    );
    expect(out).not.toContain(LANDLINE);
    expect(out).not.toContain(CEP);
    expect(out).not.toContain(BIRTH);
  });

  it.each([
    ['a landline under `contato` (kubectl logs of a JSON logger)', `{"level":"info","msg":"contato atualizado","contato":"${LANDLINE}"}`, LANDLINE],
    ['a landline as a number token under `contato`', `{"evento":"cadastro","contato":${LANDLINE}}`, LANDLINE],
    ['a CEP in an entity-attribute-value record', `{"campo":"cep","valor":"${CEP}"}`, CEP],
    ['a date of birth in an entity-attribute-value record', `{"campo":"data_nascimento","valor":"${BIRTH}"}`, BIRTH],
    ['a date of birth under `dt_nascto`', `{"msg":"cadastro","dt_nascto":"${BIRTH}"}`, BIRTH],
  ])('finding 1: %s reaches the agent (masked as text before b4d5e8c)', (_what, line, value) => {
    const text = `INFO inicio\n${line}\nINFO fim\n`;
    for (const out of [session().maskText(text), streamed(text, 7)]) expect(out).not.toContain(value);
  });
});

// ---- 2. Spelled integers are read without their keyword ---------------------------------------------------------

describe('finding 2: an integer spelled as a decimal is read without the keyword before it', () => {
  it('control: the same integers written bare are masked through their keyword', () => {
    const out = session().maskText("INFO cliente {'telefone': 1133334444, 'cep': 22041001, 'nascimento': 19850312}\ntel 1133334444\n");
    for (const v of ['1133334444', '22041001', '19850312']) expect(out).not.toContain(v);
  });

  it.each([
    ['a Python log line of a dict with float columns', "INFO cliente {'telefone': 1133334444.0, 'cep': 22041001.0, 'nascimento': 19850312.0}", ['1133334444', '22041001', '19850312']],
    ['a landline with a zero fraction after `tel`', 'tel 1133334444.0', ['1133334444']],
    ['a CEP in exponent form after `cep`', 'cep: 2.2041001E7', ['2.2041001E7']],
    ['a date of birth with a zero fraction after `nascimento`', 'nascimento 19850312.0', ['19850312']],
  ])('finding 2: %s stays whole', (_what, line, values) => {
    for (const out of [session().maskText(`${line}\n`), streamed(`${line}\n`, 5)]) for (const v of values) expect(out).not.toContain(v);
  });
});

// ---- 3. The pre-scan misses a document in a string that starts with an escaped whitespace -----------------------

describe('finding 3: the byte pre-scan says "cannot change" for a document in a string opened by an escaped whitespace', () => {
  const utf8 = (s: string) => Buffer.from(s, 'utf8');
  const nested = (lead: string) => `{"evento":"cadastro","payload":"${lead}{\\"email\\":\\"ana at exemplo\\",\\"nome\\":\\"Joao Silva\\"}"}`;
  const json = (t: string) => {
    const s = session().jsonStream();
    return s.push(t) + s.end();
  };

  it('control: the document without the leading escape: the masker changes it and the pre-scan says so', () => {
    const doc = nested('');
    expect(json(doc)).not.toContain('Joao Silva');
    expect(utf8JsonKeysMayBeNamed(utf8(doc), (k) => (session() as Session).ruleFor(k) !== null)).toBe(true);
  });

  it.each([['\\n'], ['\\t'], ['\\r\\n']])('finding 3: a string opened by %s: the JSON masker masks the name and the e-mail, the pre-scans say nothing can change', (lead) => {
    const doc = nested(lead);
    // What the pipeline sends: the nested document is read (opensJson skips the decoded whitespace).
    expect(json(doc)).not.toContain('Joao Silva');
    expect(session().maskText(`${doc}\n`)).not.toContain('Joao Silva');
    // What the sidecar's fast path asks first (body.ts passesUnchanged): both must say "may change".
    expect(session().textMayChange(utf8(`${doc}\n`))).toBe(true);
    expect(utf8JsonKeysMayBeNamed(utf8(doc), (k) => (session() as Session).ruleFor(k) !== null)).toBe(true);
  });
});

// ---- 4. A byte-order mark before the first JSON line -------------------------------------------------------------

describe('finding 4: a byte-order mark before the first line keeps that JSON line as text', () => {
  const LINE = `{"nome":"Joao","rg":"${RG}","cpf":"${CPF_TYPO}"}`;

  it('control: the second line of the same file is read as JSON', () => {
    const out = session().maskText(`\ufeff${LINE}\n${LINE}\n`).split('\n')[1] ?? '';
    expect(out).not.toContain(RG);
    expect(out).not.toContain(CPF_TYPO);
  });

  it('finding 4: the first line of a JSON Lines file written with a BOM (cat over SSH, kubectl logs) keeps the RG and the CPF under `cpf`', () => {
    for (const out of [session().maskText(`\ufeff${LINE}\n`), streamed(`\ufeff${LINE}\n`, 3)]) {
      expect(out).not.toContain(RG);
      expect(out).not.toContain(CPF_TYPO);
    }
  });
});
