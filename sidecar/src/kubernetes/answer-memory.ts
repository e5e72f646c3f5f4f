// The memory the Kubernetes listener may spend on answers in flight: JSON answers (objects, list
// pages, Tables, watch events) being parsed and masked, and masked answers waiting for their agent.
// Bounded by what the container has (round 11 review, finding 4: a budget of 4 × 64 MiB of raw bytes
// was the injected container's whole limit, and masking costs several times an answer's bytes):
//  - the limit is the container's (cgroup v2 memory.max, v1 memory.limit_in_bytes), else the
//    GUARITA_KUBE_MEMORY_LIMIT setting (default 256 MiB, the injector's default limit);
//  - the budget is half of what the limit leaves above the process's size when the listener starts
//    (the other half is headroom for the rest of the sidecar and for garbage not yet collected);
//  - an answer being masked is charged MASKING_COST × its bytes (measured, see below) from its first
//    byte read; a masked answer waiting for its agent, its own bytes;
//  - at most one large answer (over LARGE_ANSWER bytes) is masked at a time; others wait for it
//    (their bytes stay in the apiserver's socket), and are refused (503, Retry-After) past WAIT_MS;
//  - the bytes of all answers being read or held stay, as before, under 4 × GUARITA_KUBE_MAX_RESPONSE
//    (the raw cap), whichever bound is reached first.
import { readFileSync } from 'node:fs';

/**
 * Peak memory of masking an answer, per byte of it: the raw bytes, their text, the parsed tree, the
 * redacted and masked copies, the masked text and its bytes. Measured (heap + external, every step
 * kept alive, Node 24): a list of 24 ConfigMaps of 1 MB 5.0×, of 2 000 ConfigMaps of 100 short keys
 * 6.3×, of 20 000 Pods 9.6× (small objects cost more parsed than as text).
 */
export const MASKING_COST = 10;
/** Answers over this many bytes are masked one at a time. */
export const LARGE_ANSWER = 1024 * 1024;
/** How long an answer waits for the large-answer slot before it is refused (503). */
export const WAIT_MS = 20_000;
/** The container limit assumed when the cgroup states none (the injector's default limits.memory). */
export const DEFAULT_MEMORY_LIMIT = 256 * 1024 * 1024;
const NO_LIMIT = 2 ** 60;

/** The container's memory limit from its cgroup (v2, then v1); undefined when it states none. */
export function cgroupMemoryLimit(read: (path: string) => string = (p) => readFileSync(p, 'utf8')): number | undefined {
  for (const path of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    let text: string;
    try {
      text = read(path).trim();
    } catch {
      continue;
    }
    const n = Number(text);
    if (text !== 'max' && Number.isSafeInteger(n) && n > 0 && n < NO_LIMIT) return n;
  }
  return undefined;
}

/** Half of what `limit` leaves above `baseline` (the process's size now). */
export function answerBudget(limit: number, baseline: number): number {
  return Math.max(0, Math.floor((limit - baseline) / 2));
}

/** An answer refused for memory: `retry` when waiting may help (the budget is busy), not when it can never fit. */
export class MemoryRefusal extends Error {
  readonly retry: boolean;
  constructor(message: string, retry: boolean) {
    super(message);
    this.retry = retry;
  }
}

export class AnswerMemory {
  readonly budget: number;
  /** Bytes (not their cost) of all answers being read or held: 4 × GUARITA_KUBE_MAX_RESPONSE. */
  readonly rawCap: number;
  readonly #source: string;
  #charged = 0;
  #raw = 0;
  /** The large-answer slot: its holder's release resolves the next waiter. */
  #slotHeld = false;
  readonly #waiting: (() => void)[] = [];

  /** `source` says where the limit came from, for the refusals' messages. */
  constructor(budget: number, source: string, rawCap = Number.POSITIVE_INFINITY) {
    this.budget = budget;
    this.rawCap = rawCap;
    this.#source = source;
  }

  get charged(): number {
    return this.#charged;
  }

  /**
   * Charges `raw` bytes of an answer costing `bytes` (its raw bytes times what they cost), for an
   * answer that already has `own` charged; refused beyond the budget or the raw cap, charging
   * nothing: for good (no Retry-After) when the answer alone is over the budget, else for now.
   */
  charge(bytes: number, own = 0, raw = bytes): void {
    if (this.#raw + raw > this.rawCap) {
      throw new MemoryRefusal(`guarita: the proxy already holds ${this.#raw} bytes of answers being masked or not yet read by agents (limit ${this.rawCap}, 4 × GUARITA_KUBE_MAX_RESPONSE); retry shortly, or page the list (kubectl --chunk-size)`, true);
    }
    if (own + bytes > this.budget) {
      throw new MemoryRefusal(`guarita: this answer needs more memory to be masked than the proxy may spend on answers (${this.budget} bytes, from ${this.#source}); page the list (kubectl --chunk-size, ?limit=)`, false);
    }
    if (this.#charged + bytes > this.budget) {
      throw new MemoryRefusal(`guarita: the proxy is masking or holding ${this.#charged} bytes of answers (budget ${this.budget}, from ${this.#source}); retry shortly, or page the list (kubectl --chunk-size)`, true);
    }
    this.#charged += bytes;
    this.#raw += raw;
  }

  /** Gives back what charge(bytes, _, raw) took. */
  release(bytes: number, raw = bytes): void {
    this.#charged = Math.max(0, this.#charged - bytes);
    this.#raw = Math.max(0, this.#raw - raw);
  }

  /** Waits for the large-answer slot (at most WAIT_MS, or until `signal` aborts); returns its release. */
  async largeSlot(signal: AbortSignal, waitMs = WAIT_MS): Promise<() => void> {
    if (this.#slotHeld) await this.#wait(signal, waitMs);
    this.#slotHeld = true;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next === undefined) this.#slotHeld = false;
      else next();
    };
  }

  #wait(signal: AbortSignal, waitMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const give = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', abort);
        resolve();
      };
      const leave = (err: Error): void => {
        const i = this.#waiting.indexOf(give);
        if (i >= 0) this.#waiting.splice(i, 1);
        signal.removeEventListener('abort', abort);
        clearTimeout(timer);
        reject(err);
      };
      const abort = (): void => leave(signal.reason instanceof Error ? signal.reason : new Error('the client closed the connection'));
      const timer = setTimeout(() => leave(new MemoryRefusal(`guarita: another large answer is being masked (one at a time, within ${this.budget} bytes from ${this.#source}); retry shortly, or page the list (kubectl --chunk-size)`, true)), waitMs);
      timer.unref();
      signal.addEventListener('abort', abort, { once: true });
      this.#waiting.push(give);
    });
  }
}

/**
 * The listener's answer memory: from the cgroup's limit, else `setting` (GUARITA_KUBE_MEMORY_LIMIT),
 * else the default; `rawCap` bounds the answers' bytes as well (4 × GUARITA_KUBE_MAX_RESPONSE).
 */
export function answerMemory(setting: number | undefined, rawCap: number, baseline = process.memoryUsage.rss(), cgroup = cgroupMemoryLimit()): AnswerMemory {
  const [limit, source] = cgroup !== undefined
    ? [cgroup, `the container's memory limit ${cgroup}`]
    : setting !== undefined ? [setting, `GUARITA_KUBE_MEMORY_LIMIT ${setting}`] : [DEFAULT_MEMORY_LIMIT, `GUARITA_KUBE_MEMORY_LIMIT's default ${DEFAULT_MEMORY_LIMIT}`];
  return new AnswerMemory(answerBudget(limit, baseline), source, rawCap);
}

/**
 * What one answer being read and masked is charged: MASKING_COST × its bytes so far, and the
 * large-answer slot once it passes LARGE_ANSWER. end() gives both back (always call it).
 */
export class MaskingCharge {
  readonly #memory: AnswerMemory;
  readonly #signal: AbortSignal;
  #bytes = 0;
  #charged = 0;
  #raw = 0;
  #slot: (() => void) | undefined;

  constructor(memory: AnswerMemory, signal: AbortSignal) {
    this.#memory = memory;
    this.#signal = signal;
  }

  /** Charges `bytes` more of the answer; waits for the slot first when they make it large. */
  async add(bytes: number): Promise<void> {
    this.#bytes += bytes;
    if (this.#bytes > LARGE_ANSWER && this.#slot === undefined) this.#slot = await this.#memory.largeSlot(this.#signal);
    this.#memory.charge(bytes * MASKING_COST, this.#charged, bytes);
    this.#charged += bytes * MASKING_COST;
    this.#raw += bytes;
  }

  end(): void {
    this.#memory.release(this.#charged, this.#raw);
    this.#charged = 0;
    this.#raw = 0;
    this.#slot?.();
    this.#slot = undefined;
  }
}
