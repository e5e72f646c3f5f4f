// Issue 19 round 4 review of statementFacts' pre-check (parse only when COPY or BINARY appears as a
// word): every character a text can put right before or after the keyword (each ASCII character,
// Unicode spaces, a byte-order mark, letters outside ASCII), at the start of a text, after another
// statement, and inside a cursor declaration. Whatever the pre-check skips, a parse finds no COPY
// and no binary cursor in it either.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { loadStatementParser, parsedStatementFacts, statementFacts } from './statements.ts';

beforeAll(async () => {
  await loadStatementParser();
});

const DELIMITERS = [
  ...Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)),
  '\u00a0', '\u2028', '\u2029', '\u3000', '\ufeff', '\u200b', 'é', 'ß', 'İ', 'ı', 'ſ', '\u212a',
];

const forms = (d: string): string[] => [
  `${d}COPY customers TO STDOUT`,
  `SELECT 1;${d}COPY customers TO STDOUT`,
  `COPY${d}customers TO STDOUT`,
  `COPY (SELECT 1)${d}TO STDOUT`,
  `copy customers to stdout${d}binary`,
  `DECLARE c${d}BINARY CURSOR FOR SELECT 1`,
  `DECLARE c BINARY${d}CURSOR FOR SELECT 1`,
  `DECLARE c NO SCROLL${d}BINARY CURSOR FOR SELECT 1`,
  `SELECT 1;${d}DECLARE c BINARY CURSOR FOR SELECT 1`,
  `COPY customers TO STDOUT WITH (FORMAT${d}binary)`,
];

describe('statementFacts pre-check: every delimiter around COPY and BINARY', () => {
  it('gives the facts a parse gives for every form with every delimiter character', () => {
    const wrong: string[] = [];
    let found = 0;
    for (const d of DELIMITERS) {
      for (const sql of forms(d)) {
        const fast = statementFacts(sql);
        const parsed = parsedStatementFacts(sql);
        if (JSON.stringify(fast) !== JSON.stringify(parsed)) wrong.push(JSON.stringify(sql));
        if (parsed.copyOut.length > 0 || parsed.binaryCursor) found++;
      }
    }
    expect(wrong).toEqual([]);
    // Not vacuous: whitespace, comment starts, parentheses and quotes delimit the keyword for the parser.
    expect(found).toBeGreaterThan(60);
  });

  it('the same with the keywords in every letter case', () => {
    const cases = (w: string): string[] => Array.from({ length: 1 << w.length }, (_, m) => [...w].map((c, i) => ((m >> i) & 1) === 1 ? c.toUpperCase() : c).join(''));
    for (const copy of cases('copy')) expect(statementFacts(`${copy} customers TO STDOUT`).copyOut.length).toBe(1);
    for (const binary of cases('binary')) expect(statementFacts(`DECLARE c ${binary} CURSOR FOR SELECT 1`).binaryCursor).toBe(true);
  });
});
