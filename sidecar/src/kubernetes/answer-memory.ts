// The memory the Kubernetes listener may spend on answers in flight: JSON answers (objects, list
// pages, Tables, watch events) being parsed and masked, and masked answers waiting for their agent.
// Bounded by what the container has (round 11 review, finding 4: a budget of 4 × 64 MiB of raw bytes
// was the injected container's whole limit, and masking costs several times an answer's bytes):
//  - the limit is the container's (cgroup v2 memory.max, v1 memory.limit_in_bytes), else the
//    GUARITA_KUBE_MEMORY_LIMIT setting (default 256 MiB, the injector's default limit);
//  - the budget is half of what the limit leaves above the process's size when the listener starts
//    (the other half is headroom for the rest of the sidecar and for garbage not yet collected);
//  - an answer being masked is charged MASKING_COST × its bytes (measured, see below) from its first
//    byte read, and once parsed, more for the text the engine reads in extra views (answerExtraCost:
//    round 11b review, finding 3); a masked answer waiting for its agent, its own bytes;
//  - at most one large answer (over LARGE_ANSWER bytes) is masked at a time; others wait for it
//    (their bytes stay in the apiserver's socket), and are refused (503, Retry-After) past WAIT_MS;
//  - the bytes of all answers being read or held stay, as before, under 4 × GUARITA_KUBE_MAX_RESPONSE
//    (the raw cap), whichever bound is reached first.
import { readFileSync } from 'node:fs';
import { mayReverse } from '../../../core/masking/bidi.ts';
import { needsDecoding } from '../../../core/masking/decode.ts';

/**
 * Peak memory of masking an answer, per byte of it: the raw bytes, their text, the parsed tree, the
 * redacted and masked copies, the masked text and its bytes. Measured (heap + external, every step
 * kept alive, Node 24): a list of 24 ConfigMaps of 1 MB 5.0×, of 2 000 ConfigMaps of 100 short keys
 * 6.3×, of 20 000 Pods 9.6× (small objects cost more parsed than as text). As peak RSS (round 11b,
 * below): long plain text 5–8×; the many values of small objects are charged VALUE_COST each on top.
 */
export const MASKING_COST = 10;
/**
 * What text costs to mask beyond MASKING_COST per character, for each kind of view the engine also reads it
 * in; added up when a text has several. Peak RSS growth of masking an answer, per byte of it (Node 24, one
 * answer per process: bench/answer-memory.ts, a ConfigMap or list of 6–20 MB of each kind; round 11b
 * review, finding 3). Decoded (escapes, percent-encoding, character references: decode.ts's needsDecoding):
 * `%20` every few characters 16.6×.
 */
export const DECODED_TEXT_EXTRA = 10;
/**
 * Text holding NUL (or the text `\u0000`: UTF-16 read as UTF-8, per byte order, utf16.ts): UTF-16LE, BE and
 * at an odd offset in binaryData 28–31× the answer's bytes (~41× the decoded text's).
 */
export const NUL_TEXT_EXTRA = 40;
/**
 * More for NUL-holding text whose UTF-16 readings the engine also decodes or reads reversed (percent escapes,
 * right-to-left overrides, invisible characters as UTF-16 units): with `%20` 41× the answer's bytes, with an
 * RLO every word 53–61× (~81× the decoded text's).
 */
export const NUL_VIEWS_DECODED_EXTRA = 40;
/** Text holding a right-to-left override (also read reversed, bidi.ts): one every word 42×; with NUL (UTF-16) 61× (~81× its decoded text's). */
export const REVERSED_TEXT_EXTRA = 40;
/**
 * Text holding a backspace: the engine also reads it erased (decode.ts). 23–31× its bytes at 2.5–10 MB
 * (bench/answer-memory.ts bs); it was superlinear (264× and 22 s at 760 KB) until the erasing view was
 * written in place (round 11b).
 */
export const BACKSPACE_TEXT_EXTRA = 30;
/**
 * Per key and per value (string, number, boolean, null, object, array) of the parsed answer, beyond its
 * bytes: each is a node of the parsed tree and of every copy of it (redacted, masked), whatever its size.
 * Measured: one object of 570 000 one-letter keys 75× its bytes, of 400 000 keyword keys (cpf0, email0,
 * …) with short values 50–52×, a list of 20 000 small Pods 31×, OpenAPI v2 (2.1 MB) 32×, OpenAPI v3 /api/v1
 * (1.4 MB) 24×.
 */
export const VALUE_COST = 550;
/**
 * Per identifier-shaped run in a text (a digit run of 8 or more characters with the separators layouts use, or an
 * `@`): what masking one costs beyond the text's bytes — its hit, its placed span, its rendered mask, the residue
 * pass's record of where it went (core/masking/residue.ts). A long text of them is charged per run: peak RSS growth
 * of `cpf 529.982.247-25 tel (11) 91234-5678 ` repeated (bench/answer-memory.ts masks) 45× its bytes, of e-mails,
 * CPFs and phones glued (glued) 64× (31× and 23× before the residue pass: already above MASKING_COST's 10×), ~770
 * bytes per identifier both.
 */
export const IDENTIFIER_COST = 1000;
/** What IDENTIFIER_COST counts: cheap, and never fewer than the identifiers masked (every one holds such a run or an `@`). */
const IDENTIFIER_SHAPE = /@|[0-9][0-9 .()/+-]{6,}[0-9]/g;

/** How many identifier-shaped runs `s` holds (IDENTIFIER_SHAPE). */
export function identifierShapes(s: string): number {
  IDENTIFIER_SHAPE.lastIndex = 0;
  let n = 0;
  while (IDENTIFIER_SHAPE.exec(s) !== null) n++;
  return n;
}

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

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Where the masking decodes base64 and masks the text (kubernetes-response.ts): binaryData, and a revealed Secret's data. */
const BASE64_MAPS = new Set(['binaryData', 'data']);

function holdsNul(s: string): boolean {
  return s.includes('\0') || s.includes('\\u0000');
}

/** A NUL-holding text read this many characters at a time (with OVERLAP more) for its UTF-16 readings. */
const VIEW_SLICE = 64 * 1024;
const OVERLAP = 16;

/** What the engine would decode or reverse in a reading of text. */
function decodesOrReverses(v: string): boolean {
  return needsDecoding(v) || mayReverse(v);
}

/**
 * Whether a reading of NUL-holding `s` as UTF-16 (either byte order, either alignment) or with its NULs
 * dropped holds what the engine decodes or reverses: it reads all of them (utf16.ts). Read a slice at a time,
 * overlapping, so the scan holds little and no escape hides at a boundary.
 */
function nulViewsDecode(s: string): boolean {
  for (let i = 0; i < s.length; i += VIEW_SLICE) {
    const piece = s.slice(i, i + VIEW_SLICE + OVERLAP);
    if (decodesOrReverses(piece.replaceAll('\0', ''))) return true;
    const bytes = Buffer.from(piece, 'latin1');
    for (const aligned of [bytes.subarray(0, bytes.length & ~1), bytes.subarray(1, 1 + ((bytes.length - 1) & ~1))]) {
      if (decodesOrReverses(aligned.toString('utf16le')) || decodesOrReverses(Buffer.from(aligned).swap16().toString('utf16le'))) return true;
    }
  }
  return false;
}

function nulExtra(s: string): number {
  if (!holdsNul(s)) return 0;
  return NUL_TEXT_EXTRA + (nulViewsDecode(s) ? NUL_VIEWS_DECODED_EXTRA : 0);
}

/**
 * What masking text `s` costs beyond MASKING_COST per character: the extras of the views the engine reads it in, and
 * its identifier-shaped runs.
 */
function textExtraCost(s: string): number {
  const rate = (s.includes('\b') ? BACKSPACE_TEXT_EXTRA : 0) + nulExtra(s) + (mayReverse(s) ? REVERSED_TEXT_EXTRA : 0) + (needsDecoding(s) ? DECODED_TEXT_EXTRA : 0);
  return rate * s.length + IDENTIFIER_COST * identifierShapes(s);
}

/**
 * What one key or string value costs beyond its bytes: VALUE_COST, and its text's extra views; a string
 * where the masking may decode base64 (`base64`: a ConfigMap's data is text, its binaryData base64) by the
 * costlier of itself and the text it decodes to (decoded whole: a slice boundary could split the one
 * character that makes it costly).
 */
function stringExtraCost(s: string, base64: boolean): number {
  const own = textExtraCost(s);
  if (!base64 || s.length === 0 || !BASE64.test(s)) return VALUE_COST + own;
  return VALUE_COST + Math.max(own, textExtraCost(Buffer.from(s, 'base64').toString('utf8')));
}

/** The members of an object or an array, each with whether it is base64 the masking decodes (pushed onto `stack`). */
function pushMembers(v: object, base64: boolean, stack: [unknown, boolean][]): number {
  if (Array.isArray(v)) {
    for (const item of v) stack.push([item, false]);
    return 0;
  }
  let keys = 0;
  for (const [k, item] of Object.entries(v)) {
    keys += stringExtraCost(k, false);
    // A binaryData (or data) map's strings are base64; what lies deeper is not.
    stack.push([item, typeof item === 'string' ? base64 : BASE64_MAPS.has(k)]);
  }
  return keys;
}

/**
 * What masking a parsed answer costs beyond MASKING_COST × its bytes: VALUE_COST for each key, value,
 * object and array (the parsed tree and its copies), and for text the engine reads in extra views
 * (the *_TEXT_EXTRA per character), found by the engine's own cheap
 * tests for them; base64 where the masking decodes it (binaryData, Secret data) counts by what it decodes
 * to. Walked with a stack, not recursion: any depth JSON.parse accepts is scanned.
 */
export function answerExtraCost(value: unknown): number {
  let cost = 0;
  const stack: [unknown, boolean][] = [[value, false]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, base64] = top;
    if (typeof v === 'string') cost += stringExtraCost(v, base64);
    else if (v !== null && typeof v === 'object') cost += VALUE_COST + pushMembers(v, base64, stack);
    else cost += VALUE_COST;
  }
  return cost;
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

  /** Charges `cost` more for what the answer holds (answerExtraCost), once it is read; refused as add() is. */
  addCost(cost: number): void {
    if (cost <= 0) return;
    this.#memory.charge(cost, this.#charged, 0);
    this.#charged += cost;
  }

  end(): void {
    this.#memory.release(this.#charged, this.#raw);
    this.#charged = 0;
    this.#raw = 0;
    this.#slot?.();
    this.#slot = undefined;
  }
}
