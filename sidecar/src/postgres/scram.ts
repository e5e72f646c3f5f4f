// Client side of the upstream password exchanges: SCRAM-SHA-256 (RFC 5802/7677, without
// channel binding) and the legacy md5 scheme. node:crypto only: the sidecar image ships
// without node-pg (a dev dependency).
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
/** A malicious or misconfigured upstream could ask for an absurd iteration count (CPU exhaustion). */
export const MAX_SCRAM_ITERATIONS = 1_000_000;

export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthError';
  }
}

/** md5 password response: 'md5' + md5(md5(password + user) + salt). */
export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password + user, 'utf8').digest('hex');
  return `md5${createHash('md5').update(Buffer.concat([Buffer.from(inner, 'utf8'), salt])).digest('hex')}`;
}

/** RFC 4013 SASLprep, the parts that change bytes (as libpq and the server apply them). */
const NON_ASCII_SPACE = new Set([0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x200b, 0x202f, 0x205f, 0x3000]);
const MAPPED_TO_NOTHING = new Set([0xad, 0x34f, 0x1806, 0x180b, 0x180c, 0x180d, 0x200c, 0x200d, 0x2060, 0xfeff, ...Array.from({ length: 16 }, (_, i) => 0xfe00 + i)]);

export function saslprep(password: string): string {
  let out = '';
  for (const ch of password) {
    const cp = ch.codePointAt(0) ?? 0;
    if (NON_ASCII_SPACE.has(cp)) out += ' ';
    else if (!MAPPED_TO_NOTHING.has(cp)) out += ch;
  }
  return out.normalize('NFKC');
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function attributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    if (!/^[a-zA-Z]=/.test(part)) throw new AuthError(`SCRAM: malformed server message attribute '${part.slice(0, 20)}'`);
    out.set(part[0] ?? '', part.slice(2));
  }
  return out;
}

export interface ScramServerFirst {
  nonce: string;
  salt: Buffer;
  iterations: number;
}

export function parseServerFirst(message: string, clientNonce: string): ScramServerFirst {
  const a = attributes(message);
  const nonce = a.get('r');
  const salt = a.get('s');
  const iter = a.get('i');
  if (nonce === undefined || salt === undefined || iter === undefined) throw new AuthError('SCRAM: server-first-message lacks r, s or i');
  if (!nonce.startsWith(clientNonce) || nonce.length === clientNonce.length) throw new AuthError('SCRAM: server nonce does not extend the client nonce');
  if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(nonce)) throw new AuthError('SCRAM: server nonce is not printable');
  if (!/^[1-9][0-9]{0,9}$/.test(iter)) throw new AuthError('SCRAM: invalid iteration count');
  const iterations = Number(iter);
  if (iterations > MAX_SCRAM_ITERATIONS) throw new AuthError(`SCRAM: iteration count ${iterations} exceeds ${MAX_SCRAM_ITERATIONS}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(salt)) throw new AuthError('SCRAM: salt is not base64');
  return { nonce, salt: Buffer.from(salt, 'base64'), iterations };
}

/** One SCRAM-SHA-256 exchange, driven by the upstream connection. */
export class ScramClient {
  readonly clientNonce: string;
  private readonly password: string;
  /** PostgreSQL takes the user from the startup packet and ignores this one; libpq and node-pg send '*'-like placeholders. */
  private readonly user: string;
  private expectedServerSignature: Buffer | undefined;

  constructor(password: string, opts: { nonce?: string; user?: string } = {}) {
    if (password === '') throw new AuthError('SCRAM: the upstream password is empty');
    this.password = password;
    this.clientNonce = opts.nonce ?? randomBytes(18).toString('base64');
    this.user = opts.user ?? '*';
  }

  /** client-first-message: gs2 header 'n,,' (no channel binding), user taken from the startup packet. */
  clientFirst(): string {
    return `n,,${this.clientFirstBare()}`;
  }

  private clientFirstBare(): string {
    return `n=${this.user},r=${this.clientNonce}`;
  }

  /** client-final-message for the server-first-message. */
  async clientFinal(serverFirst: string): Promise<string> {
    const sf = parseServerFirst(serverFirst, this.clientNonce);
    const withoutProof = `c=biws,r=${sf.nonce}`;
    const authMessage = `${this.clientFirstBare()},${serverFirst},${withoutProof}`;
    const salted = await pbkdf2Async(saslprep(this.password), sf.salt, sf.iterations, 32, 'sha256');
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const clientSignature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = (clientKey[i] ?? 0) ^ (clientSignature[i] ?? 0);
    this.expectedServerSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks the server-final-message: the server proves it knows the verifier too. */
  verifyServerFinal(serverFinal: string): void {
    const a = attributes(serverFinal);
    const err = a.get('e');
    if (err !== undefined) throw new AuthError(`SCRAM: server error ${err}`);
    const v = a.get('v');
    if (v === undefined || this.expectedServerSignature === undefined) throw new AuthError('SCRAM: server signature missing');
    const got = Buffer.from(v, 'base64');
    if (got.length !== this.expectedServerSignature.length || !timingSafeEqual(got, this.expectedServerSignature)) {
      throw new AuthError('SCRAM: server signature does not match (not the expected server)');
    }
  }
}
