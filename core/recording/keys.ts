// Ed25519 signing keys for session chains. Each sidecar process makes its own key and registers
// the public half (as a JWK) with the operator; a stolen spool cannot be re-signed after the fact.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject, type JsonWebKey } from 'node:crypto';

export interface SigningKey { privateKey: KeyObject; publicJwk: JsonWebKey; keyId: string }

/** A key's id: its RFC 7638 thumbprint (what store links and records name as keyId). */
export function keyIdOf(jwk: JsonWebKey): string {
  // RFC 7638 thumbprint members for OKP keys, in lexicographic order.
  const thumb = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return createHash('sha256').update(thumb).digest('base64url');
}

export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicJwk = publicKey.export({ format: 'jwk' });
  return { privateKey, publicJwk, keyId: keyIdOf(publicJwk) };
}

/** Restores a key persisted with exportPrivateJwk (the spool keeps it so a restart continues the chain). */
export function importSigningKey(privateJwk: JsonWebKey): SigningKey {
  const privateKey = createPrivateKey({ key: privateJwk, format: 'jwk' });
  const publicJwk = createPublicKey(privateKey).export({ format: 'jwk' });
  return { privateKey, publicJwk, keyId: keyIdOf(publicJwk) };
}

export function exportPrivateJwk(key: SigningKey): JsonWebKey {
  return key.privateKey.export({ format: 'jwk' });
}

export function importPublicKey(jwk: JsonWebKey): KeyObject {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('public key must be an Ed25519 JWK (kty OKP, crv Ed25519)');
  return createPublicKey({ key: jwk, format: 'jwk' });
}

export function signHash(key: SigningKey, hashHex: string): string {
  return sign(null, Buffer.from(hashHex, 'hex'), key.privateKey).toString('base64url');
}

export function verifyHashSignature(publicKey: KeyObject, hashHex: string, signature: string): boolean {
  try {
    return verify(null, Buffer.from(hashHex, 'hex'), publicKey, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}

/** Why a storeKey line cannot be used: an unusable key, or an id that is not the key's thumbprint. */
export function storeKeyLineProblem(k: { keyId: unknown; publicJwk: unknown }): string | undefined {
  let thumbprint: string;
  try {
    importPublicKey(k.publicJwk as JsonWebKey);
    thumbprint = keyIdOf(k.publicJwk as JsonWebKey);
  } catch (err) {
    return `store key ${String(k.keyId)} is unusable (${err instanceof Error ? err.message : String(err)})`;
  }
  if (k.keyId !== thumbprint) return `the store key listed as ${String(k.keyId)} is another key (its thumbprint is ${thumbprint}): a key listed under another key's id, so statements could be read as signed by the wrong key`;
  return undefined;
}
