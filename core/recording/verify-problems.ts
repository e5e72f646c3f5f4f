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
 */
export class ProblemList {
  readonly kept: BadRecord[] = [];
  #more = 0;
  #first: BadRecord | undefined;
  /** Where a problem that names no line sorts: format 1 puts it first, format 2 last. */
  readonly #unlined: number;

  constructor(unlined: number) {
    this.#unlined = unlined;
  }

  add(b: BadRecord): void {
    if (this.kept.length < KEPT_PROBLEMS) this.kept.push(b);
    else this.#more++;
    if (this.#first === undefined || (b.line ?? this.#unlined) < (this.#first.line ?? this.#unlined)) this.#first = b;
  }

  get count(): number { return this.kept.length + this.#more; }

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
