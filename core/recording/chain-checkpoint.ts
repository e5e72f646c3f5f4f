// The writers' use of checkpoints (checkpoint.ts): a sidecar signs one per commit group over its
// chain's tree, the operator signs one per policy and commit group over its store log, and both
// check what they read back (the spool after a restart, ingest for every batch) against the tree
// they recomputed. Every refusal names what is wrong. Pure.
import { CheckpointError, noteVerifier, parseCheckpoint, signCheckpoint, verifyCheckpoint, type NoteVerifier } from './checkpoint.ts';
import type { SigningKey } from './keys.ts';
import type { JsonWebKey } from 'node:crypto';

export type ChainCheckpointProblem = 'bad-checkpoint' | 'checkpoint-origin' | 'checkpoint-size' | 'root-mismatch' | 'checkpoint-signature';

export interface ChainCheckpointFailure { problem: ChainCheckpointProblem; detail: string }

/** What a checkpoint must say, and who must have signed it. */
export interface ExpectedCheckpoint { origin: string; size: number; root: Buffer; verifier: NoteVerifier }

/** Signs "the log `origin` has `size` leaves with root `root`" at `time`, under the key's keyId. */
export function signChainCheckpoint(origin: string, size: number, root: Buffer, key: SigningKey, time: Date): string {
  return signCheckpoint({ origin, size, rootHash: root, time: time.toISOString() }, key);
}

/** The verifier of checkpoints signed by a chain (or store) key, named by its keyId. */
export function checkpointVerifier(publicJwk: JsonWebKey, keyId: string): NoteVerifier {
  return noteVerifier(publicJwk, keyId);
}

const SIGNATURE_PROBLEMS = new Set(['unknown-key', 'bad-signature', 'extra-signature']);

/**
 * Checks a signed checkpoint against the tree its reader recomputed: well formed, for this log,
 * this size and this root, and signed by the expected key (one signature verification).
 */
export function checkChainCheckpoint(note: unknown, expected: ExpectedCheckpoint): ChainCheckpointFailure | undefined {
  if (typeof note !== 'string') return { problem: 'bad-checkpoint', detail: 'the checkpoint must be a signed note (a string)' };
  try {
    const { checkpoint } = parseCheckpoint(note);
    if (checkpoint.origin !== expected.origin) return { problem: 'checkpoint-origin', detail: `the checkpoint is for log '${checkpoint.origin.slice(0, 200)}', not '${expected.origin}'` };
    if (checkpoint.size !== expected.size) return { problem: 'checkpoint-size', detail: `the checkpoint is for tree size ${checkpoint.size}, the records end at size ${expected.size}` };
    if (!checkpoint.rootHash.equals(expected.root)) {
      return { problem: 'root-mismatch', detail: `the checkpoint's root ${checkpoint.rootHash.toString('hex').slice(0, 16)}… is not the root of the records (${expected.root.toString('hex').slice(0, 16)}…): a record was altered, dropped, inserted or reordered` };
    }
    verifyCheckpoint(note, expected.verifier);
    return undefined;
  } catch (err) {
    if (!(err instanceof CheckpointError)) throw err;
    return { problem: SIGNATURE_PROBLEMS.has(err.problem) ? 'checkpoint-signature' : 'bad-checkpoint', detail: err.message };
  }
}
