// Round 11b re-review (adversarial): bodies under a UTF-16 label or byte-order mark whose bytes are
// UTF-16 of the other byte order or shifted (docs/security-model.md, "Round 11b review: the Kubernetes
// and masking fixes"); other-readings.ts checks them by a round trip through the label's encoding.
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from '../../../core/masking/index.ts';
import { MaskingPipeline, textDecoderFor } from './body.ts';

const masker = compileMasker({});
const LINE = 'cliente cpf 590.830.166-33 email maria.souza@example.com\n';
const le = (t: string): Buffer => Buffer.from(t, 'utf16le');
const be = (t: string): Buffer => Buffer.from(t, 'utf16le').swap16();
/** What a terminal or an agent reading the bytes as UTF-8 sees: the text with its NULs dropped. */
const shown = (b: Buffer): string => b.toString('utf8').replaceAll('\0', '');

function http(label: string, body: Buffer, cuts: number[] = []): { out?: Buffer; refused?: string } {
  const decoder = textDecoderFor(label);
  if (typeof decoder === 'string') throw new Error(decoder);
  const pipeline = new MaskingPipeline(masker.newSession(), 'text', decoder, 1 << 20);
  const pieces: Buffer[] = [];
  try {
    let from = 0;
    for (const cut of [...cuts, body.length]) {
      const r = pipeline.push(body.subarray(from, cut));
      if (r !== undefined) pieces.push(r);
      from = cut;
    }
    const e = pipeline.end();
    if (e !== undefined) pieces.push(e);
    return { out: Buffer.concat(pieces) };
  } catch (err) {
    return { refused: (err as Error).message };
  }
}

describe('HTTP: NUL-interleaved text the UTF-16 label does not read (04c73e4 read the raw NULs as U+FFFD)', () => {
  // The label's own reading sees CJK (BE bytes read as LE) and masks nothing; the raw-bytes check no
  // longer sees NUL-interleaved identifiers, so the bytes leave whole, and an agent reading them as
  // UTF-8 (curl to a terminal, a tool that drops NULs) reads the CPF and e-mail.
  it.each([
    ['charset=utf-16le over UTF-16BE bytes', 'utf-16le', be(LINE)],
    ['charset=utf-16be over UTF-16LE bytes', 'utf-16be', le(LINE)],
    ['charset=utf-16 with a FF FE mark over UTF-16BE bytes', 'utf-16', Buffer.concat([Buffer.from([0xff, 0xfe]), be(LINE)])],
    ['charset=utf-16le over UTF-16LE bytes shifted by one byte', 'utf-16le', Buffer.concat([Buffer.from('x'), le(LINE)])],
  ])('%s: refused or masked, never passed', (_what, label, body) => {
    const r = http(label, body);
    if (r.refused !== undefined) return;
    const out = r.out ?? Buffer.alloc(0);
    // The sidecar sends the label's reading as UTF-8: the agent encodes it as UTF-16 again (either
    // order) and reads it in the other one, or reads the bytes as they are.
    const text = out.toString('utf8');
    const readings = [shown(out), le(text).swap16().toString('utf16le'), shown(le(text)), shown(le(text).subarray(1))];
    for (const seen of readings) {
      expect(seen).not.toContain('590.830.166-33');
      expect(seen).not.toContain('maria.souza@example.com');
    }
  });

  it('control: genuine UTF-16LE under its label is masked (04c73e4 held)', () => {
    const r = http('utf-16le', le(LINE));
    expect(r.refused).toBeUndefined();
    expect(shown(r.out ?? Buffer.alloc(0))).not.toContain('590.830.166-33');
  });
});
