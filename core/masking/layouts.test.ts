// Issue 18 item 12, "printed layouts of identifiers": every identifier the engine detects, in every layout people,
// forms and documents print it with (separators mixed or missing, no-break and thin spaces, typographic dashes,
// fullwidth forms), is masked in free text, JSON (also \u-escaped) and PostgreSQL cells, by text and stream maskers
// alike; look-alikes with a broken check digit and numeric text that is no identifier stay as they are.
import { describe, expect, it } from '@jest/globals';
import { KEYWORDS, layoutCorpus, LOOK_ALIKES, NEGATIVES, streamingMismatches, textTemplates, type LayoutSample } from './corpus.ts';
import { isCns, isRenavam, phoneKind } from './checksums.ts';
import { ESCAPE, needsDecoding } from './decode.ts';
import { fold, nothingSpecial } from './fold.ts';
import { compileMasker, type DetectorName } from './index.ts';

const corpus = layoutCorpus();
const masker = compileMasker({});
const KEY = new Uint8Array(32).fill(7);
const hasher = compileMasker({ style: 'hash' }, { hashKey: KEY });
const show = (s: LayoutSample): string => `${s.type}/${s.format} ${JSON.stringify(s.value)}`;
const maskText = (t: string): string => masker.newSession().maskText(t);
const asciiDigits = (s: string): string => s.replace(/[\uff10-\uff19]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));
/** Every character escaped, as some JSON encoders write non-ASCII (and as an evasive upstream may write all). */
const escapeAll = (s: string): string => `"${[...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`;

/** What the partial style keeps of each type, whatever the layout: the same characters for every layout of one value. */
const KEPT: Partial<Record<DetectorName, (d: string) => string>> = {
  cpf: (d) => d.slice(-2), cnpj: (d) => d.slice(-2), cnh: (d) => d.slice(-2), pis: (d) => d.slice(-2),
  tituloEleitor: (d) => d.slice(-2), cns: (d) => d.slice(-2), renavam: (d) => d.slice(-2), phone: (d) => d.slice(-4), cep: (d) => d.slice(0, 2),
};

describe('printed layouts corpus', () => {
  it('covers every identifier with several layouts, look-alike separators and look-alikes', () => {
    const formats = new Map<DetectorName, Set<string>>();
    for (const s of corpus.valid) formats.set(s.type, (formats.get(s.type) ?? new Set()).add(s.format));
    for (const type of ['cpf', 'cnpj', 'cns', 'pis', 'tituloEleitor', 'cnh', 'phone', 'cep', 'email', 'renavam'] as const) {
      expect([type, (formats.get(type)?.size ?? 0) >= 4]).toEqual([type, true]);
    }
    for (const sep of Object.values(LOOK_ALIKES)) expect([sep, corpus.valid.some((s) => s.value.includes(sep))]).toEqual([sep, true]);
    expect(corpus.valid.some((s) => /[\uff10-\uff19]/.test(s.value))).toBe(true);
    expect(corpus.valid.some((s) => s.type === 'cnpj' && /[A-Z]/.test(s.digits))).toBe(true);
    expect(corpus.lookAlikes.length).toBeGreaterThan(150);
  });

  it('masks every layout in free text, exactly once, leaving the surroundings', () => {
    const failures: string[] = [];
    for (const s of corpus.valid) {
      for (const t of textTemplates(s)) {
        const session = masker.newSession();
        const out = session.maskText(t);
        const at = t.indexOf(s.value);
        const ok = !out.includes(s.value) && out.startsWith(t.slice(0, at)) && out.endsWith(t.slice(at + s.value.length))
          && JSON.stringify(session.counts()) === JSON.stringify({ [s.type]: 1 });
        if (!ok) failures.push(`${show(s)} in ${JSON.stringify(t)} -> ${JSON.stringify(out)} ${JSON.stringify(session.counts())}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('keeps the same characters of a value whatever its layout (two layouts side by side reveal nothing more)', () => {
    const failures: string[] = [];
    for (const s of corpus.valid) {
      const kept = KEPT[s.type];
      if (kept === undefined || s.format.includes('+')) continue; // encoded layouts: the mask is re-encoded (%20 has digits)
      const t = `${KEYWORDS[s.type]}: ${s.value}`;
      const out = maskText(t).slice(KEYWORDS[s.type].length + 2);
      const visible = asciiDigits(out).replace(/[^0-9A-Z]/g, '');
      if (visible !== kept(asciiDigits(s.digits))) failures.push(`${show(s)} -> ${JSON.stringify(out)}`);
    }
    expect(failures).toEqual([]);
  });

  it('hashes every layout of one value to the same token (joins survive layouts)', () => {
    const failures: string[] = [];
    for (const s of corpus.valid) {
      const kw = KEYWORDS[s.type];
      const printed = hasher.newSession().maskText(`${kw}: ${s.value}`);
      const plain = hasher.newSession().maskText(`${kw}: ${s.type === 'email' ? s.digits.toLowerCase() : s.digits}`);
      // Where the value was percent-encoded, so is its token (cpf%3Ahmac%3A...); a JSON escape glued before the value
      // (`\ncpf:hmac:...`) is no part of it.
      const token = (t: string): string => new RegExp(`${s.type}:hmac:[0-9a-f]{16}`).exec(t.replace(/%3A/g, ':'))?.[0] ?? `no token in ${t}`;
      if (token(printed) !== token(plain)) failures.push(`${show(s)}: ${printed} != ${plain}`);
    }
    expect(failures).toEqual([]);
  });

  it('masks every layout in JSON strings, also when the JSON escapes every character, and in PostgreSQL cells', () => {
    const failures: string[] = [];
    for (const s of corpus.valid.filter((x) => !x.needsContext)) {
      const doc = JSON.stringify({ obs: s.value, lista: [`ref ${s.value}`] });
      const stream = masker.newSession().jsonStream();
      const viaStream = stream.push(doc) + stream.end();
      const viaValue = JSON.stringify(masker.newSession().maskJson(JSON.parse(doc)));
      const escaped = `{"obs":${escapeAll(s.value)}}`;
      const escStream = masker.newSession().jsonStream();
      const viaEscaped = escStream.push(escaped) + escStream.end();
      const cell = masker.newSession().maskCell('observacao', s.value);
      const leaked = [viaStream, viaValue, JSON.stringify(JSON.parse(viaEscaped)), cell].filter((o) => o.includes(s.value) || (JSON.parse(`"${o.replace(/"/g, '')}"`) as string).includes(s.value));
      if (leaked.length > 0 || viaEscaped === escaped || cell === s.value) failures.push(`${show(s)}: ${viaStream} | ${viaEscaped} | ${cell}`);
    }
    expect(failures).toEqual([]);
  });

  it('gives the same output when a text stream is split at every position', () => {
    const failures: string[] = [];
    for (const t of [...corpus.valid, ...corpus.lookAlikes].flatMap(textTemplates)) {
      const expected = maskText(t);
      for (let k = 0; k <= t.length; k++) {
        const stream = masker.newSession().textStream();
        const out = stream.push(t.slice(0, k)) + stream.push(t.slice(k)) + stream.end();
        if (out !== expected) failures.push(`${JSON.stringify(t)} split at ${k}: ${out}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('folding', () => {
  it('maps each look-alike to one ASCII character, keeps every other character, and keeps positions', () => {
    const wrong: string[] = [];
    for (let c = 0; c <= 0xffff; c++) {
      const ch = String.fromCharCode(c);
      const f = fold(ch);
      if (f.length !== 1 || (f !== ch && f.charCodeAt(0) >= 128)) wrong.push(c.toString(16));
    }
    expect(wrong).toEqual([]);
    expect(Object.values(LOOK_ALIKES).map(fold)).toEqual([' ', ' ', ' ', ' ', ' ', '-', '-', '-', '.', '/']);
    expect(fold('ａ＠ｂ．ｃｏｍ１２')).toBe('a@b.com12');
    // The engine's shortcut (nothing to fold or decode) must not skip any character that folding or decoding changes.
    const skipped: string[] = [];
    for (let c = 0; c <= 0xffff; c++) {
      const t = `1${String.fromCharCode(c)}1`;
      if (nothingSpecial(t) && (fold(t) !== t || needsDecoding(t))) skipped.push(c.toString(16));
    }
    expect(skipped).toEqual([]);
    expect(fold('não 1ª')).toBe('não 1ª');
  });

  it('nor any surrogate pair: its flags are set on the lead surrogate by hand (fold.ts CHAR_FLAGS, invisible.ts)', () => {
    const skipped: string[] = [];
    for (let h = 0xd800; h <= 0xdbff; h++) {
      for (let l = 0xdc00; l <= 0xdfff; l++) {
        const t = `1${String.fromCharCode(h, l)}1`;
        if (nothingSpecial(t) && (fold(t) !== t || needsDecoding(t))) skipped.push(`${h.toString(16)} ${l.toString(16)}`);
      }
    }
    expect(skipped).toEqual([]);
  });
});

describe('keywords typed without a space', () => {
  const GLUED: Partial<Record<DetectorName, string>> = {
    cpf: 'CPF', cnpj: 'CNPJ', cnh: 'CNH', pis: 'PIS', tituloEleitor: 'titulo', cns: 'CNS', renavam: 'RENAVAM', cep: 'CEP', phone: 'tel',
  };

  it('masks every layout glued to the word that names it (CPF529.982.247-25, tel11912345678)', () => {
    const failures: string[] = [];
    for (const s of corpus.valid) {
      const kw = GLUED[s.type];
      if (kw === undefined || /^[A-Za-z]/.test(s.value)) continue; // an alphanumeric CNPJ starting with a letter merges with the word
      const t = `${kw}${s.value} ok`;
      const session = masker.newSession();
      const out = session.maskText(t);
      if (out.includes(s.value) || !out.startsWith(kw) || JSON.stringify(session.counts()) !== JSON.stringify({ [s.type]: 1 })) failures.push(`${show(s)}: ${JSON.stringify(out)} ${JSON.stringify(session.counts())}`);
      for (let k = 0; k <= t.length; k++) {
        const stream = masker.newSession().textStream();
        const streamed = stream.push(t.slice(0, k)) + stream.push(t.slice(k)) + stream.end();
        if (streamed !== out) failures.push(`${JSON.stringify(t)} split at ${k}: ${streamed}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('leaves numbers glued to other words, or to a keyword inside a longer word, alone', () => {
    for (const t of ['hotel52998224725', 'xcpf52998224725', 'SKU52998224725', 'cpfs52998224725']) expect(maskText(t)).toBe(t);
    // A formatted layout is its own evidence: glued to any word it is masked (glued-formatted.test.ts).
    expect(maskText('ABCPF529.982.247-25')).toBe('ABCPF***.***.***-25');
  });
});

describe('escapes (decode.ts)', () => {
  it('masks identifiers behind escapes and writes the mask back in the same encoding, leaving the rest byte for byte', () => {
    expect(maskText('https://crm.exemplo.com.br/busca?email=joao.silva%40gmail.com&tel=%2B55%2011%2091234-5678&p=2'))
      .toBe('https://crm.exemplo.com.br/busca?email=j***%40g***.com&tel=%2B**%20**%20*****-5678&p=2');
    expect(maskText('cns=239+6230+8471+0018&x=1')).toBe('cns=***%20****%20****%20**18&x=1');
    expect(maskText('<a href="mailto:joao&#64;gmail&#46;com">joao&commat;gmail&period;com</a>')).toBe('<a href="mailto:j***@g***.com">j***@g***.com</a>');
    expect(maskText('{"cpf":"529\\u002e982\\u002e247\\u002d25"}')).toBe('{"cpf":"***.***.***-25"}');
    expect(maskText('CPF 529\u200b982\u200b247\u00ad25 ok')).toBe('CPF *********25 ok');
  });

  it('the fast escape test agrees with the escape pattern', () => {
    const samples = ['%2E', '%2', '%ZZ', '50%', '\\u0030', '\\u00', '\\x41', '\\n', '\\/', '\\b', '\\f', '\\r', '\\t', '\\"', '\\\\', '\\a', '\\ud835\\udfd3', '&#64;', '&#x40;', '&amp;', '& b;', '&#;', '1+2', '+55', '1+', 'a+1',
      '\u200b', '\u00ad', 'plain', ...NEGATIVES, ...corpus.valid.map((v) => v.value)];
    const disagree = samples.filter((t) => needsDecoding(t) !== ESCAPE.test(t) || needsDecoding(`x ${t} y`) !== ESCAPE.test(`x ${t} y`));
    expect(disagree).toEqual([]);
  });

  it('decodes one level only, as a reader does', () => {
    expect(maskText('joao%2540gmail.com')).toBe('joao%2540gmail.com');
  });

  // Round 10 review, finding 3: percent-encoding is read as UTF-8, so the look-alikes the layouts fold count in URLs too.
  it.each([
    ['no-break spaces', 'cpf=529%C2%A0982%C2%A0247%C2%A025&x=1', 'cpf=***%20***%20***%2025&x=1'],
    ['lower-case hex', 'cpf=529%c2%a0982%c2%a0247%c2%a025&x=1', 'cpf=***%20***%20***%2025&x=1'],
    ['an en dash and an em dash', 'cpf=529.982.247%E2%80%9325 cnpj=11.222.333/0001%E2%80%9481', 'cpf=***.***.***-25 cnpj=**.***.***%2F****-81'],
    ['a one-dot leader and a fullwidth full stop', 'cpf=529%E2%80%A4982%EF%BC%8E247-25', 'cpf=***.***.***-25'],
    ['fullwidth digits', 'cpf=%EF%BC%95%EF%BC%92%EF%BC%99%EF%BC%99%EF%BC%98%EF%BC%92%EF%BC%92%EF%BC%94%EF%BC%97%EF%BC%92%EF%BC%95', 'cpf=*********25'],
    ['a zero-width space and a soft hyphen', 'cpf=529.%E2%80%8B982.247%C2%AD-25', 'cpf=***.***.***-25'],
    ['Mathematical digits (four bytes each)', 'cpf=%F0%9D%9F%93%F0%9D%9F%90%F0%9D%9F%97.982.247-25', 'cpf=***.***.***-25'],
    ['a fullwidth at sign', 'email=joao%EF%BC%A0gmail.com', 'email=j***%40g***.com'],
    ['a phone with a narrow no-break space', 'tel=(11)%E2%80%AF91234-5678', 'tel=%28**%29%20*****-5678'],
  ])('reads %s percent-encoded as UTF-8', (_what, text, want) => {
    expect(maskText(text)).toBe(want);
    expect(masker.newSession().maskCell('referer', text)).toBe(want);
  });

  it('leaves percent-encoded bytes that are no UTF-8 character as written (a lone byte, overlong forms, surrogates, past U+10FFFF)', () => {
    for (const t of ['529%A0982%A0247%A025', '529%C0%A0982%C0%A0247%C0%A025', '529%E0%80%A0982', '%ED%A0%80', '%F4%90%80%80', '%C2', '%E2%80', 'caf%C3%A9 %F0%9F%98%80']) {
      expect(maskText(t)).toBe(t);
    }
    // A CPF broken by bytes a decoder rejects is no CPF to a reader either.
    expect(maskText('cpf=529%C2982%C2247%C225')).toBe('cpf=529%C2982%C2247%C225');
  });
});

describe('RENAVAM', () => {
  it('validates as DENATRAN publishes it (reference cases of validate-docbr), 9-digit numbers padded with 00', () => {
    for (const v of ['13824652268', '08543317523', '09769017014', '01993520012', '04598137389', '05204907510']) expect([v, isRenavam(v)]).toEqual([v, true]);
    for (const v of ['38872054170', '40999838209', '31789431480', '38919643060', '00000000000', '1382465226']) expect([v, isRenavam(v)]).toEqual([v, false]);
    const old = Array.from({ length: 100 }, (_, i) => `1234567${String(i).padStart(2, '0')}`).find((d) => isRenavam(d)) ?? '';
    expect(isRenavam(`00${old}`)).toBe(true);
    expect(maskText(`RENAVAM ${old}`)).toBe(`RENAVAM *******${old.slice(-2)}`);
  });

  it('is masked after its keyword, bare or in its mask, and by column name; never without either (one check digit)', () => {
    expect(maskText('RENAVAM: 13824652268')).toBe('RENAVAM: *********68');
    expect(maskText('renavam 1382465226-8')).toBe('renavam *********6-8');
    expect(maskText('código 1382465226-8')).toBe('código 1382465226-8');
    const s = masker.newSession();
    expect(s.maskCell('renavam', '13824652268')).toBe('*********68');
    expect(s.maskCell('nr_renavam', '999')).toBe('***');
    expect(s.counts()).toEqual({ renavam: 2 });
    // Same digits after another keyword are read as that type.
    expect(compileCounts('PIS 13824652268')).toEqual({ pis: 1 });
  });

  it('surrogates keep the format and a valid check digit; hashes join the 9- and 11-digit forms', () => {
    const sur = compileMasker({ style: 'surrogate' }, { hashKey: KEY }).newSession().maskText('RENAVAM 1382465226-8').slice(8);
    expect(sur).toMatch(/^[0-9]{10}-[0-9]$/);
    expect(isRenavam(sur.replace('-', ''))).toBe(true);
    const old = Array.from({ length: 100 }, (_, i) => `1234567${String(i).padStart(2, '0')}`).find((d) => isRenavam(d)) ?? '';
    expect(hasher.newSession().maskText(`RENAVAM ${old}`)).toBe(hasher.newSession().maskText(`RENAVAM 00${old}`));
  });
});

function compileCounts(text: string): Record<string, number> {
  const session = masker.newSession();
  session.maskText(text);
  return session.counts();
}

describe('streams', () => {
  it('give the same output and counts for the whole layout corpus fed in chunks of any size', () => {
    const doc = [...corpus.valid, ...corpus.lookAlikes].flatMap(textTemplates).concat(NEGATIVES).join('\n');
    expect(streamingMismatches(masker, doc)).toEqual([]);
  });
});

describe('false positives stay bounded', () => {
  it('leaves look-alikes (a broken check digit, an area code that does not exist) unmasked, even after their keyword', () => {
    const inputs = corpus.lookAlikes.flatMap((s) => textTemplates({ ...s, needsContext: false }).map((t): [LayoutSample, string] => [s, t]));
    const touched = inputs.filter(([, t]) => maskText(t) !== t).map(([s, t]) => `${show(s)} in ${JSON.stringify(t)} -> ${maskText(t)}`);
    expect(touched).toEqual([]);
  });

  it('leaves dates, versions, amounts and codes unmasked in text, cells and JSON', () => {
    const touched: string[] = [];
    for (const t of NEGATIVES) {
      const doc = JSON.stringify({ obs: t });
      const stream = masker.newSession().jsonStream();
      const outs = [maskText(t), maskText(`Registro ${t} atualizado.`), masker.newSession().maskCell('observacao', t), stream.push(doc) + stream.end()];
      const expected = [t, `Registro ${t} atualizado.`, t, doc];
      if (JSON.stringify(outs) !== JSON.stringify(expected)) touched.push(`${JSON.stringify(t)} -> ${JSON.stringify(outs)}`);
    }
    expect(touched).toEqual([]);
  });
});

describe('the reported case: CNS as printed on the card', () => {
  it('masks NNN NNNN NNNN NNNN even when its first digits also read as a phone number', () => {
    // "829 2530 3431" alone is the mobile (82) 9 2530-3431: the phone alternative used to claim the first three groups
    // of the card number (masking them as a phone, leaving the last group) or, with an area code that does not
    // exist (239 6230 8471), to reject them and hide the whole card number.
    const cns = Array.from({ length: 10000 }, (_, i) => `82925303431${String(i).padStart(4, '0')}`).find(isCns);
    const valid = cns ?? '';
    expect(isCns(valid) && phoneKind(valid.slice(0, 11)) === 'mobile').toBe(true);
    const printed = `${valid.slice(0, 3)} ${valid.slice(3, 7)} ${valid.slice(7, 11)} ${valid.slice(11)}`;
    expect(maskText(`Cartão SUS ${printed}`)).toBe(`Cartão SUS *** **** **** **${valid.slice(-2)}`);
    expect(maskText('cns 239 6230 8471 0018')).toBe('cns *** **** **** **18');
    expect(maskText(`cns 239${LOOK_ALIKES.nbsp}6230${LOOK_ALIKES.nbsp}8471${LOOK_ALIKES.nbsp}0018`)).toBe('cns *** **** **** **18');
    expect(maskText('cns 239.6230.8471.0018 e 239-6230-8471-0018')).toBe('cns ***.****.****.**18 e ***-****-****-**18');
  });

  it('does not re-read a rejected card-number layout as the phone number it starts with', () => {
    // 829 2530 3431 078X: the first three groups are the valid mobile (82) 9 2530-3431, the whole fails the CNS check.
    const bad = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'].map((d) => `829 2530 3431 078${d}`)
      .filter((v) => masker.newSession().maskText(v.replace(/ /g, '')) === v.replace(/ /g, ''));
    expect(bad.length).toBeGreaterThan(5);
    for (const v of bad) expect(maskText(`obs ${v}`)).toBe(`obs ${v}`);
    expect(maskText('tel 82 92530-3431')).toBe('tel ** *****-3431');
  });
});
