// The problems one verification of an export finds, kept within bounded memory, and the problem
// given for a line the checks could not read. Shared by the format 1 and format 2 verifiers.
import type { BadRecord, ExportVerdict } from './export-verify-v1.ts';

/** Problems a verdict keeps in full; the others are counted (moreProblems). */
export const KEPT_PROBLEMS = 100;

/**
 * The problems of one verification: the first KEPT_PROBLEMS in full and a count of the rest, so a
 * file of millions of bad lines costs no memory per line (review 27: 1.75 GB for a 20 MB file of
 * junk lines), and the one at the earliest line, wherever it was found (a run's root fails at the
 * run's end, on its proof line): that one is the verdict's first bad record even when it was found
 * after the kept ones.
 *
 * Problems naming no line (the --anchor/--policy mismatch, no valid manifest, records not in the
 * manifest) are found once the file is read, after every lined one: they are kept apart, KEPT_PROBLEMS
 * of them, so junk lines appended by a forger cannot push out the one that says why the file fails
 * (review 29: "truncated" was shown where "re-signed with another store key" was the cause).
 */
export class ProblemList {
  readonly #lined: BadRecord[] = [];
  readonly #unlined: BadRecord[] = [];
  #more = 0;
  #first: BadRecord | undefined;
  /** Where a problem that names no line sorts: format 1 puts it first, format 2 last. */
  readonly #unlinedAt: number;

  constructor(unlined: number) {
    this.#unlinedAt = unlined;
  }

  add(b: BadRecord): void {
    const kept = b.line === undefined ? this.#unlined : this.#lined;
    if (kept.length < KEPT_PROBLEMS) kept.push(b);
    else this.#more++;
    if (this.#first === undefined || (b.line ?? this.#unlinedAt) < (this.#first.line ?? this.#unlinedAt)) this.#first = b;
  }

  /** A problem found outside the file's lines (the trust given): the first bad one only when there is no other. */
  addLast(b: BadRecord): void {
    const first = this.#first;
    this.add(b);
    this.#first = first ?? b;
  }

  get count(): number { return this.#lined.length + this.#unlined.length + this.#more; }

  /** The kept problems: those naming a line, then those naming none. */
  get kept(): BadRecord[] { return [...this.#lined, ...this.#unlined]; }

  /** The verdict's members: ok, the kept problems, how many more, and the first. */
  verdict(): Pick<ExportVerdict, 'ok' | 'problems' | 'moreProblems' | 'firstBad'> {
    return {
      ok: this.count === 0, problems: this.kept,
      ...(this.#more === 0 ? {} : { moreProblems: this.#more }),
      ...(this.#first === undefined ? {} : { firstBad: this.#first }),
    };
  }
}

/** The problem of a line checking it threw on: what was thrown, and that the line is refused for it. */
export function unreadableLine(err: unknown): string {
  const what = err instanceof RangeError && /call stack/i.test(err.message) ? 'it is nested too deeply' : err instanceof Error ? err.message : String(err);
  return `the line could not be checked (${what}): no export the operator writes holds such a line, so it is refused (altered or forged)`;
}
