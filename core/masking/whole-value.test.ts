// A name rule's partial layout shows a part of a value its type can spare: only for a valid value of
// that type (review 24: a CPF aliased as email and as telefone showed three parts of itself).
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from './index.ts';
import { isWholeValue } from './whole-value.ts';

describe('isWholeValue', () => {
  it.each([
    ['cpf', '590.830.166-33', true], ['cpf', '59083016633', true], ['cpf', '590.830.166-34', false], ['cpf', '590.830.166-33 x', false],
    ['cnpj', '74.911.862/0001-02', true], ['cnpj', '12.ABC.345/01DE-35', true], ['cnpj', '74.911.862/0001-03', false],
    ['phone', '+55 71 91791-2186', true], ['phone', '(11) 91234-5678', true], ['phone', '71 3234-5678', true], ['phone', '590.830.166-33', false], ['phone', 'não informado', false],
    ['email', 'ana@exemplo.com.br', true], ['email', '590.830.166-33', false], ['email', 'ana at exemplo', false], ['email', 'x@y', false],
    ['cep', '01310-100', true], ['cep', '590.830.166-33', false],
    ['birthDate', '1985-03-12', true], ['birthDate', '12/03/1985', true], ['birthDate', '(11) 91234-2019', false],
    ['ip', '10.1.2.3', true], ['ip', '2001:db8::1', true], ['ip', '590.830.166', false],
    ['card', '4111 1111 1111 1111', true], ['card', '4111 1111 1111 1112', false],
    // 119.912.345-54 is a valid CPF and, as 11 99123-4554, a São Paulo mobile number: neither layout applies to it.
    ['phone', '11991234554', false], ['cpf', '11991234554', false], ['cpf', '119.912.345-54', false], ['phone', '11991234568', true],
  ] as const)('%s %s: %s', (detector, value, expected) => {
    expect(isWholeValue(detector, value)).toBe(expected);
  });
});

describe('a value under a name rule', () => {
  const masker = compileMasker({ style: 'partial', fields: [{ names: ['cpf'], detector: 'cpf' }, { names: ['email'], detector: 'email' }, { names: ['telefone'], detector: 'phone' }] });

  it('of its type keeps the type\'s layout', () => {
    const s = masker.newSession();
    expect([s.maskCell('cpf', '590.830.166-33'), s.maskCell('email', 'larissa@exemplo.com.br'), s.maskCell('telefone', '+55 71 91791-2186')])
      .toEqual(['***.***.***-33', 'l***@e***.br', '+** ** *****-2186']);
  });

  it.each(['email', 'telefone', 'cep', 'dt_nasc', 'numero_cartao'])('of another type (a CPF under %s) is starred whole: no other part of it shows', (name) => {
    expect(masker.newSession().maskCell(name, '590.830.166-33')).toBe('***.***.***-**');
  });

  it('not of its type and holding no identifier is starred whole too', () => {
    const s = masker.newSession();
    expect([s.maskCell('telefone', 'não informado'), s.maskCell('cpf', '590.830.166-34'), s.maskCell('email', 'ana at exemplo')]).toEqual(['*** *********', '***.***.***-**', '*** ** *******']);
  });

  it('other styles are the style\'s (redact names the type; hash does not show parts)', () => {
    const redact = compileMasker({ style: 'redact', fields: [{ names: ['email'], detector: 'email' }] }).newSession();
    expect(redact.maskCell('email', '590.830.166-33')).toBe('[EMAIL]');
  });
});
