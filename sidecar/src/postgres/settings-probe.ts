// The pinned-settings probe. Inside an extended batch the server reports changed settings only
// at its ReadyForQuery, so text sent after a Bind or Execute of the same batch (a Parse, a Query) could
// be lexed under a value nobody reported yet. Before such text, the sidecar reads the pinned
// settings itself, in the batch (a statement and portal of its own, closed after), and ends the
// session if one moved. If the batch already failed the server skips the probe, and the client's
// text with it.
import { serialize } from 'pg-protocol';
import type { BackendMessage, DataRowMessage } from 'pg-protocol/dist/messages.js';
import { PINNED_SERVER_SETTINGS } from '../../../core/policy/pg-settings.ts';
import { RESERVED_PREFIX, type Entry, type PipelineState } from './pipeline-state.ts';
import { pinnedMismatch, pinnedMismatchMessage } from './server-messages.ts';

/** Reads every pinned setting (names are the sidecar's own constants). */
const PINNED_NAMES = Object.keys(PINNED_SERVER_SETTINGS);
export const PROBE_SQL = `SELECT ${PINNED_NAMES.map((n) => `current_setting('${n}')`).join(', ')}`;
const PROBE_PORTAL = `${RESERVED_PREFIX}probe`;
/** Non-data answers of a probe: ParseComplete, BindComplete, CommandComplete, two CloseComplete. */
const PROBE_ACKS = 5;

export class SettingsProbe {
  private probeSeq = 0;

  private readonly s: PipelineState;

  constructor(s: PipelineState) {
    this.s = s;
  }

  /**
   * Probes when the current batch is unsynced and already ran code (Bind, Execute, a Query); resolves once the probe
   * is answered. Undefined when no probe is needed (the statement path awaits only a pending promise).
   */
  ifNeeded(): Promise<void> | undefined {
    const s = this.s;
    if (!s.unsynced || !s.batchRan) return undefined;
    return this.probe();
  }

  private async probe(): Promise<void> {
    const s = this.s;
    s.batchRan = false;
    const name = `${RESERVED_PREFIX}probe.${this.probeSeq++}`;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((r) => { done = r; });
    s.send(serialize.parse({ name, text: PROBE_SQL }), { kind: 'probe', batch: s.batch, acks: 0, done });
    s.io.toUpstream(Buffer.concat([
      serialize.bind({ portal: PROBE_PORTAL, statement: name }), serialize.execute({ portal: PROBE_PORTAL }),
      serialize.close({ type: 'P', name: PROBE_PORTAL }), serialize.close({ type: 'S', name }), serialize.flush(),
    ]));
    await finished;
  }

  /** One upstream answer while a probe is at the head of the queue. */
  async onResponse(e: Extract<Entry, { kind: 'probe' }>, msg: BackendMessage, raw: Buffer): Promise<void> {
    const s = this.s;
    if (msg.name === 'error') {
      // As if the client's own next message had failed: the server skips the batch up to Sync.
      s.shift();
      s.forwardMasked('E', raw, s.session.newMaskSession());
      await s.skipUntilSync(e.batch);
      e.done();
      return;
    }
    if (msg.name === 'dataRow') {
      const values = (msg as DataRowMessage).fields as Array<string | null>;
      for (const [i, setting] of PINNED_NAMES.entries()) {
        const value = values[i] ?? '';
        const mismatch = pinnedMismatch(setting, value);
        if (mismatch === undefined) continue;
        s.log.warn({ setting, value }, 'a pinned setting changed inside an extended batch: closing the session');
        s.io.terminate('42501', pinnedMismatchMessage(setting, value, mismatch.expected));
        e.done();
        return;
      }
      return;
    }
    if (!['parseComplete', 'bindComplete', 'commandComplete', 'closeComplete'].includes(msg.name)) {
      s.refuseMessage(msg);
      e.done();
      return;
    }
    if (++e.acks < PROBE_ACKS) return;
    s.shift();
    e.done();
  }
}
