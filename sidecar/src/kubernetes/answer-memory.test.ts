// The Kubernetes listener's answer memory (round 11 review, finding 4): the limit from the cgroup
// (v2, v1) or the setting, the budget from it, charges refused beyond it (for now or for good), and
// one large answer masked at a time.
import { describe, expect, it } from '@jest/globals';
import { AnswerMemory, answerBudget, answerExtraCost, answerMemory, BACKSPACE_TEXT_EXTRA, cgroupMemoryLimit, DECODED_TEXT_EXTRA, DEFAULT_MEMORY_LIMIT, IDENTIFIER_COST, identifierShapes, LARGE_ANSWER, MASKING_COST, MaskingCharge, MemoryRefusal, NUL_TEXT_EXTRA, NUL_VIEWS_DECODED_EXTRA, REVERSED_TEXT_EXTRA, VALUE_COST } from './answer-memory.ts';

const MiB = 1024 * 1024;
const files = (map: Record<string, string>) => (path: string): string => {
  const text = map[path];
  if (text === undefined) throw new Error(`ENOENT ${path}`);
  return text;
};

describe('cgroupMemoryLimit', () => {
  it('reads cgroup v2 memory.max', () => expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': '268435456\n' }))).toBe(256 * MiB));
  it('"max" (no limit) falls through to v1, then to none', () => {
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': 'max\n' }))).toBeUndefined();
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': 'max', '/sys/fs/cgroup/memory/memory.limit_in_bytes': '536870912' }))).toBe(512 * MiB);
  });
  it('reads cgroup v1 memory.limit_in_bytes; its "unlimited" value (near 2^63) is none', () => {
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '134217728' }))).toBe(128 * MiB);
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712' }))).toBeUndefined();
  });
  it('no cgroup files, or garbage in them: none', () => {
    expect(cgroupMemoryLimit(files({}))).toBeUndefined();
    expect(cgroupMemoryLimit(files({ '/sys/fs/cgroup/memory.max': 'lots' }))).toBeUndefined();
  });
});

describe('the budget', () => {
  it('is half of what the limit leaves above the process, never negative', () => {
    expect(answerBudget(256 * MiB, 150 * MiB)).toBe(53 * MiB);
    expect(answerBudget(256 * MiB, 300 * MiB)).toBe(0);
  });
  it('comes from the cgroup first, then GUARITA_KUBE_MEMORY_LIMIT, then 256 MiB', () => {
    expect(answerMemory(1024 * MiB, Infinity, 100 * MiB, 512 * MiB).budget).toBe(206 * MiB);
    expect(answerMemory(1024 * MiB, Infinity, 100 * MiB, undefined).budget).toBe(462 * MiB);
    expect(answerMemory(undefined, Infinity, 100 * MiB, undefined).budget).toBe((DEFAULT_MEMORY_LIMIT - 100 * MiB) / 2);
  });
});

describe('charges', () => {
  it('are refused beyond the budget, for now (retry) when others hold it, for good when the answer alone is over it', () => {
    const m = new AnswerMemory(100, 'test');
    m.charge(60);
    expect(() => m.charge(50)).toThrow(MemoryRefusal);
    try { m.charge(50); } catch (err) { expect((err as MemoryRefusal).retry).toBe(true); }
    try { m.charge(50, 60); } catch (err) { expect((err as MemoryRefusal).retry).toBe(false); }
    expect(m.charged).toBe(60);
    m.release(60);
    m.charge(100);
    expect(m.charged).toBe(100);
  });

  it('an answer being masked is charged MASKING_COST × its bytes, given back at end()', async () => {
    const m = new AnswerMemory(100 * MiB, 'test');
    const c = new MaskingCharge(m, new AbortController().signal);
    await c.add(1000);
    expect(m.charged).toBe(1000 * MASKING_COST);
    c.end();
    c.end();
    expect(m.charged).toBe(0);
  });

  it('an answer whose masking would cost more than the whole budget is refused for good', async () => {
    const m = new AnswerMemory(10 * MiB, 'test');
    const c = new MaskingCharge(m, new AbortController().signal);
    await expect(c.add(2 * MiB)).rejects.toMatchObject({ retry: false, message: expect.stringContaining('page the list') });
    c.end();
    expect(m.charged).toBe(0);
  });
});

describe('the raw cap (4 × GUARITA_KUBE_MAX_RESPONSE, as before)', () => {
  it('bounds the answers\' bytes whatever their cost, for now (retry), naming the setting', async () => {
    const m = new AnswerMemory(1024 * MiB, 'test', 1000);
    const a = new MaskingCharge(m, new AbortController().signal);
    await a.add(600);
    const b = new MaskingCharge(m, new AbortController().signal);
    await expect(b.add(600)).rejects.toMatchObject({ retry: true, message: expect.stringContaining('4 × GUARITA_KUBE_MAX_RESPONSE') });
    a.end();
    await b.add(600);
    b.end();
    expect(m.charged).toBe(0);
    m.charge(1000);
    expect(() => m.charge(1)).toThrow(/being masked or not yet read/);
    m.release(1000);
  });
});

describe('one large answer at a time', () => {
  it('a second large answer waits until the first ends, then goes on', async () => {
    const m = new AnswerMemory(1024 * MiB, 'test');
    const signal = new AbortController().signal;
    const a = new MaskingCharge(m, signal);
    await a.add(LARGE_ANSWER + 1);
    const b = new MaskingCharge(m, signal);
    let bDone = false;
    const bAdd = b.add(LARGE_ANSWER + 1).then(() => { bDone = true; });
    await new Promise((r) => setTimeout(r, 20));
    expect(bDone).toBe(false);
    // A small answer does not wait.
    const small = new MaskingCharge(m, signal);
    await small.add(1000);
    small.end();
    a.end();
    await bAdd;
    expect(bDone).toBe(true);
    b.end();
    expect(m.charged).toBe(0);
  });

  it('a waiting answer is refused (retry) past the wait, and leaves the queue', async () => {
    const m = new AnswerMemory(1024 * MiB, 'GUARITA_KUBE_MEMORY_LIMIT');
    const signal = new AbortController().signal;
    const release = await m.largeSlot(signal);
    await expect(m.largeSlot(signal, 10)).rejects.toMatchObject({ retry: true, message: expect.stringContaining('GUARITA_KUBE_MEMORY_LIMIT') });
    release();
    const again = await m.largeSlot(signal, 10);
    again();
  });

  it('a waiting answer whose agent leaves stops waiting', async () => {
    const m = new AnswerMemory(1024 * MiB, 'test');
    const release = await m.largeSlot(new AbortController().signal);
    const gone = new AbortController();
    const waiting = m.largeSlot(gone.signal, 10_000);
    gone.abort(new Error('the client closed the connection'));
    await expect(waiting).rejects.toThrow('the client closed');
    release();
    (await m.largeSlot(new AbortController().signal, 10))();
  });
});

describe('answerExtraCost: what an answer costs beyond MASKING_COST × its bytes (round 11b review, finding 3)', () => {
  const cm = (extra: Record<string, unknown>): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, ...extra });
  const text = 'pedido 12345 item 678 quantidade 9 valor 1011 '.repeat(200);
  /** The extra cost of one long string, less what the tree around it costs (VALUE_COST per member). */
  const textCost = (doc: Record<string, unknown>, plain: Record<string, unknown>): number => answerExtraCost(doc) - answerExtraCost(plain);
  const utf16 = (s: string): string => Buffer.from(s, 'utf16le').toString('latin1');

  it('every key, value, object and array costs VALUE_COST (the parsed tree and its copies)', () => {
    expect(answerExtraCost({})).toBe(VALUE_COST);
    expect(answerExtraCost({ a: 'x', b: [1, true, null] })).toBe(VALUE_COST * 8);
    expect(answerExtraCost('x')).toBe(VALUE_COST);
  });

  it('plain text costs nothing more (MASKING_COST per byte covers it)', () => {
    expect(textCost(cm({ data: { f: text } }), cm({ data: { f: 'x' } }))).toBe(0);
  });

  it('text dense with identifiers is charged per identifier-shaped run, at least what masking it was measured to take', () => {
    const dense = 'cpf 529.982.247-25 tel (11) 91234-5678 '.repeat(1000);
    expect(textCost(cm({ data: { f: dense } }), cm({ data: { f: 'x' } }))).toBe(2000 * IDENTIFIER_COST);
    // bench/answer-memory.ts masks: 45x its bytes of peak RSS growth; glued (e-mails, CPFs, phones): 64x.
    expect(MASKING_COST + answerExtraCost(cm({ data: { f: dense } })) / dense.length).toBeGreaterThanOrEqual(45);
    const glued = 'x@y.com529.982.247-25;(11) 91234-5678(11) 91234-5678 '.repeat(1000);
    expect(MASKING_COST + answerExtraCost(cm({ data: { f: glued } })) / glued.length).toBeGreaterThanOrEqual(64);
    // In binaryData, by what it decodes to.
    expect(textCost(cm({ binaryData: { f: Buffer.from(dense).toString('base64') } }), cm({ binaryData: { f: 'eA==' } }))).toBe(2000 * IDENTIFIER_COST);
  });

  // Every spelling of text the engine reads in extra views, as a string, a key, and base64 it decodes.
  it.each([
    ['raw NUL (UTF-16 text; a \\u0000 escape parsed)', utf16(text), NUL_TEXT_EXTRA],
    ['the text \\u0000 (JSON in a string, read again by the engine; also an escape to decode)', `{"f":"${text.replaceAll(' ', '\\u0000')}"}`, NUL_TEXT_EXTRA + NUL_VIEWS_DECODED_EXTRA + DECODED_TEXT_EXTRA],
    ['a right-to-left override (an invisible control: also decoded)', text.replaceAll(' ', ' \u202e'), REVERSED_TEXT_EXTRA + DECODED_TEXT_EXTRA],
    ['a right-to-left override escaped (also an escape to decode)', text.replace(' ', '\\u202e'), REVERSED_TEXT_EXTRA + DECODED_TEXT_EXTRA],
    ['UTF-16 with right-to-left overrides (in its UTF-16 reading)', utf16(text.replaceAll(' ', ' \u202e')), NUL_TEXT_EXTRA + NUL_VIEWS_DECODED_EXTRA],
    ['UTF-16BE with right-to-left overrides', Buffer.from(text.replaceAll(' ', ' \u202e'), 'utf16le').swap16().toString('latin1'), NUL_TEXT_EXTRA + NUL_VIEWS_DECODED_EXTRA],
    ['UTF-16 at an odd offset with percent escapes (in its UTF-16 reading)', `A${utf16(text.replaceAll(' ', '%20'))}`, NUL_TEXT_EXTRA + NUL_VIEWS_DECODED_EXTRA],
    ['percent escapes', text.replaceAll(' ', '%20'), DECODED_TEXT_EXTRA],
    ['character references', text.replaceAll(' ', '&#32;'), DECODED_TEXT_EXTRA],
    ['backslash escapes as text', text.replaceAll(' ', '\\n'), DECODED_TEXT_EXTRA],
    ['backspaces (superlinear in the engine; also decoded)', text.replaceAll(' ', ' \b'), BACKSPACE_TEXT_EXTRA + DECODED_TEXT_EXTRA],
    ['UTF-16 with backspaces', utf16(text.replaceAll(' ', ' \b')), BACKSPACE_TEXT_EXTRA + NUL_TEXT_EXTRA + NUL_VIEWS_DECODED_EXTRA + DECODED_TEXT_EXTRA],
  ])('%s: charged its views\' extras per character', (_, s, extra) => {
    // (`\u0000` before a number reads as a longer digit run: charged as identifier-shaped too.)
    const shapes = IDENTIFIER_COST * identifierShapes(s);
    expect(textCost(cm({ data: { f: s } }), cm({ data: { f: 'x' } }))).toBe(extra * s.length + shapes);
    expect(answerExtraCost({ [s]: 1 }) - answerExtraCost({ k: 1 })).toBe(extra * s.length + shapes);
  });

  it.each([
    ['UTF-16LE in binaryData', Buffer.from(text, 'utf16le'), 'binaryData', NUL_TEXT_EXTRA],
    ['UTF-16BE in binaryData', Buffer.from(text, 'utf16le').swap16(), 'binaryData', NUL_TEXT_EXTRA],
    ['UTF-16LE at an odd offset in binaryData', Buffer.concat([Buffer.from('A'), Buffer.from(text, 'utf16le')]), 'binaryData', NUL_TEXT_EXTRA],
    ['UTF-16LE in a revealed Secret\'s data', Buffer.from(text, 'utf16le'), 'data', NUL_TEXT_EXTRA],
    ['UTF-8 with right-to-left overrides in binaryData', Buffer.from(text.replaceAll(' ', ' \u202e')), 'binaryData', REVERSED_TEXT_EXTRA + DECODED_TEXT_EXTRA],
    ['UTF-8 with percent escapes in binaryData', Buffer.from(text.replaceAll(' ', '%20')), 'binaryData', DECODED_TEXT_EXTRA],
    ['UTF-16 with backspaces in binaryData', Buffer.from(text.replaceAll(' ', ' \b'), 'utf16le'), 'binaryData', BACKSPACE_TEXT_EXTRA + NUL_TEXT_EXTRA + NUL_VIEWS_DECODED_EXTRA + DECODED_TEXT_EXTRA],
    ['UTF-16 with right-to-left overrides in binaryData', Buffer.from(text.replaceAll(' ', ' \u202e'), 'utf16le'), 'binaryData', NUL_TEXT_EXTRA + NUL_VIEWS_DECODED_EXTRA],
  ])('%s: base64 the masking decodes is charged by the text it decodes to', (_, bytes, map, extra) => {
    expect(textCost(cm({ [map]: { f: bytes.toString('base64') } }), cm({ [map]: { f: 'x' } }))).toBe(extra * bytes.toString('utf8').length);
  });

  it('base64 elsewhere (not decoded by the masking), plain text in base64, and what is not base64 cost nothing more', () => {
    const b64 = Buffer.from(text, 'utf16le').toString('base64');
    expect(textCost(cm({ spec: { f: b64 } }), cm({ spec: { f: 'x' } }))).toBe(0);
    expect(textCost(cm({ binaryData: { f: Buffer.from(text).toString('base64') } }), cm({ binaryData: { f: 'x' } }))).toBe(0);
    expect(textCost(cm({ binaryData: { f: 'not base64 at all!' } }), cm({ binaryData: { f: 'x' } }))).toBe(0);
    // A ConfigMap's data is text: base64-looking text is charged by itself when that costs more ('+' between digits decodes).
    const sums = '1+2+3+4+5+6+7+8'.repeat(100);
    expect(textCost(cm({ data: { f: sums } }), cm({ data: { f: 'x' } }))).toBe(DECODED_TEXT_EXTRA * sums.length + IDENTIFIER_COST);
    // Deeper than the map's own values is not base64 the masking decodes.
    expect(textCost(cm({ binaryData: { nested: { f: b64 } } }), cm({ binaryData: { nested: { f: 'x' } } }))).toBe(0);
  });

  it('an escape at a slice boundary of a long UTF-16 text\'s readings is found (the slices overlap)', () => {
    for (const at of [65_536 - 2, 65_536 - 1, 65_536, 65_536 + 1]) {
      const bytes = Buffer.alloc(140_000, 0);
      for (let i = 0; i < bytes.length; i += 2) bytes[i] = 0x61;
      Buffer.from('%41', 'utf16le').copy(bytes, at - (at % 2));
      const s = bytes.toString('latin1');
      expect({ at, cost: textCost(cm({ data: { f: s } }), cm({ data: { f: 'x' } })) }).toEqual({ at, cost: (NUL_TEXT_EXTRA + NUL_VIEWS_DECODED_EXTRA) * s.length });
    }
  });

  it('a NUL far into a long base64 value is found (decoded whole: no slice boundary to hide at)', () => {
    const bytes = Buffer.concat([Buffer.alloc(200_000, 0x41), Buffer.from([0x41, 0]), Buffer.alloc(10, 0x41)]);
    expect(textCost(cm({ binaryData: { f: bytes.toString('base64') } }), cm({ binaryData: { f: 'x' } }))).toBe(NUL_TEXT_EXTRA * bytes.length);
  });

  it('an answer nested deeper than the call stack is scanned (no recursion)', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(answerExtraCost(deep)).toBe(VALUE_COST * 200_001);
  });

  it('MaskingCharge.addCost charges on top of the bytes, is refused as add() is, and end() gives it all back', async () => {
    const memory = new AnswerMemory(100 * MASKING_COST, 'test');
    const charge = new MaskingCharge(memory, new AbortController().signal);
    await charge.add(10);
    charge.addCost(500);
    expect(memory.charged).toBe(10 * MASKING_COST + 500);
    expect(() => charge.addCost(10_000)).toThrow(MemoryRefusal);
    expect(memory.charged).toBe(10 * MASKING_COST + 500);
    charge.addCost(0);
    charge.end();
    expect(memory.charged).toBe(0);
  });
});
