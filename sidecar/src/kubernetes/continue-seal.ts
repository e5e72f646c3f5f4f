// A list page's continue token, as the agent holds it. The apiserver's token is base64 of the
// page's last storage key (the last object's name, and its namespace across namespaces), so the
// names masked in `items` would come back whole in `metadata.continue`. The proxy hands out the
// token sealed instead (AES-256-GCM under a key of this process, bound to the list's path) and
// opens it when the agent sends it back; a token this process did not seal for that path is
// refused as the apiserver refuses an expired one (410 Expired: client-go's pagers start the list
// again). A restarted sidecar has a new key, so its old tokens expire with it.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const PREFIX = 'guarita.';
const IV_BYTES = 12;
const TAG_BYTES = 16;
// Sealed text is padded to a multiple of this (NULs, which base64 tokens never hold): AES-GCM keeps
// the length, and a token's length would tell the length of the name it ends at.
const PAD_TO = 512;

function padded(token: string): Buffer {
  const bytes = Buffer.from(token, 'utf8');
  const size = Math.max(PAD_TO, Math.ceil(bytes.length / PAD_TO) * PAD_TO);
  const out = Buffer.alloc(size);
  bytes.copy(out);
  return out;
}

function unpadded(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
}

export class ContinueSeal {
  readonly #key = randomBytes(32);

  /** The token the agent gets for `token`, a page of the list at `path`. */
  seal(token: string, path: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(path, 'utf8'));
    const sealed = Buffer.concat([cipher.update(padded(token)), cipher.final()]);
    return `${PREFIX}${Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url')}`;
  }

  /** The apiserver's token inside `sealed`, or undefined when this process did not seal it for `path`. */
  open(sealed: string, path: string): string | undefined {
    if (!sealed.startsWith(PREFIX)) return undefined;
    const bytes = Buffer.from(sealed.slice(PREFIX.length), 'base64url');
    if (bytes.length < IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(path, 'utf8'));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      return unpadded(Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]));
    } catch {
      return undefined;
    }
  }
}

/** A query component as Go's url.QueryUnescape reads it ('+' is a space); undefined when it does not decode. */
function queryUnescape(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * The target with its continue parameter opened (the apiserver's token in its place), the rest of
 * it byte for byte as judged; a problem when a token is there that `seal` did not issue for this
 * path, or the parameter is repeated (the apiserver would read the first).
 */
export function openContinue(target: string, seal: ContinueSeal): { target: string } | { problem: string } {
  const q = target.indexOf('?');
  if (q < 0) return { target };
  const path = target.slice(0, q);
  let seen = 0;
  const parts: string[] = [];
  for (const part of target.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    if (queryUnescape(eq < 0 ? part : part.slice(0, eq)) !== 'continue') {
      parts.push(part);
      continue;
    }
    if (++seen > 1) return { problem: 'the request repeats the continue parameter' };
    const value = eq < 0 ? '' : queryUnescape(part.slice(eq + 1));
    if (value === undefined) return { problem: 'the continue parameter is not a valid query value' };
    if (value === '') {
      parts.push(part);
      continue;
    }
    const opened = seal.open(value, path);
    if (opened === undefined) return { problem: 'the continue token was not issued by this proxy for this list, or has expired (the sidecar restarted); start the list again without it' };
    parts.push(`continue=${encodeURIComponent(opened)}`);
  }
  return { target: `${path}?${parts.join('&')}` };
}

/** The path of a target (the scope its continue tokens are sealed for). */
export function targetPath(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}
