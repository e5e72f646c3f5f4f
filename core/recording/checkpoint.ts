// Checkpoints: a log's signed statement "my tree of <size> leaves has root <hash>", in the C2SP
// tlog-checkpoint format inside a C2SP signed note, so any tool that reads transparency-log
// checkpoints (Go's golang.org/x/mod/sumdb/note, transparency-dev's) can check ours:
//
//   <origin>\n                       which log: a sidecar chain id, or the operator's store log
//   <tree size, decimal>\n
//   <root hash, base64>\n
//   [time <RFC 3339 UTC>\n]           extension lines (opaque to other tools); ours carries the time
//   \n
//   — <key name> <base64(key hash (4 bytes) ‖ Ed25519 signature (64 bytes))>\n
//
// The signature covers the note text: every byte before the blank line, final newline included.
// The key hash is the first 4 bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)
// (0x01: the signed-note algorithm identifier of Ed25519). Pure: no I/O.
import { createHash, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { importPublicKey, type SigningKey } from './keys.ts';
import { HASH_SIZE } from './merkle.ts';
import { isRealUtcTime } from './record-time.ts';

export interface Checkpoint {
  /** The log's unique name (first line): a sidecar chain id, or store/<ns>/<policy>. */
  origin: string;
  size: number;
  rootHash: Buffer;
  /** The signer's clock when it signed (extension line `time <RFC 3339>`). */
  time?: string;
  /** Other extension lines, in order, without their newline. */
  extensions?: string[];
}

/** A verifier key: the signed-note key name and the Ed25519 public key. */
export interface NoteVerifier { name: string; publicKey: KeyObject; keyHash: Buffer }

const ED25519_ALGORITHM = 0x01;
const SIGNATURE_PREFIX = '\u2014 ';
/** Checkpoints are small; a bigger note is refused before anything is parsed. */
export const MAX_CHECKPOINT_BYTES = 16 * 1024;
const TIME_PREFIX = 'time ';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export type CheckpointProblem =
  | 'too-large' | 'not-text' | 'missing-lines' | 'empty-origin' | 'bad-size' | 'bad-root-hash' | 'bad-time' | 'bad-extension'
  | 'missing-blank-line' | 'no-signature' | 'bad-signature-line' | 'unknown-key' | 'bad-signature' | 'extra-signature';

export class CheckpointError extends Error {
  readonly problem: CheckpointProblem;
  constructor(problem: CheckpointProblem, message: string) {
    super(`checkpoint: ${message}`);
    this.name = 'CheckpointError';
    this.problem = problem;
  }
}

function fail(problem: CheckpointProblem, message: string): never {
  throw new CheckpointError(problem, message);
}

function rawPublicKey(jwk: JsonWebKey): Buffer {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('public key must be an Ed25519 JWK (kty OKP, crv Ed25519)');
  const raw = Buffer.from(jwk.x, 'base64url');
  if (raw.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes (got ${raw.length})`);
  return raw;
}

function checkKeyName(name: string): void {
  if (name === '' || /[\s+]/u.test(name)) throw new Error(`a signed-note key name is non-empty without spaces or '+' (got '${name}')`);
}

/**
 * Key hashes already computed, per public key object and key name: a writer signs a checkpoint per
 * window with the same key and name, and recomputing the hash (a JWK decode and a SHA-256) each
 * time cost a few percent of a busy sidecar. Keyed weakly by the JWK object, so a key dropped
 * (rotation) takes its entry with it; a caller mutating a JWK in place is not supported.
 */
const keyHashes = new WeakMap<JsonWebKey, Map<string, Buffer>>();

/** The signed-note key hash: SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[0:4]. */
export function noteKeyHash(name: string, publicJwk: JsonWebKey): Buffer {
  let byName = keyHashes.get(publicJwk);
  const known = byName?.get(name);
  if (known !== undefined) return known;
  checkKeyName(name);
  const keyHash = createHash('sha256').update(name).update('\n').update(Buffer.from([ED25519_ALGORITHM])).update(rawPublicKey(publicJwk)).digest().subarray(0, 4);
  if (byName === undefined) keyHashes.set(publicJwk, (byName = new Map<string, Buffer>()));
  byName.set(name, keyHash);
  return keyHash;
}

/** A verifier for notes signed under `name` (by default the key's keyId) by this public key. */
export function noteVerifier(publicJwk: JsonWebKey, name: string): NoteVerifier {
  return { name, publicKey: importPublicKey(publicJwk), keyHash: noteKeyHash(name, publicJwk) };
}

/** The vkey string of signed notes (`<name>+<hex key hash>+<base64(0x01 ‖ key)>`), for other tools. */
export function noteVerifierKey(name: string, publicJwk: JsonWebKey): string {
  const key = Buffer.concat([Buffer.from([ED25519_ALGORITHM]), rawPublicKey(publicJwk)]);
  return `${name}+${noteKeyHash(name, publicJwk).toString('hex')}+${key.toString('base64')}`;
}

function checkLine(what: string, line: string, problem: CheckpointProblem): void {
  if (line.includes('\n') || line.includes('\r')) fail(problem, `${what} must be one line`);
}

/** The note text (what the signature covers): origin, size, root, extension lines, each ending in \n. */
export function formatCheckpoint(cp: Checkpoint): string {
  if (cp.origin === '') fail('empty-origin', 'the origin line is empty: name the log');
  checkLine('the origin', cp.origin, 'empty-origin');
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) fail('bad-size', `tree size must be a non-negative integer (got ${cp.size})`);
  if (cp.rootHash.length !== HASH_SIZE) fail('bad-root-hash', `root hash must be ${HASH_SIZE} bytes (got ${cp.rootHash.length})`);
  const lines = [cp.origin, String(cp.size), cp.rootHash.toString('base64')];
  if (cp.time !== undefined) {
    if (!isRealTime(cp.time)) fail('bad-time', `time must be a real RFC 3339 time in UTC, like 2026-01-02T03:04:05.678Z (got '${cp.time}')`);
    lines.push(`${TIME_PREFIX}${cp.time}`);
  }
  lines.push(...(cp.extensions ?? []).map(extensionLine));
  return `${lines.join('\n')}\n`;
}

function extensionLine(e: string): string {
  if (e === '') fail('bad-extension', 'an extension line is empty (it would end the note text)');
  if (e.startsWith(TIME_PREFIX)) fail('bad-extension', 'the time goes in Checkpoint.time, not in extensions');
  checkLine('an extension', e, 'bad-extension');
  return e;
}

/** A C2SP signed note: `text` (ending in a newline), a blank line, one Ed25519 signature line. */
export function signNote(text: string, key: SigningKey, name: string = key.keyId): string {
  if (!text.endsWith('\n') || text.includes('\n\n')) throw new Error('a note text ends with a newline and holds no blank line');
  const signature = sign(null, Buffer.from(text), key.privateKey);
  const blob = Buffer.concat([noteKeyHash(name, key.publicJwk), signature]).toString('base64');
  return `${text}\n${SIGNATURE_PREFIX}${name} ${blob}\n`;
}

/** The signed note of a checkpoint, signed with `key` under the key name `name` (default: its keyId). */
export function signCheckpoint(cp: Checkpoint, key: SigningKey, name: string = key.keyId): string {
  return signNote(formatCheckpoint(cp), key, name);
}

interface SignatureLine { name: string; keyHash: Buffer; signature: Buffer }

function parseSignatureLine(line: string, n: number): SignatureLine {
  if (!line.startsWith(SIGNATURE_PREFIX)) fail('bad-signature-line', `signature line ${n} does not start with '— ' (em dash, space)`);
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.lastIndexOf(' ');
  const name = rest.slice(0, space);
  const b64 = rest.slice(space + 1);
  if (space <= 0 || /[\s+]/u.test(name)) fail('bad-signature-line', `signature line ${n} must be '— <key name> <base64>'`);
  if (!BASE64.test(b64) || b64.length % 4 !== 0) fail('bad-signature-line', `signature line ${n}: the signature is not base64`);
  const blob = Buffer.from(b64, 'base64');
  if (blob.length !== 4 + 64) fail('bad-signature-line', `signature line ${n}: an Ed25519 signature is 4 + 64 bytes (got ${blob.length})`);
  return { name, keyHash: blob.subarray(0, 4), signature: blob.subarray(4) };
}

function parseSize(line: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(line)) fail('bad-size', `the tree size line must be a decimal number without sign or leading zeros (got '${line.slice(0, 40)}')`);
  const size = Number(line);
  if (!Number.isSafeInteger(size)) fail('bad-size', `the tree size ${line.slice(0, 40)} is beyond 2^53 - 1`);
  return size;
}

function parseRoot(line: string): Buffer {
  if (!BASE64.test(line) || line.length % 4 !== 0) fail('bad-root-hash', 'the root hash line is not standard base64');
  const root = Buffer.from(line, 'base64');
  if (root.length !== HASH_SIZE || root.toString('base64') !== line) fail('bad-root-hash', `the root hash must be ${HASH_SIZE} bytes in canonical base64 (got ${root.length} bytes)`);
  return root;
}

/** Text and signature lines of a signed note, each line checked for form. */
function splitNote(note: string): { text: string; body: string[]; signatures: SignatureLine[] } {
  if (Buffer.byteLength(note) > MAX_CHECKPOINT_BYTES) fail('too-large', `a checkpoint note is at most ${MAX_CHECKPOINT_BYTES} bytes`);
  if (/[\r\0]/.test(note) || note.includes('\uFFFD')) fail('not-text', 'the note holds carriage returns, NUL or invalid UTF-8');
  const split = note.indexOf('\n\n');
  if (split < 0) fail('missing-blank-line', 'no blank line between the checkpoint and its signatures');
  const text = note.slice(0, split + 1);
  const sigPart = note.slice(split + 2);
  if (sigPart === '' || sigPart === '\n') fail('no-signature', 'the checkpoint carries no signature line');
  if (!sigPart.endsWith('\n')) fail('bad-signature-line', 'the note must end with a newline after its last signature line');
  const sigLines = sigPart.slice(0, -1).split('\n');
  return { text, body: text.slice(0, -1).split('\n'), signatures: sigLines.map((l, i) => parseSignatureLine(l, i + 1)) };
}

/** The time line of a checkpoint note, without checking the rest (undefined: none, or not a note). */
export function checkpointTime(note: string): string | undefined {
  const end = note.indexOf('\n\n');
  const match = /^time (\S+)$/m.exec(end < 0 ? note : note.slice(0, end));
  return match?.[1];
}

/** An RFC 3339 UTC time that names a real instant: the form, and a calendar date and clock time that exist. */
export const isRealTime = isRealUtcTime;

/** Parses a signed checkpoint note for form only (no signature checked): for display and errors. */
export function parseCheckpoint(note: string): { checkpoint: Checkpoint; text: string; signatures: SignatureLine[] } {
  const { text, body, signatures } = splitNote(note);
  if (body.length < 3) fail('missing-lines', `a checkpoint has at least 3 lines (origin, size, root hash); got ${body.length}`);
  const [origin, sizeLine, rootLine, ...ext] = body as [string, string, string, ...string[]];
  if (origin === '') fail('empty-origin', 'the origin line is empty');
  const checkpoint: Checkpoint = { origin, size: parseSize(sizeLine), rootHash: parseRoot(rootLine) };
  const extensions: string[] = [];
  for (const line of ext) {
    if (line.startsWith(TIME_PREFIX)) {
      const time = line.slice(TIME_PREFIX.length);
      if (checkpoint.time !== undefined) fail('bad-time', 'two time lines');
      if (!isRealTime(time)) fail('bad-time', `the time line must be a real RFC 3339 time in UTC (got '${time.slice(0, 40)}')`);
      checkpoint.time = time;
    } else {
      extensions.push(line);
    }
  }
  if (extensions.length > 0) checkpoint.extensions = extensions;
  return { checkpoint, text, signatures };
}

/**
 * Verifies a signed note's one signature line against the expected key(s): name and key hash must
 * match one verifier, and the signature must verify over the text. Throws CheckpointError.
 */
function checkSignature(text: string, signatures: readonly SignatureLine[], verifiers: NoteVerifier | readonly NoteVerifier[]): void {
  if (signatures.length > 1) fail('extra-signature', `${signatures.length} signature lines: a Guarita checkpoint carries exactly one`);
  const s = signatures[0] as SignatureLine;
  const list: readonly NoteVerifier[] = 'publicKey' in verifiers ? [verifiers] : verifiers;
  const v = list.find((k) => k.name === s.name && k.keyHash.equals(s.keyHash));
  if (v === undefined) fail('unknown-key', `signed by key '${s.name}' (key hash ${s.keyHash.toString('hex')}), which is not the expected key${list.length === 1 ? ` '${list[0]?.name ?? ''}'` : ''}`);
  if (!verify(null, Buffer.from(text), v.publicKey, s.signature)) fail('bad-signature', `the signature by '${s.name}' does not verify: the checkpoint was altered or forged`);
}

/** Verifies any signed note (one signature line) and returns its text. */
export function verifyNote(note: string, verifiers: NoteVerifier | readonly NoteVerifier[]): string {
  const { text, signatures } = splitNote(note);
  checkSignature(text, signatures, verifiers);
  return text;
}

/**
 * Verifies a signed checkpoint: well formed, exactly one signature line, by an expected key (name
 * and key hash), verifying over the note text. Throws CheckpointError naming the first problem;
 * returns the checkpoint. `verifiers` may list several acceptable keys (rotation).
 */
export function verifyCheckpoint(note: string, verifiers: NoteVerifier | readonly NoteVerifier[]): Checkpoint {
  const { checkpoint, text, signatures } = parseCheckpoint(note);
  checkSignature(text, signatures, verifiers);
  return checkpoint;
}

/** The checkpoint's root as lowercase hex (how records and anchors write hashes). */
export function rootHex(cp: Checkpoint): string {
  return cp.rootHash.toString('hex');
}
