// Round 6: identifiers stored reversed after a right-to-left override (U+202E), which every bidi-aware
// display (browsers, editors, most terminals, GUI clients of psql) shows in reading order: `52-742.289.925`
// after an RLO is `529.982.247-25` on the screen. The decoded view dropped the override and read the digits in
// stored order, so no layout matched. Attacked for every family and every layout of the corpus, with the override
// as a character and as each escape a reader decodes, ended by a pop, a line end or the text's end, in text, JSON,
// cells and streams cut at every position; reversed numbers that are no identifier stay.
import { describe, expect, it } from '@jest/globals';
import { shownReversed } from './bidi.ts';
import { ATTACK_IDENTIFIERS, KEYWORDS, layoutCorpus, onScreen } from './corpus.ts';
import { compileMasker } from './index.ts';

const masker = compileMasker({});
const session = () => masker.newSession();
const maskText = (t: string): string => session().maskText(t);

const RLO = '\u202e';
const PDF = '\u202c';
/** Whether the reader sees `value`'s digits (or its local part) whole. */
const readable = (out: string, value: string): boolean => {
  const digits = value.replace(/[^0-9]/g, '');
  return digits.length >= 8 ? onScreen(out).replace(/[^0-9*]/g, '').includes(digits.slice(0, 6)) : onScreen(out).includes(value.split('@')[0] ?? value);
};

describe('identifiers stored reversed after a right-to-left override are masked as shown', () => {
  it('every family, the override as a character and as escapes, ended by a pop, a line end or the end', () => {
    const leaks: string[] = [];
    for (const [value, kept] of ATTACK_IDENTIFIERS) {
      const stored = shownReversed(value);
      for (const [open, close] of [[RLO, PDF], [RLO, '\n'], [RLO, ''], ['\\u202e', '\\u202c'], ['&#8238;', '&#8236;'], ['&#x202E;', '&#x202C;']] as const) {
        const text = `Cliente: ${open}${stored}${close} fim`;
        const out = maskText(text);
        if (readable(open === RLO ? out : out.replace(/\\u202e|&#8238;|&#x202E;/g, RLO).replace(/\\u202c|&#8236;|&#x202C;/g, PDF), value) || !onScreen(out.replace(/\\u202e|&#8238;|&#x202E;/g, RLO)).includes(kept)) {
          leaks.push(`${JSON.stringify(text)} -> ${JSON.stringify(out)}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  });

  it('every layout of the corpus, reversed inside a sentence', () => {
    const leaks: string[] = [];
    for (const s of layoutCorpus().valid) {
      if (s.format.includes('+')) continue;
      const text = `${KEYWORDS[s.type]}: ${RLO}${shownReversed(s.value)}${PDF} atualizado`;
      const out = maskText(text);
      if (!out.includes('*')) leaks.push(`${s.type}/${s.format} ${JSON.stringify(text)} -> ${JSON.stringify(out)}`);
    }
    expect(leaks).toEqual([]);
  });

  it('the mask is written reversed, so the reader sees it in its usual layout; text outside the run is unchanged', () => {
    expect(onScreen(maskText(`CPF ${RLO}${shownReversed('529.982.247-25')}${PDF} ok`))).toBe('CPF ***.***.***-25 ok');
    expect(onScreen(maskText(`tel ${RLO}${shownReversed('(11) 91234-5678')}${PDF}`))).toBe('tel (**) *****-5678');
    expect(maskText(`a ${RLO}xyz${PDF} CPF 529.982.247-25`)).toBe(`a ${RLO}xyz${PDF} CPF ***.***.***-25`);
  });

  it('in JSON values, cells and streams cut at every position', () => {
    const s = session();
    expect(s.maskJson({ nota: `doc ${RLO}52-742.289.925${PDF}` })).toEqual({ nota: `doc ${RLO}52-***.***.***${PDF}` });
    expect(s.maskCell('observacao', `${RLO}52-742.289.925`)).toBe(`${RLO}52-***.***.***`);
    const text = `${'a '.repeat(150)}${RLO}x 52-742.289.925 y ${'b '.repeat(150)}18-1000/333.222.11${PDF} fim`;
    const whole = maskText(text);
    expect(onScreen(whole)).not.toMatch(/982|222\.333/);
    for (let cut = 0; cut <= text.length; cut++) {
      const st = session().textStream();
      const out = st.push(text.slice(0, cut)) + st.push(text.slice(cut)) + st.end();
      if (out !== whole) throw new Error(`cut at ${cut}: ${JSON.stringify(out)}`);
    }
  });

  it('nesting follows the embedding stack: a pop closes the innermost, an isolate keeps its own direction (review of round 6)', () => {
    for (const t of [`cpf ${RLO}\u202d${PDF}52-742.289.925${PDF} ok`, `cpf ${RLO}\u202ax${PDF}52-742.289.925 ok`, `cpf ${RLO}\u2067x\u206952-742.289.925 ok`]) {
      expect([t, maskText(t)]).toEqual([t, expect.stringContaining('52-***.***.***')]);
    }
    // Inside an isolate opened in the override, a number is one left-to-right run: shown as stored, no CPF.
    const isolated = `cpf ${RLO}\u2067 52-742.289.925\u2069 ok`;
    expect(maskText(isolated)).toBe(isolated);
  });

  it('a stream carries an override still open into its next pieces, however far back it opened (review of round 6)', () => {
    const text = `${RLO}${'a'.repeat(400)} 52-742.289.925 ok ${'x '.repeat(300)}`;
    const whole = maskText(text);
    expect(whole).toContain('52-***.***.***');
    for (let cut = 0; cut <= text.length; cut += 3) {
      const st = session().textStream();
      const out = st.push(text.slice(0, cut)) + st.push(text.slice(cut)) + st.end();
      if (out !== whole) throw new Error(`cut at ${cut}: ${JSON.stringify(out)}`);
    }
  });

  it('an identifier spread over several runs, each shown reversed in place, is read as the line shows it', () => {
    // Shown: 529.982 then .247-25, each run reversed where it stands.
    const spread = `CPF ${RLO}${shownReversed('529.982')}${PDF}${RLO}${shownReversed('.247-25')}${PDF} ok`;
    expect(onScreen(spread)).toBe('CPF 529.982.247-25 ok');
    expect(onScreen(maskText(spread))).not.toMatch(/982|529/);
    // Among a thousand short runs (one scan for runs close together), and streamed cut anywhere.
    const many = `${`${RLO}1.${PDF}`.repeat(1000)} ${spread} ${`${RLO}x${PDF}`.repeat(500)}`;
    const whole = maskText(many);
    expect(onScreen(whole)).not.toMatch(/982|529/);
    for (let cut = 0; cut <= many.length; cut += 97) {
      const st = session().textStream();
      const out = st.push(many.slice(0, cut)) + st.push(many.slice(cut)) + st.end();
      if (out !== whole) throw new Error(`cut at ${cut}: ${JSON.stringify(out.slice(3990, 4100))}`);
    }
  });

  it('reversed numbers that are no identifier, and right-to-left text, stay as they are', () => {
    for (const t of [`v ${RLO}3.2.1v${PDF}`, `${RLO}51-70-6202${PDF}`, `${RLO}62-742.289.925${PDF}`, `\u202bשלום 123\u202c`, `${RLO}مرحبا${PDF}`]) expect(maskText(t)).toBe(t);
  });
});
