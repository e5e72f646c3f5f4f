// decodeView's erasing reading writes the view in place (round 11b: slicing a concatenated string per
// backspace was quadratic, 400 K characters of `x \b` took 10 s). What a backspace takes back must be
// what it took back before: the character before it on its line, a surrogate pair whole, nothing at a
// line start; and the position map stays increasing and inside the text.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { decodeView } from './decode.ts';

/** A terminal line editor's reading of plain text (no escapes): each backspace erases the code point before it on its line. */
function erased(s: string): string {
  const out: string[] = [];
  for (const ch of s) {
    if (ch !== '\b') out.push(ch);
    else if (out.length > 0 && out[out.length - 1] !== '\n') out.pop();
  }
  return out.join('');
}

const PLAIN = fc.constantFrom('a', '5', '9', '.', '-', ' ', '\n', '\b', '\b', '😀', 'é');

describe('decodeView with erasing backspaces', () => {
  it('takes back what a terminal line editor does, for any plain text', () => {
    fc.assert(fc.property(fc.array(PLAIN, { maxLength: 200 }), (chars) => {
      const s = chars.join('');
      expect(decodeView(s, true).text).toBe(erased(s));
    }), { numRuns: 500 });
  });

  it('keeps the position map increasing and inside the original text', () => {
    fc.assert(fc.property(fc.array(PLAIN, { maxLength: 200 }), (chars) => {
      const s = chars.join('');
      const v = decodeView(s, true);
      expect(v.at.length).toBe(v.text.length + 1);
      for (let i = 1; i < v.at.length; i++) expect(v.at[i] ?? 0).toBeGreaterThan(v.at[i - 1] ?? 0);
      expect(v.at[v.text.length]).toBe(s.length);
    }), { numRuns: 300 });
  });

  it('an overprinted CPF reads as the digits left on the screen, with escapes decoded around it', () => {
    expect(decodeView('cpf 529.982.247-2X\b5 e %40', true).text).toBe('cpf 529.982.247-25 e @');
    expect(decodeView('\b\bx\n\by', true).text).toBe('x\ny');
  });

  it('reads a long text of backspaces whole (the view no longer copies itself per backspace)', () => {
    const s = 'cliente 12345 valor 678 pedido 9012 '.repeat(12_000).replaceAll(' ', ' \b');
    const v = decodeView(s, true);
    expect(v.text).toBe(erased(s));
  });
});
