import { describe, expect, it } from '@jest/globals';
import { compileMasker } from '../../../core/masking/index.ts';
import { TerminalMasker } from './terminal-masker.ts';

const masker = (): TerminalMasker => new TerminalMasker(compileMasker({ style: 'redact' }).newSession());
const CPF = '590.830.166-33';

describe('terminal masking', () => {
  it('masks an identifier however the output is cut, and shows a prompt when the stream goes idle', () => {
    for (let cut = 1; cut < 20; cut++) {
      const m = masker();
      const text = `cpf ${CPF} ok\r\n$ `;
      const shown = m.push(Buffer.from(text.slice(0, cut))) + m.flushIdle() + m.push(Buffer.from(text.slice(cut))) + m.flushIdle();
      expect(shown).not.toContain(CPF);
      expect(shown).toContain('$ ');
    }
  });

  it('keeps a partial word back at an idle flush (an identifier printed slowly is not cut)', () => {
    const m = masker();
    let shown = '';
    for (const c of `x ${CPF}\n`) shown += m.push(Buffer.from(c)) + m.flushIdle();
    expect(shown).not.toContain('166');
    expect(shown).toContain('x ');
  });

  it('completes a UTF-8 character split across chunks and flushes everything at the end', () => {
    const m = masker();
    const bytes = Buffer.from('ação ok');
    const shown = m.push(bytes.subarray(0, 2)) + m.push(bytes.subarray(2)) + m.end();
    expect(shown).toBe('ação ok');
  });
});
