// Free-text context: the keyword nearest before a candidate, within the same line.
// Used only on candidates (never on the whole text): CEP and dates of birth need a keyword, bare 10-digit
// landlines and bare PIS numbers too, and an 11-digit number that validates as several types takes the type
// its keyword names (see README: "Precedence").
import type { DetectorName } from './types.ts';

/** How far back (UTF-16 units) a keyword may be. Stream maskers keep at least this much left context. */
export const CONTEXT_WINDOW = 48;

const KEYWORD_GROUPS: readonly [DetectorName, string][] = [
  ['cpf', 'cpf'],
  ['cnpj', 'cnpj'],
  ['cnh', 'cnh(?![a-z])|habilita[cç][aã]o|carteira de motorista|carteira nacional de habilita'],
  ['pis', '(?:pis|pasep|nit|nis)(?![a-z])'],
  ['tituloEleitor', 't[ií]tulo|eleitor'],
  ['cns', '(?:cns|sus)(?![a-z])|cart[aã]o (?:nacional )?(?:de )?sa[uú]de'],
  ['renavam', 'renavam'],
  ['cep', '(?:cep|zip)(?![a-z])|zipcode|c[oó]digo postal|postal code'],
  ['phone', '(?:tel|cel|fone|whats|zap)(?![a-z])|telefone|celular|whatsapp|phone|mobile|contato|ramal'],
  ['card', 'cart[aã]o|card|cr[eé]dito|d[eé]bito'],
  ['birthDate', 'nasc|anivers[aá]rio|birth|dob(?![a-z])|born|d\\.n\\.'],
];

const KEYWORDS = new RegExp(`(?<![a-z])(?:${KEYWORD_GROUPS.map(([, src]) => `(${src})`).join('|')})`, 'gi');

/** What the engine may read differently from the characters themselves: non-ASCII (folding), escapes (decode.ts). */
const NOT_PLAIN = /[^\x20-\x7e]|[\\%&]/;

/**
 * The part of a left context that can change how a text after it is read: '' when none can. In plain ASCII only a
 * keyword can (a keyword cannot span into the text: a JSON context ends with a quote or punctuation), and only the
 * last one (keywordBefore takes the last in its window): the context from it on. A context holding what the engine
 * reads as another character (folding, escapes) is kept whole. Spares the JSON maskers a longer scan per value.
 */
export function usefulContext(left: string): string {
  if (NOT_PLAIN.test(left)) return left;
  KEYWORDS.lastIndex = 0;
  let last = -1;
  for (let m = KEYWORDS.exec(left); m !== null; m = KEYWORDS.exec(left)) last = m.index;
  return last === -1 ? '' : left.slice(last);
}

/**
 * True when a keyword may be read in `s`: one is there, or `s` holds what the engine reads as another character
 * (folding, escapes). A mask that replaces such text, or writes it, changes what a number after it reads.
 */
export function mayHoldKeyword(s: string): boolean {
  KEYWORDS.lastIndex = 0;
  return NOT_PLAIN.test(s) || KEYWORDS.test(s);
}

/**
 * The detector named by the last keyword in the CONTEXT_WINDOW characters before `start` on the same line,
 * or null. A keyword is a word start (not preceded by a letter): "CPF:", "Data de nascimento", "tel.".
 */
export function keywordBefore(s: string, start: number): DetectorName | null {
  let from = start;
  const stop = Math.max(0, start - CONTEXT_WINDOW);
  while (from > stop && s.charCodeAt(from - 1) !== 10) from--;
  if (from >= start) return null;
  const window = s.slice(from, start);
  KEYWORDS.lastIndex = 0;
  let found: DetectorName | null = null;
  let m: RegExpExecArray | null;
  while ((m = KEYWORDS.exec(window)) !== null) found = groupType(m);
  return found;
}

function groupType(m: RegExpExecArray): DetectorName | null {
  for (let g = 1; g < m.length; g++) {
    if (m[g] !== undefined) return KEYWORD_GROUPS[g - 1]?.[0] ?? null;
  }
  return null;
}
