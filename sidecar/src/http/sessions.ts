// HTTP has no connection-level login: a session is the run of requests made with one credential
// and one declared purpose. Sessions are cached by a hash of both (never the token itself), end
// after an idle period, at the credential's expiry, or when the enforcer closes them (revocation,
// policy change, shutdown); the next request then re-authenticates.
import { createHash } from 'node:crypto';
import type { Enforcer, Session, SessionRefusal } from '../enforcement.ts';

interface Entry { session: Session; lastUsed: number }

export class HttpSessions {
  readonly #enforcer: Enforcer;
  readonly #target: string;
  readonly #idleMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #opening = new Map<string, Promise<{ ok: true; session: Session } | SessionRefusal>>();
  /**
   * The key of the last credential and purpose seen on each agent connection (held only while the
   * connection lives): a connection almost always repeats them, and the key's SHA-256 of a ~1 KB
   * token was the per-request cost of this lookup.
   */
  readonly #lastKey = new WeakMap<object, { credential: string; purpose: string | undefined; key: string }>();
  readonly #timer: NodeJS.Timeout;

  constructor(enforcer: Enforcer, target: string, idleMs = 300_000) {
    this.#enforcer = enforcer;
    this.#target = target;
    this.#idleMs = idleMs;
    this.#timer = setInterval(() => this.#sweep(), Math.min(60_000, idleMs)).unref();
  }

  /**
   * The open session of this credential and purpose, when there is one: without a promise, for
   * the common case of a connection repeating its last request's credential. `connection`: the
   * agent's socket, to remember its last key by.
   */
  cached(credential: string, purpose: string | undefined, connection?: object): Session | undefined {
    const entry = this.#entries.get(this.#key(credential, purpose, connection));
    if (entry === undefined || entry.session.closed.aborted) return undefined;
    entry.lastUsed = Date.now();
    return entry.session;
  }

  /** `connection`: the agent's socket, to remember its last key by. */
  async get(credential: string, purpose: string | undefined, client: { remoteAddress: string; application?: string; connection?: string }, connection?: object): Promise<{ ok: true; session: Session } | SessionRefusal> {
    const session = this.cached(credential, purpose, connection);
    if (session !== undefined) return { ok: true, session };
    const key = this.#key(credential, purpose, connection);
    this.#entries.delete(key);
    let opening = this.#opening.get(key);
    if (opening === undefined) {
      opening = this.#enforcer.openSession({ target: this.#target, credential, ...(purpose === undefined ? {} : { purpose }), client });
      this.#opening.set(key, opening);
      void opening.then((r) => {
        if (r.ok) this.#entries.set(key, { session: r.session, lastUsed: Date.now() });
      }, () => undefined).finally(() => this.#opening.delete(key));
    }
    return opening;
  }

  #key(credential: string, purpose: string | undefined, connection: object | undefined): string {
    const last = connection === undefined ? undefined : this.#lastKey.get(connection);
    if (last !== undefined && last.credential === credential && last.purpose === purpose) return last.key;
    const key = createHash('sha256').update(credential).update('\u0000').update(purpose ?? '\u0001').digest('base64url');
    if (connection !== undefined) this.#lastKey.set(connection, { credential, purpose, key });
    return key;
  }

  #sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.#entries) {
      if (entry.session.closed.aborted) this.#entries.delete(key);
      else if (now - entry.lastUsed > this.#idleMs) {
        this.#entries.delete(key);
        void entry.session.close('idle');
      }
    }
  }

  get size(): number { return this.#entries.size; }

  async closeAll(reason: string): Promise<void> {
    clearInterval(this.#timer);
    const sessions = [...this.#entries.values()].map((e) => e.session);
    this.#entries.clear();
    await Promise.all(sessions.map((s) => s.close(reason)));
  }
}
