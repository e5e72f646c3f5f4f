// Whether a username or group name shows as what it is (round 12, F3's "not done" item; round 12b,
// finding C). A name holding a control, format, invisible or line-separator character reads as
// someone else's in logs, `kubectl get` and an approver's screen (`alice\u200b@corp` shows as
// alice's), so such a name is no identity.
//
// Two of those characters are part of real spellings, though: ZERO WIDTH NON-JOINER (U+200C) and
// ZERO WIDTH JOINER (U+200D). Persian writes ZWNJ inside names and words (علی‌رضا, پشتیبانی‌مشتری:
// the letter before it takes its final form), and the Indic scripts pick a conjunct or a half form
// with ZWJ/ZWNJ after a virama (कार्‍यालय). An IdP issues such names and the apiserver takes them as
// they are. IDNA allows them in context (RFC 5892, A.1/A.2 CONTEXTJ: after a virama, or ZWNJ
// between Arabic-type joining letters); that rule is narrower than the usage (Persian also types
// ZWNJ after a right-joining letter, محمد‌حسین, and Malayalam after a vowel sign), so the rule here
// is simpler and documented (docs/access-policy.md): a joiner is part of a name when the characters
// on both sides of it are letters or marks of one script that writes with joiners (JOINER_SCRIPTS).
// Anywhere else it only hides: at either end, doubled, beside a Latin or ASCII character, a digit,
// a space, punctuation, an emoji (👨‍💻 is not a name), or between two scripts.
import { INVISIBLE_SOURCE } from '../../../core/masking/invisible.ts';

/**
 * Scripts whose writing uses ZWNJ/ZWJ (Unicode 16, chapters 9–13 and 16): the Arabic-type cursive
 * scripts, where ZWNJ breaks a join (Arabic, used for Persian, Urdu, Kurdish, Pashto; Syriac; N'Ko;
 * Mongolian; Adlam; Hanifi Rohingya), and the Brahmic scripts of South and Southeast Asia, where
 * ZWJ/ZWNJ after a virama select a conjunct, half or explicit-virama form. Matched by
 * Script_Extensions, so the marks these scripts share (Arabic harakat, Vedic signs) count as theirs.
 */
export const JOINER_SCRIPTS: readonly string[] = [
  'Arabic', 'Syriac', 'Nko', 'Mongolian', 'Adlam', 'Hanifi_Rohingya',
  'Devanagari', 'Bengali', 'Gurmukhi', 'Gujarati', 'Oriya', 'Tamil', 'Telugu', 'Kannada', 'Malayalam', 'Sinhala', 'Myanmar', 'Khmer',
];

/** A letter or mark of `script`, as a `v`-flag class. */
const letterOf = (script: string): string => `[[\\p{L}\\p{M}]&&\\p{scx=${script}}]`;

/** A ZWNJ or ZWJ with a letter or mark of one joiner script on each side (the sides are looked at, not consumed). */
const JOINER_IN_WORD = new RegExp(JOINER_SCRIPTS.map((s) => `(?<=${letterOf(s)})[\\u200c\\u200d](?=${letterOf(s)})`).join('|'), 'gv');

// Control, format, invisible and line-separator characters (core/masking/invisible.ts: Unicode's
// Default_Ignorable_Code_Point, C0 and C1 controls, private use), NUL, and the whitespace a name
// cannot hold (tab, line and paragraph breaks).
const UNSHOWABLE = new RegExp(`${INVISIBLE_SOURCE}|[\u0000\t\n\u000b\f\r\u2028\u2029]`);

/**
 * The first character of `name` a reader would not see as it is, as `U+XXXX at offset N` (offset
 * in UTF-16 code units of the name as issued); undefined when the whole name shows. A joiner
 * between two letters or marks of one joiner script is part of the spelling and is not reported.
 */
export function unshowableCharacter(name: string): string | undefined {
  // Joiners in context are replaced by a character of the same length that is showable, so the
  // offsets reported stay those of the name as issued.
  const match = UNSHOWABLE.exec(name.replace(JOINER_IN_WORD, 'x'));
  if (match === null) return undefined;
  const code = match[0].codePointAt(0) ?? 0;
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')} at offset ${match.index}`;
}
