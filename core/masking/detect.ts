// Content detection: finds candidates in one pass per family and validates them.
//  - numeric family (CPF, CNPJ incl. alphanumeric, CNH, PIS, título, CNS, CEP, phone, card, IPv4, dates): one
//    combined regular expression whose alternatives are tried at token starts only (a lookbehind rejects
//    positions inside a word or a longer number); each candidate is then validated by checksum, range or context;
//  - e-mail: found from each '@', expanded left and right;
//  - IPv6: found from each ':', expanded left and right, parsed.
// Every pass scans from its own resume position, reports candidates that start before `limit` (the stream masker
// passes the point beyond which a candidate could still grow with the next chunk) and returns its frontier: the end
// of the last candidate it consumed, accepted or rejected. A rejected candidate hides what starts inside it (the
// tail of a card-like number is not a phone number), so a stream resumes each pass at its own frontier.
import {
  isAllDigits, isCard, isCnh, isCnpj, isCns, isCpf, isIpv4, isIpv6, isPis, isPlausibleDate, isRenavam, isTitulo, phoneKind,
} from './checksums.ts';
import { keywordBefore } from './context.ts';
import type { DetectorName } from './types.ts';

export interface Hit {
  start: number;
  end: number;
  /** Counter key and hash prefix: a detector name or a custom pattern name. */
  type: string;
  /** The detector whose layout/surrogate applies; null for custom patterns. */
  detector: DetectorName | null;
  /** 0 for built-in detectors, 1 + index for custom patterns: breaks ties between equal spans. */
  rank: number;
  /** What the mask is rendered from when not the span's text: the integer a decimal spelling denotes (text-number.ts). */
  value?: string;
}

export type DetectorSet = Readonly<Record<DetectorName, boolean>>;

/** Longest candidate any built-in family can produce (an e-mail address: RFC 5321 path limit). */
export const MAX_BUILTIN_MATCH = 254;

// Token boundaries. A candidate may not start right after a letter/digit, nor after "digit." / "digit-" (the tail
// of a decimal, a version or a longer formatted number); it may not end before a letter/digit or ".digit"/"-digit".
// Exception: right after the word that names it, typed without a space (CPF529.982.247-25, tel11912345678): a
// keyword glued to a number is still that keyword ("hotel1234..." is not: the keyword must be the whole word).
// Checked in code where the strict boundary fails (gluedKeywordBefore), so the common path pays nothing for it.
const B = '(?<![0-9A-Za-z]|[0-9][.-])';
const GLUED_KEYWORDS = new Set(['cpf', 'cnpj', 'cnh', 'pis', 'pasep', 'nit', 'nis', 'cns', 'sus', 'renavam', 'titulo', 'eleitor', 'cep', 'tel', 'cel', 'fone', 'celular', 'telefone', 'whatsapp']);
const MAX_GLUED = 8;
const E = '(?![0-9A-Za-z]|[.-][0-9])';
// Space-grouped numbers (cards, CNS, título) additionally may not touch another digit group across one space.
const BS = '(?<![0-9] )';
const ES = '(?! [0-9])';

// Printed layouts (README "Layouts"): each identifier is also found with the separators people and systems print
// it with — spaces, dots, dashes, slashes, mixed — not only in its canonical mask. Unicode spaces, dashes and
// fullwidth forms are folded to ASCII before scanning (fold.ts), so these classes stay ASCII.
const alternatives = (E: string): readonly string[] => [
  /* 1 bare digit run */ `([0-9]{8,19})${E}`,
  /* 2 CPF formatted, RENAVAM mask */ `([0-9]{3}\\.[0-9]{3}\\.[0-9]{3}-[0-9]{2}|[0-9]{9}(?:-[0-9]{2}|[0-9]-[0-9]))${E}`,
  /* 3 CNPJ formatted (numeric or alphanumeric): 2.3.3/4-2 with dots, spaces or none, '/', '.' or none before the
       branch, '-', '.', ' ' or none before the check digits */
  `([0-9A-Z]{2}(?:\\.[0-9A-Z]{3}\\.| [0-9A-Z]{3} |[0-9A-Z]{3})[0-9A-Z]{3}[ ./]?[0-9A-Z]{4}[ .-]?[0-9]{2})${E}`,
  /* 4 PIS formatted: 3.5.2-1 with dots, spaces or dashes */ `([0-9]{3}[ .-][0-9]{5}[ .-][0-9]{2}[ .-]?[0-9])${E}`,
  /* 5 phone */ `((?:\\+55[ .-]?|55[ .-])?(?:\\(0?[1-9][0-9]\\)|0?[1-9][0-9])[ .-]?(?:9[ .-]?[0-9]{4}|[2-5][0-9]{3})[ .-]?[0-9]{4})${E}`,
  /* 6 CEP formatted */ `([0-9]{5}[ -][0-9]{3}|[0-9]{2}\\.[0-9]{3}[ -]?[0-9]{3})${E}`,
  /* 7 date */ `([0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{4}${E}|[0-9]{4}[/-][0-9]{1,2}[/-][0-9]{1,2}(?:(?=T[0-9])|${E}))`,
  /* 8 IPv4 */ `((?:[0-9]{1,3}\\.){3}[0-9]{1,3})${E}`,
  /* 9 digit groups */ `${BS}([0-9]{3,4}(?:[ ./-][0-9]{1,6}){2,4})${ES}${E}`,
  /* 10 alphanumeric CNPJ */ `([0-9A-Z]{12}[0-9]{2})${E}`,
];
const ALTERNATIVES = alternatives(E);

// Formatted identifiers glued to letters (x529.982.247-25, cliente:joao529.982.247-25, ...166-33obs): the layout's
// punctuation is the evidence a word boundary gives a bare run, so a letter touching it does not stop the match;
// a digit still does (1529.982.247-25 is no CPF), and so does "digit." / "digit-" before it or ".digit" / "-digit"
// after it. Tried only where the strict boundaries found nothing; looseCandidate keeps only formatted layouts.
const BL = '(?<![0-9]|[0-9][.-])';
const EL = '(?![0-9]|[.-][0-9])';
const LOOSE_ALTERNATIVES = alternatives(EL);


const GROUP_RUN = 1;
const GROUP_CPF = 2;
const GROUP_CNPJ = 3;
const GROUP_PIS = 4;
const GROUP_PHONE = 5;
const GROUP_CEP = 6;
const GROUP_DATE = 7;
const GROUP_IPV4 = 8;
const GROUP_GROUPS = 9;
const GROUP_CNPJ_ALNUM = 10;
const LAST_GROUP = GROUP_CNPJ_ALNUM;

/**
 * The numeric family's scanner: `starts` finds the next character a candidate can begin with (irregexp skips to it
 * at memory speed), `at` (sticky) tries the alternatives there. Both are fixed text; every alternative is bounded,
 * so matching is linear.
 */
export interface NumericScanner {
  starts: RegExp;
  at: RegExp;
  /** Each alternative alone (its capture is group 1): tried when the first alternative that matched is not the answer. */
  each: RegExp[];
  /** The same without the start boundary, tried right after a glued keyword. */
  glued: RegExp;
  eachGlued: RegExp[];
  /** The same with letters allowed on either side, tried for formatted layouts glued to a word (looseCandidate). */
  loose: RegExp;
  eachLoose: RegExp[];
}

export function numericScanner(): NumericScanner {
  // A capital letter can only start an alphanumeric CNPJ (alternatives 3 and 10).
  const starts = /[0-9(+]|[A-Z](?=[0-9A-Z](?:\.[0-9A-Z]{3}\.| [0-9A-Z]{3} |[0-9A-Z]{3})[0-9A-Z]{3}[ ./]?[0-9A-Z]{4}[ .-]?[0-9]{2})/g;
  return {
    starts,
    at: new RegExp(`${B}(?:${ALTERNATIVES.join('|')})`, 'y'),
    each: ALTERNATIVES.map((alt) => new RegExp(`${B}${alt}`, 'y')),
    glued: new RegExp(`(?:${ALTERNATIVES.join('|')})`, 'y'),
    eachGlued: ALTERNATIVES.map((alt) => new RegExp(alt, 'y')),
    loose: new RegExp(`${BL}(?:${LOOSE_ALTERNATIVES.join('|')})`, 'y'),
    eachLoose: LOOSE_ALTERNATIVES.map((alt) => new RegExp(`${BL}${alt}`, 'y')),
  };
}

function isAsciiAlnum(c: number): boolean {
  return c < 128 && ((ASCII[c] ?? 0) & 16) !== 0;
}

const STRICT = 0;
const GLUED = 1;
const LOOSE = 2;
/**
 * Set by gluedCandidate / looseCandidate for the candidate being read: its other alternatives are tried the same way
 * (GLUED: without the start boundary; LOOSE: with letters allowed on either side).
 */
let mode = STRICT;

/** The candidate at `p` right after a glued keyword, or null (then no candidate starts at p). */
function gluedCandidate(sc: NumericScanner, s: string, p: number): RegExpExecArray | null {
  if (!gluedKeywordBefore(s, p)) return null;
  sc.glued.lastIndex = p;
  const m = sc.glued.exec(s);
  if (m !== null) mode = GLUED; // reset by readCandidate once the candidate is read
  return m;
}

/**
 * The formatted candidate at `p` that a letter touches on the left or the right (x529.982.247-25, 529.982.247-25x),
 * or null. Only layouts whose punctuation is evidence qualify: not bare runs (hotel5299... stays a word), not
 * dotted quads (v1.2.3.4 is a version), not numbers grouped by one or two spaces only (a phone's shape is weak).
 */
function looseCandidate(sc: NumericScanner, s: string, p: number): RegExpExecArray | null {
  if (!separatorSoon(s, p) || afterDigit(s, p) || !letterTouches(s, p)) return null;
  sc.loose.lastIndex = p;
  const m = sc.loose.exec(s);
  if (m === null) return null;
  // A phone shape too weak to stand glued (isFormattedLayout) is no candidate: dashed hex ids are full of them, and
  // reading every other layout there (longestReading) would cost more than the rest of their scan.
  const group = matchedGroup(m);
  if (group === GROUP_PHONE && !isFormattedLayout(group, m[0])) return null;
  mode = LOOSE; // reset by readCandidate once the candidate is read; classify applies isFormattedLayout
  return m;
}

/**
 * Every formatted layout starts with '(' or '+', or with at most eleven digits or capital letters (the RENAVAM mask
 * dddddddddd-d has the longest first group) and a separator before the next group's digit, capital or '(': the cheap
 * test that keeps hex ids, words with digits and the like (0b41a661, joao123 foi) away from the loose expression.
 */
function separatorSoon(s: string, p: number): boolean {
  const first = s.charCodeAt(p);
  if (first === 40 || first === 43) return true;
  const i = firstGroupEnd(s, p);
  if (i < 0 || !isGroupSeparator(s.charCodeAt(i))) return false;
  const next = s.charCodeAt(i + 1);
  return (next >= 48 && next <= 57) || next === 40 || (next >= 65 && next <= 90 && isCnpjFirstGroup(i - p));
}

/**
 * The end of the first group at `p` (digits, or digits and capitals), or -1. Capitals belong only to an alphanumeric
 * CNPJ, whose first group has 2 characters, or 8 undotted (12ABC345/01DE-35): not the "00Z INFO" of a log timestamp.
 */
function firstGroupEnd(s: string, p: number): number {
  const end = Math.min(s.length, p + 11);
  let i = p;
  let capitals = false;
  for (let c = s.charCodeAt(i); i < end && isDigitOrCapital(c); c = s.charCodeAt(++i)) capitals ||= c >= 65;
  const length = i - p;
  return (capitals ? isCnpjFirstGroup(length) : length > 0) ? i : -1;
}

function isCnpjFirstGroup(length: number): boolean {
  return length === 2 || length === 8;
}

function isGroupSeparator(c: number): boolean {
  return c === 46 || c === 45 || c === 47 || c === 32;
}

/**
 * Whether an ASCII letter touches what starts at `p`: right before it, or right after the run of digits and layout
 * punctuation that follows (a capital letter anywhere there: an alphanumeric CNPJ or a letter glued to one). Where
 * none does, the strict boundaries already said all there is (a number followed by a space and a word).
 */
function letterTouches(s: string, p: number): boolean {
  if (isAsciiLetter(s.charCodeAt(p - 1))) return true;
  const end = Math.min(s.length, p + 24);
  let i = p;
  while (i < end && isLayoutChar(s.charCodeAt(i))) i++;
  const c = s.charCodeAt(i);
  const prev = s.charCodeAt(i - 1);
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122 && prev >= 48 && prev <= 57);
}

/** Digits and the punctuation of printed layouts: space . - / ( ) +. */
function isLayoutChar(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 32 || c === 46 || c === 45 || c === 47 || c === 40 || c === 41 || c === 43;
}

/** What BL refuses, tested before the expression runs: a digit, or "digit." / "digit-", right before `p`. */
function afterDigit(s: string, p: number): boolean {
  const c = s.charCodeAt(p - 1);
  if (c >= 48 && c <= 57) return true;
  const d = s.charCodeAt(p - 2);
  return (c === 46 || c === 45) && d >= 48 && d <= 57;
}

function isDigitOrCapital(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90);
}

function isFormattedLayout(group: number, text: string): boolean {
  if (group === GROUP_RUN || group === GROUP_CNPJ_ALNUM || group === GROUP_IPV4) return false;
  // A phone is only a shape and an area code: dashes alone are what dashed hex ids are made of (a UUID's
  // de77-2570-4002 reads as (77) 2570-4002), spaces alone what columns of numbers are; a glued phone needs its '(',
  // its '+', or a space and a dash or dot (11 91234-5678).
  if (group === GROUP_PHONE) return /[(+]/.test(text) || (text.includes(' ') && /[.-]/.test(text));
  return group === GROUP_GROUPS || /[./()+-]/.test(text);
}

/** Whether the letters right before `p` are a whole word that names an identifier (CPF529..., tel119...). */
function gluedKeywordBefore(s: string, p: number): boolean {
  let a = p;
  while (a > 0 && p - a <= MAX_GLUED && isAsciiLetter(s.charCodeAt(a - 1))) a--;
  if (a === p || p - a > MAX_GLUED || (a > 0 && isAsciiAlnum(s.charCodeAt(a - 1)))) return false;
  return GLUED_KEYWORDS.has(s.slice(a, p).toLowerCase());
}

function isAsciiLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/**
 * After a failed start on a digit, no candidate can begin before the end of that word (B); after a failed start on
 * a letter (an alphanumeric CNPJ that was not one), the first digit after the letters may still begin one, when the
 * letters are a keyword glued to it (CNS762376345912761).
 */
function skipWord(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (!isAsciiAlnum(c)) return i + 1;
  const letters = c > 57;
  let j = i + 1;
  while (j < s.length && isAsciiAlnum(s.charCodeAt(j)) && (!letters || s.charCodeAt(j) > 57)) j++;
  return j;
}

/** ASCII character classes: 1 e-mail local part, 2 domain, 4 hex digit or ':', 8 word character, 16 letter/digit. */
const ASCII = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  const alnum = /[0-9A-Za-z]/.test(ch);
  ASCII[c] = (alnum || '._%+-'.includes(ch) ? 1 : 0) | (alnum || '.-'.includes(ch) ? 2 : 0)
    | (/[0-9A-Fa-f:]/.test(ch) ? 4 : 0) | (alnum || ch === '_' ? 8 : 0) | (alnum ? 16 : 0);
}

/** Characters that cannot occur in any built-in candidate decide a fast "nothing to do" (see mayContainBuiltin). */
const MAY_CONTAIN = /[0-9@]/;

/** Every built-in candidate has a digit (CNPJ check digits, IPv6 rule) or an '@'. */
export function mayContainBuiltin(s: string): boolean {
  return MAY_CONTAIN.test(s);
}

/** The digits and capital letters of a formatted identifier. */
function alnumOnly(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90)) out += s[i];
  }
  return out;
}

function digitsOf(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) out += s[i];
  }
  return out;
}

/** [type, validator, needs a keyword] — a candidate reading of one digit string. */
type Reading = readonly [DetectorName, (d: string) => boolean, boolean];

/** CEPs run from 01000-000 to 99999-999. */
const isCep = (t: string): boolean => t.charCodeAt(0) !== 48 || t.charCodeAt(1) !== 48;
const isMobile = (d: string): boolean => phoneKind(d) === 'mobile';
const isLandline = (d: string): boolean => phoneKind(d) === 'landline';
const CARD: Reading = ['card', isCard, false];

/**
 * Bare digit runs by length, in precedence order (README: "Precedence"): among the readings that validate, a keyword
 * before the number naming one of them wins; otherwise the first that does not need a keyword. PIS (one check digit:
 * 1 in 11 random numbers passes) and 10-digit landlines need their keyword when bare; so do 8-digit CEPs and dates.
 */
export const RUN_READINGS: Readonly<Record<number, readonly Reading[]>> = {
  8: [['cep', isCep, true], ['birthDate', isCompactDate, true]],
  9: [['renavam', isRenavam, true]],
  10: [['phone', isLandline, true]],
  11: [['cpf', isCpf, false], ['cnh', isCnh, false], ['phone', isMobile, false], ['pis', isPis, true], ['renavam', isRenavam, true]],
  12: [['tituloEleitor', isTitulo, false], ['phone', isPhoneWithCountry, false]],
  13: [['phone', isPhoneWithCountry, false], CARD],
  14: [['cnpj', isCnpj, false], CARD],
  15: [['cns', isCns, false], CARD],
  16: [CARD], 17: [CARD], 18: [CARD], 19: [CARD],
};

/** Space/dot/dash-grouped digits: layout → allowed separators and readings. */
const GROUP_READINGS: Readonly<Record<string, { seps: string; readings: readonly Reading[] }>> = {
  '4-4-4-4': { seps: ' -', readings: [CARD] },
  '4-4-4-4-3': { seps: ' -', readings: [CARD] },
  '4-6-5': { seps: ' -', readings: [CARD] },
  '4-6-4': { seps: ' -', readings: [CARD] },
  '4-4-4-1': { seps: ' -', readings: [CARD] },
  '4-3-3-3': { seps: ' -', readings: [CARD] },
  // CNS as printed on the card (NNN NNNN NNNN NNNN), also with dots or dashes.
  '3-4-4-4': { seps: ' .-', readings: [['cns', isCns, false]] },
  '4-4-4': { seps: ' .-', readings: [['tituloEleitor', isTitulo, false]] },
  // CPF/CNH with any of these separators, mixed too (529.982.247.25, 529-982-247-25, 529 982 247-25, 529.982.247/25).
  '3-3-3-2': { seps: ' .-/', readings: [['cpf', isCpf, false], ['cnh', isCnh, false]] },
  '3-5-2-1': { seps: ' .-', readings: [['pis', isPis, false]] },
  '3-5-3': { seps: ' .-', readings: [['pis', isPis, false]] },
};

/** NNNNNNNNNN-N, the RENAVAM mask: one check digit (1 in 11 random numbers pass), so only after its keyword. */
const RENAVAM_LAYOUT: readonly Reading[] = [['renavam', isRenavam, true]];

/** The canonical CPF mask also carries CNH numbers (the CPF reading wins when both validate). */
const CPF_LAYOUT: readonly Reading[] = [['cpf', isCpf, false], ['cnh', isCnh, false]];

/** Picks the reading of `d` (see RUN_READINGS); the keyword is looked up only when it can matter. */
function choose(on: DetectorSet, s: string, start: number, d: string, readings: readonly Reading[]): DetectorName | null {
  let plain: DetectorName | null = null;
  let valid = 0;
  let keywordOnly = false;
  for (const [type, ok, needsKeyword] of readings) {
    if (!on[type] || !ok(d)) continue;
    valid++;
    if (needsKeyword) keywordOnly = true;
    else plain ??= type;
  }
  if (valid === 0 || (valid === 1 && !keywordOnly)) return plain;
  return keywordReading(on, s, start, d, readings) ?? plain;
}

function keywordReading(on: DetectorSet, s: string, start: number, d: string, readings: readonly Reading[]): DetectorName | null {
  const kw = keywordBefore(s, start);
  if (kw === null) return null;
  return readings.some(([type, ok]) => type === kw && on[type] && ok(d)) ? kw : null;
}

type Classifier = (on: DetectorSet, s: string, start: number, text: string) => DetectorName | null;

const byKeyword = (type: DetectorName, valid: (text: string) => boolean): Classifier => (on, s, start, text) =>
  on[type] && valid(text) && keywordBefore(s, start) === type ? type : null;
const byCheck = (type: DetectorName, valid: (text: string) => boolean): Classifier => (on, _s, _start, text) =>
  on[type] && valid(text) ? type : null;

const CLASSIFIERS: Record<number, Classifier> = {
  [GROUP_RUN]: (on, s, start, text) => choose(on, s, start, text, RUN_READINGS[text.length] ?? []),
  [GROUP_CPF]: (on, s, start, text) => choose(on, s, start, digitsOf(text), text.charCodeAt(10) === 45 ? RENAVAM_LAYOUT : CPF_LAYOUT),
  [GROUP_CNPJ]: byCheck('cnpj', (t) => isCnpj(alnumOnly(t))),
  [GROUP_PIS]: byCheck('pis', (t) => isPis(digitsOf(t))),
  [GROUP_PHONE]: byCheck('phone', isFormattedPhone),
  [GROUP_CEP]: byKeyword('cep', isCep),
  [GROUP_DATE]: byKeyword('birthDate', isDateText),
  [GROUP_IPV4]: byCheck('ip', isIpv4),
  [GROUP_GROUPS]: classifyGroups,
  [GROUP_CNPJ_ALNUM]: byCheck('cnpj', isCnpj),
};

/** Scans the numeric family from `start`; pushes validated hits that start before `limit`; returns the frontier. */
export function scanNumeric(sc: NumericScanner, on: DetectorSet, s: string, start: number, limit: number, out: Hit[]): number {
  const { starts, at } = sc;
  starts.lastIndex = start;
  let frontier = start;
  // test() instead of exec(): no match array per candidate start (most starts are not candidates).
  while (starts.test(s) && starts.lastIndex - 1 < limit) {
    const p = starts.lastIndex - 1;
    at.lastIndex = p;
    let m = at.exec(s);
    // Keywords have three letters or more: "T00:00" (a timestamp) costs two comparisons.
    if (m === null && isAsciiLetter(s.charCodeAt(p - 3)) && isAsciiLetter(s.charCodeAt(p - 1))) m = gluedCandidate(sc, s, p);
    if (m === null) m = looseCandidate(sc, s, p);
    if (m === null) {
      starts.lastIndex = skipWord(s, p);
      continue;
    }
    const end = readCandidate(sc, on, s, p, m, out);
    if (end < 0) {
      starts.lastIndex = skipWord(s, p); // a loose candidate that did not validate
      continue;
    }
    frontier = end;
    starts.lastIndex = frontier;
  }
  return frontier;
}

/** A separator and a digit at `i`: where a longer layout could have gone on but for what follows it. */
function separatorThenDigit(s: string, i: number): boolean {
  const sep = s.charCodeAt(i);
  const c = s.charCodeAt(i + 1);
  return (sep === 32 || sep === 46 || sep === 45 || sep === 47) && c >= 48 && c <= 57;
}

/**
 * Reads the candidate `m` at `p`, pushes it when it validates, returns where scanning resumes (-1 for a loose
 * candidate that does not validate: scanning goes on as if it had not been found). The first alternative
 * that matches is not always the answer: it may be rejected while another layout of the same characters validates
 * (529.982.247.25 is no IPv4 address), or be a valid prefix of a longer identifier (the phone 829 2530 3431 inside
 * the CNS 829 2530 3431 0787). Only then are the others tried, one by one (longestReading); the common path
 * allocates nothing.
 */
function readCandidate(sc: NumericScanner, on: DetectorSet, s: string, p: number, m: RegExpExecArray, out: Hit[]): number {
  const group = matchedGroup(m);
  let end = p + m[0].length;
  let det = classify(on, s, p, group, m[0]);
  if (mayReadOtherwise(s, end, det, group)) {
    const best = longestReading(sc, on, s, p, group, end, det !== null);
    if (best.det !== null || best.end > end) [det, end] = [best.det, best.end];
  }
  const wasLoose = mode === LOOSE;
  mode = STRICT;
  if (det !== null) {
    out.push({ start: p, end, type: det, detector: det, rank: 0 });
    return end;
  }
  // A loose candidate that does not validate changes nothing: scanning goes on as if it had not been tried.
  return wasLoose ? -1 : rejected(sc, on, s, p, end, out);
}

/** Where scanning resumes after the strict or glued candidate at `p`, read up to `end`, was rejected. */
function rejected(sc: NumericScanner, on: DetectorSet, s: string, p: number, end: number, out: Hit[]): number {
  // A rejected piece of a longer layout a letter ends (the 3-3-3 of 529.982.247/25x): read the whole layout loosely.
  if (separatorThenDigit(s, end)) {
    const loose = looseCandidate(sc, s, p);
    const looseEnd = loose === null ? -1 : readCandidate(sc, on, s, p, loose, out);
    if (looseEnd >= 0) return looseEnd;
  }
  // A rejected alphanumeric-CNPJ shape that starts with letters (CPF33157458892) hides only its letters: the digits
  // after a glued keyword are read on their own.
  return s.charCodeAt(p) > 57 ? skipWord(s, p) : end;
}

interface Read { det: DetectorName | null; end: number }

function classify(on: DetectorSet, s: string, p: number, group: number, text: string): DetectorName | null {
  if (mode === LOOSE && !isFormattedLayout(group, text)) return null;
  return CLASSIFIERS[group]?.(on, s, p, text) ?? null;
}

/**
 * Whether another alternative could read the candidate differently: a longer layout continues past it, or it was
 * rejected where another can read the same characters (a dotted quad that is no IPv4 address, a phone-shaped prefix
 * with an area code that does not exist). Dates, bare runs, CEPs and the canonical CPF/CNPJ/PIS masks have no other
 * reading, and timestamps are frequent: they are not retried.
 */
function mayReadOtherwise(s: string, end: number, det: DetectorName | null, group: number): boolean {
  return continuesWithDigit(s, end) || (det === null && (group === GROUP_IPV4 || group === GROUP_PHONE));
}

/** A bare digit run has the readings of its length only (RUN_READINGS: a bare landline needs its keyword). */
function classifyOther(on: DetectorSet, s: string, p: number, g: number, text: string): DetectorName | null {
  return g !== GROUP_RUN && isAllDigits(text) ? null : classify(on, s, p, g, text);
}

/** What alternative `g` alone matches at `p`, or null. */
function matchAt(sc: NumericScanner, g: number, s: string, p: number): string | null {
  const re = (mode === GLUED ? sc.eachGlued : mode === LOOSE ? sc.eachLoose : sc.each)[g - 1];
  if (re === undefined) return null;
  re.lastIndex = p;
  return re.exec(s)?.[0] ?? null;
}

function matchedGroup(m: RegExpExecArray): number {
  for (let g = 1; g <= LAST_GROUP; g++) if (m[g] !== undefined) return g;
  return 0;
}

/**
 * A longer layout could continue past `end` only across a space or '/' followed by a digit (E excludes letters,
 * digits and '.'/'-' before a digit; no layout has another separator there).
 */
function continuesWithDigit(s: string, end: number): boolean {
  const sep = s.charCodeAt(end);
  const c = s.charCodeAt(end + 1);
  return (sep === 32 || sep === 47) && c >= 48 && c <= 57;
}

/**
 * The reading at `p` of the longest layout, given the first alternative's match (`skip`, ending at `firstEnd`, valid
 * or not): the longest validated reading among the others when it reaches as far as any match does; otherwise none,
 * and `end` is the furthest any alternative reached (a rejected candidate hides what starts inside it).
 */
function longestReading(sc: NumericScanner, on: DetectorSet, s: string, p: number, skip: number, firstEnd: number, firstValid: boolean): Read {
  let det: DetectorName | null = null;
  let best = firstValid ? firstEnd : -1;
  let reach = firstEnd;
  for (let g = 1; g <= LAST_GROUP; g++) {
    const text = g === skip ? null : matchAt(sc, g, s, p);
    if (text === null) continue;
    const end = p + text.length;
    reach = Math.max(reach, end);
    const d = end > best ? classifyOther(on, s, p, g, text) : null;
    if (d !== null) [det, best] = [d, end];
  }
  // The longest layout decides: a valid reading that stops short of it (the phone 829 2530 3431 inside the CNS-shaped
  // 829 2530 3431 0780 whose check digit fails) is a piece of a rejected candidate, which hides what it contains.
  return det !== null && best === reach ? { det, end: best } : { det: null, end: reach };
}

/** 55 + DDD + subscriber (12 or 13 digits). */
function isPhoneWithCountry(d: string): boolean {
  return d.charCodeAt(0) === 53 && d.charCodeAt(1) === 53 && phoneKind(d.slice(2)) !== null;
}

/** Formatted phone: optional +55, DDD (optionally with trunk 0, optionally in parentheses), subscriber. */
function isFormattedPhone(text: string): boolean {
  let d = digitsOf(text);
  const c2 = text.charCodeAt(2);
  if (text.charCodeAt(0) === 43 || (d.startsWith('55') && (c2 === 32 || c2 === 45))) d = d.slice(2);
  if (d.charCodeAt(0) === 48) d = d.slice(1);
  return phoneKind(d) !== null;
}

/** dd/mm/yyyy (also '-' and '.') or yyyy-mm-dd, a real calendar date with a plausible birth year. */
export function isDateText(text: string): boolean {
  const p = DATE_PARTS;
  p.fill(0);
  let part = 0;
  for (let i = 0; i < text.length && part < 3; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) part++;
    else addDigit(p, part, d);
  }
  const [a = 0, b = 0, c = 0, firstLen = 0] = p;
  return firstLen === 4 ? isPlausibleDate(a, b, c) : isPlausibleDate(c, b, a);
}

/** Scratch for isDateText: the three numbers and the length of the first (no allocation per candidate). */
const DATE_PARTS = new Int32Array(4);

function addDigit(p: Int32Array, part: number, d: number): void {
  p[part] = (p[part] ?? 0) * 10 + d;
  if (part === 0) p[3] = (p[3] ?? 0) + 1;
}

/** ddmmyyyy or yyyymmdd. */
function isCompactDate(d: string): boolean {
  const dmy = isPlausibleDate(Number(d.slice(4)), Number(d.slice(2, 4)), Number(d.slice(0, 2)));
  return dmy || isPlausibleDate(Number(d.slice(0, 4)), Number(d.slice(4, 6)), Number(d.slice(6)));
}

/** Digit groups, classified by layout (GROUP_READINGS); every separator must be one the layout allows (mixed is fine). */
function classifyGroups(on: DetectorSet, s: string, start: number, text: string): DetectorName | null {
  const groups = text.split(GROUP_SEPARATOR);
  const layout = GROUP_READINGS[groups.map((g) => g.length).join('-')];
  if (layout === undefined) return null;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 48 || c > 57) && !layout.seps.includes(text[i] ?? '')) return null;
  }
  return choose(on, s, start, groups.join(''), layout.readings);
}

const GROUP_SEPARATOR = /[ ./-]/;

// ---------------------------------------------------------------------------------------------------------------
// E-mail

const MAX_LOCAL = 64;
const FILE_EXTENSIONS = new Set(['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'css', 'js', 'mjs', 'ts', 'map', 'json', 'html', 'htm', 'txt']);



/** Letters of other scripts may appear in internationalised addresses; general punctuation may not. */
function isWideLetter(c: number): boolean {
  return c >= 0xc0 && !(c >= 0x2000 && c <= 0x206f) && !(c >= 0x3000 && c <= 0x303f) && c !== 0xfeff;
}

function isLocalChar(c: number): boolean {
  return c < 128 ? ((ASCII[c] ?? 0) & 1) !== 0 : isWideLetter(c);
}

function isDomainChar(c: number): boolean {
  return c < 128 ? ((ASCII[c] ?? 0) & 2) !== 0 : isWideLetter(c);
}

/** Scans e-mail addresses (from each '@' at or after `start`) that start before `limit`; returns the frontier. */
export function scanEmail(s: string, start: number, limit: number, out: Hit[]): number {
  const stop = Math.min(s.length, limit + MAX_LOCAL + 1);
  let frontier = start;
  let at = s.indexOf('@', start);
  while (at !== -1 && at < stop) {
    const end = emailAt(s, at, limit, out);
    if (end > at + 1) frontier = end;
    at = s.indexOf('@', Math.max(end, at + 1));
  }
  return frontier;
}

/** Validates the address around the '@' at `at`; pushes it and returns its end, or returns at + 1. */
function emailAt(s: string, at: number, limit: number, out: Hit[]): number {
  const a = localStart(s, at);
  if (a < 0 || a >= limit) return at + 1;
  const b = domainEnd(s, at, a);
  if (b - a > 254 || !isDomain(s.slice(at + 1, b))) return at + 1;
  out.push({ start: a, end: b, type: 'email', detector: 'email', rank: 0 });
  return b;
}

/** Start of the local part before '@' (1–64 characters, no leading/trailing/double dot), or -1. */
function localStart(s: string, at: number): number {
  let a = at;
  while (a > 0 && at - a <= MAX_LOCAL && isLocalChar(s.charCodeAt(a - 1))) a--;
  while (a < at && s.charCodeAt(a) === 46) a++; // a sentence dot before the address
  if (a === at || at - a > MAX_LOCAL || s.charCodeAt(at - 1) === 46) return -1;
  return hasDoubleDot(s, a, at) ? -1 : a;
}

function hasDoubleDot(s: string, a: number, at: number): boolean {
  for (let i = a + 1; i < at; i++) if (s.charCodeAt(i) === 46 && s.charCodeAt(i - 1) === 46) return true;
  return false;
}

/** End of the domain after '@', without a trailing sentence dot or hyphen. */
function domainEnd(s: string, at: number, a: number): number {
  let b = at + 1;
  while (b < s.length && b - a <= 255 && isDomainChar(s.charCodeAt(b))) b++;
  while (b > at + 1 && (s.charCodeAt(b - 1) === 46 || s.charCodeAt(b - 1) === 45)) b--;
  return b;
}

function isDomain(d: string): boolean {
  const labels = d.split('.');
  if (labels.length < 2) return false;
  for (const l of labels) {
    if (l.length === 0 || l.length > 63 || l.charCodeAt(0) === 45 || l.charCodeAt(l.length - 1) === 45) return false;
  }
  const tld = labels[labels.length - 1] ?? '';
  return tld.length >= 2 && !/[0-9-]/.test(tld) && !FILE_EXTENSIONS.has(tld.toLowerCase());
}

// ---------------------------------------------------------------------------------------------------------------
// IPv6

function isHexOrColon(c: number): boolean {
  return c < 128 && ((ASCII[c] ?? 0) & 4) !== 0;
}

function isWordChar(c: number): boolean {
  return c < 128 && ((ASCII[c] ?? 0) & 8) !== 0;
}

/**
 * Scans IPv6 addresses (tokens of hex digits, ':' and '.' around each ':' at or after `start`) that start before
 * `limit`; they must contain a decimal digit ('abc::def' is not one). Returns the frontier.
 */
export function scanIpv6(s: string, start: number, limit: number, out: Hit[]): number {
  const stop = Math.min(s.length, limit + 46);
  let frontier = start;
  let colon = s.indexOf(':', start);
  while (colon !== -1 && colon < stop) {
    const end = ipv6At(s, colon, limit, out);
    if (end < 0) break;
    frontier = end;
    colon = s.indexOf(':', Math.max(end, colon + 1));
  }
  return frontier;
}

/** The end of the token around `colon` (pushing it when it is an address), or -1 when it starts at/after limit. */
function ipv6At(s: string, colon: number, limit: number, out: Hit[]): number {
  let a = colon;
  while (a > 0 && colon - a < 40 && isHexOrColon(s.charCodeAt(a - 1))) a--;
  if (a >= limit) return -1;
  const b = ipv6TokenEnd(s, colon, a);
  if (isIpv6Token(s, a, b)) out.push({ start: a, end: b, type: 'ip', detector: 'ip', rank: 0 });
  return b;
}

function ipv6TokenEnd(s: string, colon: number, a: number): number {
  let b = colon + 1;
  while (b < s.length && b - a <= 46 && (isHexOrColon(s.charCodeAt(b)) || s.charCodeAt(b) === 46)) b++;
  while (b > colon && s.charCodeAt(b - 1) === 46) b--;
  return b;
}

/** Every IPv6 text form has at least two colons ('::' or seven separators): cheap rejection of times, ratios, keys. */
function twoColons(s: string, a: number, b: number): boolean {
  const first = s.indexOf(':', a);
  return first !== -1 && first < b && s.indexOf(':', first + 1) < b && s.indexOf(':', first + 1) !== -1;
}

function isIpv6Token(s: string, a: number, b: number): boolean {
  const before = a > 0 ? s.charCodeAt(a - 1) : 32;
  const after = b < s.length ? s.charCodeAt(b) : 32;
  if (isWordChar(before) || before === 46 || isWordChar(after) || !twoColons(s, a, b)) return false;
  const text = s.slice(a, b);
  return /[0-9]/.test(text) && isIpv6(text);
}
