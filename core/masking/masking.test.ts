import { describe, expect, it } from '@jest/globals';
import { isCard, isCnh, isCnpj, isCns, isCpf, isIpv4, isIpv6, isPis, isTitulo, phoneKind } from './checksums.ts';
import { createHmac } from 'node:crypto';
import { Hmac, splitPhone } from './render.ts';
import { compileMasker, MaskingConfigError, validateMaskingSpec, type DetectorName, type MaskingSpec } from './index.ts';

const KEY = new Uint8Array(32).fill(42);
const mask = (text: string, spec: MaskingSpec = {}): string => compileMasker(spec, { hashKey: KEY }).newSession().maskText(text);

describe('precedence when one number passes several checks', () => {
  // 52998224725 is a valid CPF; 11 digits are also the shape of CNH, PIS and mobile numbers.
  it('CPF wins over PIS, CNH and phone without a keyword', () => {
    const s = compileMasker({}).newSession();
    expect(s.maskText('código 52998224725')).toBe('código *********25');
    expect(s.counts()).toEqual({ cpf: 1 });
  });

  it('the keyword before the number picks among the types that validate', () => {
    // 11900000083 is a valid CPF and a valid mobile (DDD 11).
    expect(isCpf('11900000083') && phoneKind('11900000083') === 'mobile').toBe(true);
    const s = compileMasker({}).newSession();
    s.maskText('celular 11900000083');
    s.maskText('CPF 11900000083');
    expect(s.counts()).toEqual({ phone: 1, cpf: 1 });
  });

  it('a keyword for a type that does not validate does not change the type', () => {
    const s = compileMasker({}).newSession();
    s.maskText('PIS 52998224725'); // not a valid PIS
    expect(isPis('52998224725')).toBe(false);
    expect(s.counts()).toEqual({ cpf: 1 });
  });

  it('bare PIS needs its keyword; formatted PIS does not', () => {
    expect(isPis('12056737894') && !isCpf('12056737894') && !isCnh('12056737894')).toBe(true);
    expect(mask('ref 12056737894')).toBe('ref 12056737894');
    expect(mask('NIT 12056737894')).toBe('NIT *********94');
    expect(mask('ref 120.56737.89-4')).toBe('ref ***.*****.*9-4');
  });

  it('CNPJ wins over a 14-digit card, CNS over nothing, título over a 55-prefixed landline', () => {
    const both = findDigits(14, (d) => isCnpj(d) && isCard(d));
    expect(compileCounts(`x ${both}`)).toEqual({ cnpj: 1 });
    expect(compileCounts(`cartão ${both}`)).toEqual({ card: 1 });
    const titulo = findDigits(12, (d) => isTitulo(d) && d.startsWith('55') && phoneKind(d.slice(2)) !== null);
    expect(compileCounts(`x ${titulo}`)).toEqual({ tituloEleitor: 1 });
    expect(compileCounts(`tel ${titulo}`)).toEqual({ phone: 1 });
  });

  it('a rejected candidate hides what starts inside it', () => {
    expect(isCard('30152238464444')).toBe(false);
    expect(phoneKind('2238464444')).toBe('landline');
    expect(mask('cartão 3015 223846 4444')).toBe('cartão 3015 223846 4444');
    expect(mask('tel 22 3846 4444')).toBe('tel ** **** 4444');
  });

  it('disabled detectors leave the next reading in line', () => {
    expect(compileMasker({ detectors: ['phone'] }).newSession().maskText('x 11900000083')).toBe('x *******0083');
    expect(compileMasker({ detectors: ['email'] }).newSession().maskText('x 11900000083 a@b.com')).toBe('x 11900000083 a***@b***.com');
  });
});

function compileCounts(text: string): Record<string, number> {
  const s = compileMasker({}).newSession();
  s.maskText(text);
  return s.counts();
}

function findDigits(n: number, ok: (d: string) => boolean): string {
  for (let i = 0; i < 5_000_000; i++) {
    const d = String(10 ** (n - 1) + ((i * 7919) % (9 * 10 ** (n - 1)))).padStart(n, '0');
    const prefixed = n === 14 ? `36${d.slice(2)}` : n === 12 ? `55${d.slice(2)}` : d;
    if (ok(prefixed)) return prefixed;
  }
  throw new Error('none found');
}

describe('partial layouts: one per type, whatever the format', () => {
  const cases: [string, string][] = [
    ['529.982.247-25', '***.***.***-25'],
    ['52998224725', '*********25'],
    ['11.222.333/0001-81', '**.***.***/****-81'],
    ['12.ABC.345/01DE-35', '**.***.***/****-35'],
    ['(11) 91234-5678', '(**) *****-5678'],
    ['+55 11 91234-5678', '+** ** *****-5678'],
    ['4111 1111 1111 1111', '**** **** **** 1111'],
    ['joao.silva@empresa.com.br', 'j***@e***.br'],
    ['192.168.10.20', '192.168.*.*'],
    ['2001:db8::8a2e:370:7334', '2001:db8:*:*:*:*:*:*'],
  ];
  it.each(cases)('%s → %s', (input, output) => {
    expect(mask(`valor ${input} fim`)).toBe(`valor ${output} fim`);
  });

  it('CEP keeps its region, dates their year', () => {
    expect(mask('CEP 01310-100')).toBe('CEP 01***-***');
    expect(mask('nascido em 12/03/1985')).toBe('nascido em **/**/1985');
    expect(mask('data de nascimento: 1985-03-12')).toBe('data de nascimento: 1985-**-**');
  });

  it('short or malformed values under a name rule are masked whole', () => {
    const s = compileMasker({}).newSession();
    expect(s.maskCell('cpf', '123')).toBe('***');
    expect(s.maskCell('telefone', 'não informado')).toBe('*** *********');
  });
});

describe('redact, hash and surrogate styles', () => {
  it('redact writes the type tag', () => {
    expect(mask('CPF 529.982.247-25, a@b.com', { style: 'redact' })).toBe('CPF [CPF], [EMAIL]');
  });

  it('hash is keyed, stable, and the same for the formatted and bare forms', () => {
    const out = mask('529.982.247-25 52998224725', { style: 'hash' });
    const [a, b] = out.split(' ');
    expect(a).toMatch(/^cpf:hmac:[0-9a-f]{16}$/);
    expect(a).toBe(b);
    const otherKey = compileMasker({ style: 'hash' }, { hashKey: new Uint8Array(32).fill(1) }).newSession().maskText('52998224725');
    expect(otherKey).not.toBe(a);
  });

  it('computes the standard HMAC-SHA-256', () => {
    for (const keyLength of [16, 32, 64, 65, 100]) {
      const key = new Uint8Array(keyLength).map((_, i) => (i * 37 + keyLength) & 255);
      const hmac = new Hmac(key);
      for (const message of ['', 'cpf\u000052998224725', 'é'.repeat(600), 'a'.repeat(5000)]) {
        expect(hmac.digest(message).toString('hex')).toBe(createHmac('sha256', key).update(message, 'utf8').digest('hex'));
      }
    }
  });

  it('hash joins the same CPF masked by content and by column name', () => {
    const s = compileMasker({ style: 'hash' }, { hashKey: KEY }).newSession();
    expect(s.maskCell('cpf', '529.982.247-25')).toBe(s.maskCell('obs', '52998224725'));
  });

  it('refuses hash and surrogate without a key, and short keys', () => {
    expect(() => compileMasker({ style: 'hash' })).toThrow(MaskingConfigError);
    expect(() => compileMasker({ styles: { cpf: 'surrogate' } })).toThrow(/styles\.cpf/);
    expect(() => compileMasker({ style: 'hash' }, { hashKey: new Uint8Array(8) })).toThrow(/at least 16/);
    expect(() => compileMasker({ style: 'hash', enabled: false })).not.toThrow();
  });

  const validators: Partial<Record<DetectorName, (d: string) => boolean>> = {
    cpf: isCpf, cnpj: isCnpj, cnh: isCnh, pis: isPis, tituloEleitor: isTitulo, cns: isCns, card: isCard,
  };
  const surrogateCases: [DetectorName, string][] = [
    ['cpf', 'CPF 529.982.247-25'], ['cnpj', 'CNPJ 12.ABC.345/01DE-35'], ['cnh', 'CNH 79143829831'], ['pis', 'PIS 120.56737.89-4'],
    ['tituloEleitor', 'título 1023 8501 0671'], ['cns', 'CNS 762 3763 4591 2761'], ['card', 'cartão 4111 1111 1111 1111'],
  ];
  it.each(surrogateCases)('surrogate %s keeps the format and has valid check digits', (type, text) => {
    const s = compileMasker({ style: 'surrogate' }, { hashKey: KEY }).newSession();
    const out = s.maskText(text);
    expect(out).not.toBe(text);
    expect(out.replace(/[0-9A-Z]/g, '0')).toBe(text.replace(/[0-9A-Z]/g, '0'));
    const value = out.slice(out.search(/[0-9]/)).replace(/[^0-9A-Z]/g, '');
    expect(validators[type]?.(value)).toBe(true);
    expect(s.counts()).toEqual({ [type]: 1 });
    expect(compileMasker({ style: 'surrogate' }, { hashKey: KEY }).newSession().maskText(text)).toBe(out); // stable
  });

  it('surrogate phones, e-mails, IPs and dates stay valid of their kind', () => {
    const s = compileMasker({ style: 'surrogate' }, { hashKey: KEY }).newSession();
    const phone = s.maskText('(11) 91234-5678');
    expect(phone).toMatch(/^\([0-9]{2}\) 9[0-9]{4}-[0-9]{4}$/);
    expect(phoneKind(splitPhone(phone.replace(/[^0-9]/g, '')).national)).toBe('mobile');
    expect(s.maskText('a@b.com')).toMatch(/^u[0-9a-f]{10}@example\.com$/);
    expect(isIpv4(s.maskText('192.168.10.20'))).toBe(true);
    expect(isIpv6(s.maskText('2001:db8::1'))).toBe(true);
    expect(s.maskText('nascimento 12/03/1985')).toMatch(/^nascimento [0-9]{2}\/[0-9]{2}\/1985$/);
  });
});

describe('name rules', () => {
  const s = (): ReturnType<ReturnType<typeof compileMasker>['newSession']> => compileMasker({}).newSession();

  it('recognises usual column names in Portuguese and English', () => {
    const named: [string, string][] = [
      ['cpf', 'cpf'], ['nr_cpf', 'cpf'], ['cpfCliente', 'cpf'], ['CPF_TITULAR', 'cpf'], ['email', 'email'], ['e_mail', 'email'],
      ['emailAddress', 'email'], ['telefone_celular', 'phone'], ['celular', 'phone'], ['dt_nasc', 'birthDate'],
      ['dataNascimento', 'birthDate'], ['data_de_nascimento', 'birthDate'], ['birth_date', 'birthDate'], ['cep', 'cep'],
      ['zip_code', 'cep'], ['client_ip', 'ip'], ['titulo_eleitor', 'tituloEleitor'], ['cartao_sus', 'cns'],
      ['numero_cartao', 'card'], ['nr_pis', 'pis'], ['cnh', 'cnh'], ['cnpj', 'cnpj'],
    ];
    for (const [name, type] of named) {
      const session = s();
      expect([name, session.maskCell(name, 'qualquer valor x')]).not.toEqual([name, 'qualquer valor x']);
      expect([name, session.counts()]).toEqual([name, { [type]: 1 }]);
    }
  });

  it('ignores names about the identifier rather than the identifier', () => {
    for (const name of ['email_verified', 'cpf_hash', 'cidade_nascimento', 'telefone_tipo', 'ip_country', 'email_id', 'mobile_os']) {
      expect([name, s().maskCell(name, 'valor')]).toEqual([name, 'valor']);
    }
  });

  it('user fields match exactly (case-insensitive) and may set detector and style', () => {
    const m = compileMasker({
      fields: [{ names: ['Nome_Mae'] }, { names: ['documento'], detector: 'cpf', style: 'redact' }],
    }).newSession();
    expect(m.maskCell('nome_mae', 'Maria José')).toBe('***** ****');
    expect(m.maskCell('documento', '52998224725')).toBe('[CPF]');
    expect(m.maskCell('nome_mae_2', 'Maria')).toBe('Maria');
    expect(m.counts()).toEqual({ field: 1, cpf: 1 });
  });

  it('columns named for CPF or CNPJ are typed by length', () => {
    const m = compileMasker({}).newSession();
    m.maskCell('cpf_cnpj', '11.222.333/0001-81');
    m.maskCell('cpf_cnpj', '529.982.247-25');
    expect(m.counts()).toEqual({ cnpj: 1, cpf: 1 });
  });
});

describe('JSON decisions', () => {
  const session = (): ReturnType<ReturnType<typeof compileMasker>['newSession']> => compileMasker({}).newSession();

  it('a key rule masks strings and numbers whole; arrays inherit it, objects do not', () => {
    const out = session().maskJson({ telefones: ['(11) 91234-5678', 11987654321], cpf: { numero: '529.982.247-25', obs: 'ok' } });
    expect(out).toEqual({ telefones: ['(**) *****-5678', '*******4321'], cpf: { numero: '***.***.***-25', obs: 'ok' } });
  });

  it('null and booleans are never masked; small numbers stay numbers', () => {
    expect(session().maskJson({ cpf: null, email: true, idade: 42, valor: 1234.56 })).toEqual({ cpf: null, email: true, idade: 42, valor: 1234.56 });
  });

  it('keys are content-scanned; keys masked alike stay distinct', () => {
    const out = session().maskJson({ '52998224725': 1, '11144477735': 2, nome: 3 }) as Record<string, number>;
    expect(out).toEqual({ '*********25': 1, '*********35': 2, nome: 3 });
    const clash = session().maskJson({ 'a@x.com': 1, 'a@y.com': 2 }) as Record<string, number>;
    expect(Object.keys(clash)).toEqual(['a***@x***.com', 'a***@y***.com']);
    const same = session().maskJson({ 'ana@x.com': 1, 'ari@x.com': 2 }) as Record<string, number>;
    expect(Object.keys(same)).toEqual(['a***@x***.com', 'a***@x***.com#2']);
  });

  it('maskJson does not mutate its input and copes with __proto__ keys', () => {
    const input = JSON.parse('{"__proto__": {"cpf": "529.982.247-25"}, "a": ["a@b.com"]}') as object;
    const before = JSON.stringify(input);
    const out = session().maskJson(input);
    expect(JSON.stringify(input)).toBe(before);
    expect(JSON.stringify(out)).toBe('{"__proto__":{"cpf":"***.***.***-25"},"a":["a***@b***.com"]}');
  });
});

describe('custom patterns (RE2)', () => {
  it('masks matches with redact or hash, counted by name', () => {
    const s = compileMasker({ customPatterns: [{ name: 'matricula', pattern: 'MAT-[0-9]{6}' }, { name: 'token', pattern: '(?i)tok_[a-z0-9]{8}', style: 'hash' }] }, { hashKey: KEY }).newSession();
    expect(s.maskText('MAT-123456 e TOK_abcd1234')).toMatch(/^\[MATRICULA\] e token:hmac:[0-9a-f]{16}$/);
    expect(s.counts()).toEqual({ matricula: 1, token: 1 });
  });

  it('a built-in detection wins a tie with a custom pattern; the longer span wins otherwise', () => {
    const s = compileMasker({ customPatterns: [{ name: 'digits', pattern: '[0-9]{11}' }, { name: 'ref', pattern: 'REF [0-9]+' }] }).newSession();
    expect(s.maskText('a 52998224725 b REF 52998224725')).toBe('a *********25 b [REF]');
  });

  it('cannot hang the proxy: a catastrophic-backtracking pattern runs in linear time', () => {
    const s = compileMasker({ customPatterns: [{ name: 'evil', pattern: '(a+)+b' }] }).newSession();
    const input = `${'a'.repeat(100_000)}c`;
    const t0 = performance.now();
    expect(s.maskText(input)).toBe(input);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('are found across stream chunk boundaries', () => {
    const s = compileMasker({ customPatterns: [{ name: 'matricula', pattern: 'MAT-[0-9]{6}' }] }).newSession();
    const text = `${'x '.repeat(300)}MAT-123456 ${'y '.repeat(300)}`;
    for (const k of [599, 600, 603, 605, 611]) {
      const stream = s.textStream();
      expect(stream.push(text.slice(0, k)) + stream.push(text.slice(k)) + stream.end()).toBe(text.replace('MAT-123456', '[MATRICULA]'));
    }
  });
});

describe('validateMaskingSpec (admission)', () => {
  it('accepts a full valid spec', () => {
    expect(validateMaskingSpec({
      enabled: true, detectors: ['cpf', 'email'], style: 'partial', styles: { email: 'hash' },
      fields: [{ names: ['nome'], style: 'redact' }], customPatterns: [{ name: 'mat', pattern: 'MAT-\\d+', style: 'hash' }],
    })).toEqual([]);
  });

  it('reports each problem with its field path and how to fix it', () => {
    const problems = validateMaskingSpec({
      detectors: ['cpf', 'rg' as DetectorName, 'cpf'],
      style: 'blur' as 'redact',
      fields: [{ names: [] }],
      customPatterns: [
        { name: 'ok', pattern: '[0-9]+' },
        { name: 'lookbehind', pattern: '(?<=CPF )[0-9]+' },
        { name: 'backref', pattern: '(a)\\1' },
        { name: 'empty', pattern: 'x*' },
        { name: 'cpf', pattern: 'x' },
        { name: 'OK', pattern: 'y' },
        { name: '1bad', pattern: 'y', style: 'partial' as 'redact' },
      ],
    }, 'spec.masking');
    const fields = problems.map((p) => p.field);
    expect(fields).toEqual([
      'spec.masking.detectors[1]', 'spec.masking.detectors[2]', 'spec.masking.style', 'spec.masking.fields[0].names',
      'spec.masking.customPatterns[1].pattern', 'spec.masking.customPatterns[2].pattern', 'spec.masking.customPatterns[3].pattern',
      'spec.masking.customPatterns[4].name', 'spec.masking.customPatterns[5].name', 'spec.masking.customPatterns[6].name',
      'spec.masking.customPatterns[6].style',
    ]);
    expect(problems[4]?.message).toMatch(/RE2 has no lookaround/);
    expect(problems[6]?.message).toMatch(/empty string/);
  });

  it('compileMasker throws MaskingConfigError with the field of the first problem', () => {
    let error: unknown;
    try {
      compileMasker({ customPatterns: [{ name: 'x', pattern: '(?=a)' }] });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MaskingConfigError);
    expect((error as MaskingConfigError).field).toBe('spec.masking.customPatterns[0].pattern');
  });
});

describe('sessions and switches', () => {
  it('enabled: false masks nothing', () => {
    const s = compileMasker({ enabled: false }).newSession();
    expect(s.maskText('CPF 529.982.247-25')).toBe('CPF 529.982.247-25');
    expect(s.maskJson({ cpf: '1' })).toEqual({ cpf: '1' });
    expect(s.maskCell('cpf', '1')).toBe('1');
    const st = s.jsonStream();
    expect(st.push('{"cpf":"1"}') + st.end()).toBe('{"cpf":"1"}');
    expect(s.counts()).toEqual({});
  });

  it('counters live in the session; the masker is shared', () => {
    const m = compileMasker({});
    const a = m.newSession();
    const b = m.newSession();
    a.maskText('a@b.com c@d.com');
    b.maskText('CEP 01310-100');
    expect(a.counts()).toEqual({ email: 2 });
    expect(b.counts()).toEqual({ cep: 1 });
  });

  it('text that needs no masking is returned as is', () => {
    const s = compileMasker({}).newSession();
    const text = 'Nada a mascarar aqui: versão 1.2.3, 14:32, R$ 1.234,56, protocolo 2024031200123, std::vector, abc::def.';
    expect(s.maskText(text)).toBe(text);
    expect(s.counts()).toEqual({});
  });
});
