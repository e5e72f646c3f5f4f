// The PostgreSQL listener's bound on sessions (GUARITA_PG_MAX_CONNECTIONS). Each session holds a
// backend of the target server, whose max_connections the application shares: without a bound an
// agent could open sessions until the application's own pool is refused. A session holds its slot
// from its StartupMessage until it is wholly closed, including the time its statements' answers
// are still read after the agent left (connection.ts settle, up to ~32 s with no client socket),
// so leaving does not free a slot early. As PostgreSQL does, a newcomer beyond the bound is refused
// at its StartupMessage (53300), and a CancelRequest is never refused for it.

/** GUARITA_PG_MAX_CONNECTIONS's default. */
export const DEFAULT_MAX_CONNECTIONS = 64;

export class ConnectionSlots {
  #held = 0;
  readonly max: number;

  constructor(max: number) {
    if (!Number.isInteger(max) || max <= 0) throw new RangeError(`the PostgreSQL listener's connection bound must be a positive integer (GUARITA_PG_MAX_CONNECTIONS), got ${String(max)}`);
    this.max = max;
  }

  /** Sessions holding a slot now. */
  get held(): number {
    return this.#held;
  }

  /** A slot for one more session; false at the bound. */
  take(): boolean {
    if (this.#held >= this.max) return false;
    this.#held++;
    return true;
  }

  release(): void {
    if (this.#held > 0) this.#held--;
  }
}

/** What a refused newcomer is told (FATAL 53300), naming the setting and the way out. */
export function tooManyConnections(target: string, max: number): string {
  return `sorry, too many clients already: the Guarita sidecar's PostgreSQL listener for target ${target} holds ${max} sessions ` +
    '(GUARITA_PG_MAX_CONNECTIONS, counting sessions whose statements still run after their client left); close one and connect again, or raise the setting';
}

/** What a socket beyond the bound on connections not yet started is told on accept (FATAL 53300). */
export function tooManyUnstarted(target: string, max: number): string {
  return `sorry, too many clients already: the Guarita sidecar's PostgreSQL listener for target ${target} has ${2 * max} connections open, ` +
    `most of them not yet started (GUARITA_PG_MAX_CONNECTIONS is ${max} sessions, and as many again waiting for their startup packet); connect again later`;
}
