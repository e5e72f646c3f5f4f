import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { inert, inertJson, inertText, inertYaml } from './inert.ts';
import { renderTable, streamTable, writeStructured } from './output.ts';
import type { CliIo } from './io.ts';

// Text from records, CRDs and the operator on the auditor's terminal: no character of it may act
// on the terminal or reorder what it shows, in tables, JSON or YAML; structured output keeps its value.

/** One of each class: ESC (C0), DEL, CSI and OSC (C1), bidi override, isolate and mark, line separator. */
const ACTIVE = ['\u001b[2K', '\u007f', '\u009b31m', '\u009d0;pwned\u0007', '\u202e', '\u2066', '\u200f', '\u061c', '\u2028', '\u2029', '\r'];
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function captured(): { io: CliIo; out: () => string } {
  let text = '';
  const io = { stdout: { write: (s: string) => { text += s; return true; } }, stderr: { write: () => true }, env: {} } as unknown as CliIo;
  return { io, out: () => text };
}

describe('inert output', () => {
  const value = { reason: `approve ${ACTIVE.join('x')} now`, [`key${'\u202e'}`]: ['a\u009bb', 'line\nbreak'], n: 1 };

  it('tables show every active character as a \\u escape', () => {
    const table = renderTable([value], [{ header: 'REASON', value: (r) => r.reason }]);
    expect(table).not.toMatch(RAW);
    expect(table).toContain('\\u001b[2K');
    expect(table).toContain('\\u009b31m');
    const stream = streamTable<typeof value>([{ header: 'REASON', value: (r) => r.reason }]);
    expect(stream.row(value)).not.toMatch(RAW);
  });

  it('JSON holds none of them raw and parses back to the same value', () => {
    for (const indent of [undefined, 2]) {
      const text = inertJson(value, indent);
      expect(text).not.toMatch(RAW);
      expect(JSON.parse(text)).toEqual(value);
    }
    const { io, out } = captured();
    writeStructured(io, 'json', value);
    expect(out()).not.toMatch(RAW);
    expect(JSON.parse(out())).toEqual(value);
  });

  it('YAML holds none of them raw and parses back to the same value (keys, nested lists, newlines)', () => {
    const text = inertYaml(value);
    expect(text).not.toMatch(RAW);
    expect(parse(text)).toEqual(value);
    const { io, out } = captured();
    writeStructured(io, 'yaml', value);
    expect(parse(out())).toEqual(value);
    for (const c of ACTIVE) {
      const one = { s: `a${c}b`, long: `${'word '.repeat(40)}${c}${'end '.repeat(30)}` };
      const y = inertYaml(one);
      expect(y).not.toMatch(RAW);
      expect(parse(y)).toEqual(one);
    }
  });

  it('YAML without such characters is written as before (plain scalars)', () => {
    expect(inertYaml({ a: 'plain', b: ['x', 'y'] })).toBe('a: plain\nb:\n  - x\n  - y\n');
  });

  it('inert() escapes keys and values for text output; newline and tab-free text is unchanged', () => {
    expect(inert(value)).toMatchObject({ 'key\\u202e': ['a\\u009bb', 'line\nbreak'] });
    expect(inertText('Aprovado por João: 529.982.247-25 → ok')).toBe('Aprovado por João: 529.982.247-25 → ok');
  });
});
