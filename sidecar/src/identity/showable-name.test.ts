// Round 12b, finding C: ZWNJ/ZWJ are part of real names in scripts written with joiners (Persian,
// the Indic scripts) and only hide anywhere else. Every context a joiner can take, both ways.
import { describe, expect, it } from '@jest/globals';
import { unshowableCharacter } from './showable-name.ts';

const ZWNJ = '\u200c';
const ZWJ = '\u200d';

describe('joiners inside a word of a script written with joiners are part of the name', () => {
  const names: [string, string][] = [
    ['Persian ZWNJ after a dual-joining letter (RFC 5892 A.1)', `علی${ZWNJ}رضا.محمدی`],
    ['Persian ZWNJ after a right-joining letter (typed, though it changes nothing)', `محمد${ZWNJ}حسین`],
    ['a Persian group name', `پشتیبانی${ZWNJ}مشتری`],
    ['Persian ZWNJ before a harakat-marked letter', `می${ZWNJ}\u0631\u064Eوم`],
    ['Urdu / Arabic ZWJ', `ل${ZWJ}ا`],
    ['Devanagari ZWJ after a virama (eyelash ra, half form)', `कार्${ZWJ}यालय-ops`],
    ['Devanagari ZWNJ after a virama (explicit virama)', `क्${ZWNJ}ष`],
    ['Malayalam ZWJ after a vowel sign', `ശ്രീ${ZWJ}കുമാർ`],
    ['Bengali ZWJ after a virama (ya-phala)', `র${ZWJ}্যাব`],
    ['Sinhala ZWJ (yansaya)', `ශ්${ZWJ}රී`],
    ['Tamil, Telugu, Kannada, Gujarati, Gurmukhi, Oriya after a virama', `க்${ZWNJ}ஷ త్${ZWNJ}స క ಕ್${ZWJ}ಷ ક્${ZWJ}ષ ਕ੍${ZWJ}ਸ କ୍${ZWJ}ଷ`],
    ['Syriac ZWNJ', `ܐܠ${ZWNJ}ܗܐ`],
    ['Adlam (outside the BMP) ZWNJ', `\u{1E900}${ZWNJ}\u{1E901}`],
    ['two joined words in one name', `علی${ZWNJ}رضا محمد${ZWNJ}حسین`],
  ];
  for (const [what, name] of names) {
    it(what, () => { expect(unshowableCharacter(name)).toBeUndefined(); });
  }
});

describe('joiners anywhere else only hide, and are refused (the name\'s offset named)', () => {
  const names: [string, string, string][] = [
    ['at the end of a Latin name', `alice${ZWNJ}`, 'U+200C at offset 5'],
    ['inside a Latin name', `al${ZWJ}ice`, 'U+200D at offset 2'],
    ['German ligature suppression (Latin typography, not a name\'s spelling)', `Auf${ZWNJ}lage`, 'U+200C at offset 3'],
    ['at the start of a Persian name', `${ZWNJ}علی`, 'U+200C at offset 0'],
    ['at the end of a Persian name', `علی${ZWNJ}`, 'U+200C at offset 3'],
    ['at the end of a Devanagari name after a virama', `कार्${ZWJ}`, 'U+200D at offset 4'],
    ['a whole name of one joiner', ZWNJ, 'U+200C at offset 0'],
    ['doubled between Persian letters', `علی${ZWNJ}${ZWNJ}رضا`, 'U+200C at offset 3'],
    ['ZWNJ then ZWJ between Persian letters', `علی${ZWNJ}${ZWJ}رضا`, 'U+200C at offset 3'],
    ['between a Persian letter and a Latin one', `علی${ZWNJ}a`, 'U+200C at offset 3'],
    ['between a Latin letter and a Persian one', `a${ZWNJ}علی`, 'U+200C at offset 1'],
    ['between Arabic and Devanagari (two scripts)', `ی${ZWNJ}क`, 'U+200C at offset 1'],
    ['before an ASCII dot', `علی${ZWNJ}.x`, 'U+200C at offset 3'],
    ['before an ASCII at sign', `کار${ZWNJ}@corp`, 'U+200C at offset 3'],
    ['before a space', `علی${ZWNJ} رضا`, 'U+200C at offset 3'],
    ['between Arabic-Indic digits', `۱${ZWNJ}۲`, 'U+200C at offset 1'],
    ['between a Persian letter and an Arabic-Indic digit', `ی${ZWNJ}۲`, 'U+200C at offset 1'],
    ['in an emoji sequence', `dev-👨${ZWJ}💻`, 'U+200D at offset 6'],
    ['between two CJK ideographs', `田${ZWJ}中`, 'U+200D at offset 1'],
    ['between two Cyrillic letters', `Вла${ZWNJ}димир`, 'U+200C at offset 3'],
    ['next to another invisible character inside a Persian word', `علی\u200b${ZWNJ}رضا`, 'U+200B at offset 3'],
    ['a joiner that is fine, then one that is not', `علی${ZWNJ}رضا${ZWNJ}`, 'U+200C at offset 7'],
  ];
  for (const [what, name, found] of names) {
    it(what, () => { expect(unshowableCharacter(name)).toBe(found); });
  }
});

describe('the other characters that hide are refused whatever the script around them', () => {
  const hidden = ['\u0000', '\t', '\n', '\r', '\u000b', '\u000c', '\u001b', '\u007f', '\u0085', '\u009b', '\u00ad', '\u034f', '\u061c', '\u200b', '\u200e', '\u200f', '\u202e', '\u2028', '\u2029', '\u2060', '\u2066', '\ufeff', '\ufe0f', '\u{e0041}', '\ue000'];
  it('between two Persian letters, two Devanagari letters, and in Latin', () => {
    for (const c of hidden) {
      const label = `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
      expect([label, unshowableCharacter(`علی${c}رضا`)]).toEqual([label, `${label} at offset 3`]);
      expect([label, unshowableCharacter(`क्${c}ष`)]).toEqual([label, `${label} at offset 2`]);
      expect([label, unshowableCharacter(`alice${c}`)]).toEqual([label, `${label} at offset 5`]);
    }
  });

  it('plain names show: accents (NFC, NFD), spaces, CJK, Cyrillic, Arabic, Devanagari without joiners', () => {
    for (const name of ['José Núñez', 'Jose\u0301 Nu\u0301n\u0303ez', '田中 太郎', 'Владимир', 'محمد', 'प्रिया शर्मा', 'joão.silva@empresa.com.br']) expect(unshowableCharacter(name)).toBeUndefined();
  });
});
