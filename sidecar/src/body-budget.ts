// Request bodies a listener holds in memory to judge them (and bind them to approvals) are charged
// to one budget per listener, and each must arrive within a deadline: connections that declare a
// body and stall short of its end held the sidecar's memory for the whole request timeout (round 9
// review: 300 such connections grew the sidecar by 337 MiB, past the pod's 256Mi limit, and an OOM
// kill cuts every target of the pod). Beyond the budget a request is answered 503; past the
// deadline, 408.

/** How many maximum-size bodies a listener holds at once (16 MiB at the default 1 MiB). */
export const BODIES_HELD = 16;

/** How long a body may take to arrive once its headers have: far longer than any agent on loopback needs. */
export const BODY_DEADLINE_MS = 30_000;

/** One request's share of the budget, released once when its exchange ends. */
export interface BodyHold {
  /** Charges `bytes`; false (nothing charged) when the listener's budget would be exceeded. */
  take(bytes: number): boolean;
  release(): void;
}

export class BodyBudget {
  readonly limit: number;
  #held = 0;

  constructor(maxBufferedBody: number) {
    this.limit = BODIES_HELD * maxBufferedBody;
  }

  /** Bytes of request bodies held now (for the refusal's message and tests). */
  get held(): number {
    return this.#held;
  }

  open(): BodyHold {
    let mine = 0;
    let released = false;
    return {
      take: (bytes) => {
        if (released || this.#held + bytes > this.limit) return false;
        this.#held += bytes;
        mine += bytes;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.#held -= mine;
        mine = 0;
      },
    };
  }

  /** The refusal's text when a take fails (the setting that raises the budget named). */
  overMessage(): string {
    return `guarita: the sidecar already holds ${this.#held} bytes of request bodies being read (limit ${this.limit}, ${BODIES_HELD} × GUARITA_HTTP_MAX_BUFFERED_BODY); retry shortly`;
  }
}

export function bodyDeadlineMessage(): string {
  return `guarita: the request body did not arrive within ${BODY_DEADLINE_MS / 1000} s of its headers; send the whole body at once`;
}
