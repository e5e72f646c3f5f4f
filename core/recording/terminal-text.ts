// Terminal output as an auditor's terminal may be given it: a recorded stream (SSH shells and exec
// channels, Kubernetes exec; already masked) without what could act on that terminal beyond drawing.
// `guarita replay` plays frames through it, and the asciicast conversion (asciicast.ts) writes them
// through it, since `asciinema play` writes the file to a terminal (round 11 review of the CLI).

// OSC (ESC ] or U+009D) up to BEL or ST (ESC \ or U+009C), or the end of the frame.
// eslint-disable-next-line no-control-regex -- escape sequences are what is matched
const OSC = /(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?/g;
// DCS, SOS, PM, APC (ESC P X ^ _, or U+0090 U+0098 U+009E U+009F) up to ST, or the end of the frame.
// eslint-disable-next-line no-control-regex -- escape sequences are what is matched
const STRING = /(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[\s\S]*?(?:\x1b\\|\x9c|$)/g;
// In one pass, so a sequence kept cannot be taken apart again: a CSI sequence, 7-bit (ESC [) or
// 8-bit (U+009B) with its parameters, intermediates and final byte; or any other control
// character (ESC, C0 but tab, newline and CR, which a terminal's own output draws with; DEL; C1).
// eslint-disable-next-line no-control-regex -- escape sequences are what is matched
const CSI_OR_CONTROL = /(?:\x1b\[|\x9b)([0-9;:?<=>]*)([\x20-\x2f]*)([\x40-\x7e]?)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/g;
// Bidirectional overrides, isolates and marks: a terminal that honours them reorders the lines after.
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** SGR parameters that keep a colour or style, not 8 (conceal: hides what follows, a tamper mark included). */
function keptSgr(params: string): boolean {
  const p = params.split(/[;:]/);
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '38' || p[i] === '48' || p[i] === '58') i += p[i + 1] === '5' ? 2 : 4; // a colour's own numbers
    else if (p[i] === '8') return false;
  }
  return true;
}

/** Cursor movement and erasing on screen; not 3J (erase the scrollback, where replay's earlier lines are). */
function keptCsi(params: string, intermediates: string, final: string): boolean {
  if (intermediates !== '' || /[<=>]/.test(params)) return false;
  if (final === 'm') return keptSgr(params);
  if (final === 'J') return params !== '3';
  return /^[ABCDEFGHKSTfr]$/.test(final) && !params.includes(':');
}

/** A CSI kept (as 7-bit) or without its introducer; any other control character dropped. */
function csiOrControl(all: string, params: string | undefined, intermediates: string | undefined, final: string | undefined): string {
  if (params === undefined || intermediates === undefined || final === undefined) return '';
  return keptCsi(params, intermediates, final) ? `\x1b[${params}${final}` : `${all.startsWith('\x1b') ? '' : '['}${all.slice(1)}`;
}

/**
 * Terminal output as recorded (already masked), without what could act on the auditor's terminal
 * beyond drawing: OSC strings (window titles, clipboard writes, hyperlinks), device-control, SOS,
 * PM and APC strings, queries the terminal answers (CSI 6 n ...), in their 7-bit (ESC) and 8-bit
 * (C1, as UTF-8 encoded code points) forms, and every other control character. Colours and cursor
 * movement (CSI ... m, A-H, J, K, S, T, f, r) stay, as 7-bit sequences; a CSI that does not stay
 * loses its introducer, and the rest shows as plain text.
 */
export function safeTerminalText(data: string): string {
  return data
    .replace(OSC, '')
    .replace(STRING, '')
    .replace(CSI_OR_CONTROL, csiOrControl)
    .replace(BIDI, '');
}
