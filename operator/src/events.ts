// Kubernetes Events: the operator's notifications (`kubectl describe`, `kubectl get events`, and
// any Event exporter that forwards them to Slack or e-mail; see docs/recording.md, "Notifications").
// Repeats of one reason on one object are rate-limited so an alerting condition cannot flood the
// apiserver; suppressed repeats are counted into the next message.
//
// Writes wait in one bounded line per namespace, served round-robin (round 11 review, finding 3:
// one global line that dropped its oldest let one agent's flood of ApprovalRequests push other
// teams' ApprovalRequested Events, their approvers' cue, out before they were written). A full line
// sheds only its own Events: routine ones first, then repeats of one reason from one requester
// collapsed into the oldest waiting one ("+N more ... from agent-a"), an approval transition only
// when its namespace holds nothing else to shed. Shedding is counted
// (guarita_events_shed_total) and logged once per interval per namespace.
import { randomBytes } from 'node:crypto';
import { kubeTime } from '../../core/duration.ts';
import { paths, type KubeApi } from './kube/client.ts';
import type { Metrics } from './metrics.ts';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
  resourceVersion?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface OperatorEvent { ref: ObjectRef; type: EventType; reason: string; message: string }

/** An in-process hook for notifications beyond Events (Slack, e-mail): see docs/recording.md. */
export interface Notifier {
  notify(event: OperatorEvent): void | Promise<void>;
}

export interface EventLogger { warn(obj: object, msg: string): void }

export interface EmitOptions {
  /** An approval transition (the approvers' cue): shed only when its namespace waits on nothing routine. */
  priority?: boolean;
  /**
   * Who caused the Event (an ApprovalRequest's requester). When its namespace's line is full,
   * waiting Events of one reason and one `by` are collapsed into the oldest of them.
   */
  by?: string;
}

export interface RecorderOptions {
  component: string;
  instance: string;
  log: EventLogger;
  /** Minimum interval between two Events with the same object and reason. */
  repeatIntervalMs?: number;
  notifiers?: Notifier[];
  now?: () => number;
  /** guarita_events_shed_total (main.ts passes the operator's metrics). */
  metrics?: Pick<Metrics, 'eventsShed'>;
  /** Events waiting to be written, per namespace and in all (tests; defaults below). */
  maxWaitingPerNamespace?: number;
  maxWaiting?: number;
}

const MAX_MESSAGE = 1024;
/** Event writes in flight at once. */
const MAX_IN_FLIGHT = 8;
/** Events waiting per namespace, and in all (a backstop when many namespaces are busy at once). */
const MAX_WAITING_PER_NAMESPACE = 100;
const MAX_WAITING = 2000;
/** A namespace's shedding is logged at most once per this interval (the metric counts every one). */
const SHED_LOG_INTERVAL_MS = 60_000;

export interface WaitingEvent {
  ref: ObjectRef;
  type: EventType;
  reason: string;
  message: string;
  at: number;
  priority: boolean;
  by?: string;
  /** Events of the same reason and `by` collapsed into this one. */
  collapsed: number;
}

/** dropped: a routine Event; collapsed: counted into an earlier one; transition_dropped: an approval transition (nothing else to shed). */
export type ShedOutcome = 'dropped' | 'collapsed' | 'transition_dropped';

/** The message as written: the collapsed count is kept even when the message is cut. */
export function eventMessage(e: WaitingEvent): string {
  const note = e.collapsed === 0 ? '' : ` [+${e.collapsed} more ${e.reason} Event(s) from ${e.by ?? '?'} collapsed into this one: namespace ${e.ref.namespace} had too many Events waiting]`;
  return e.message.slice(0, Math.max(0, MAX_MESSAGE - note.length)) + note;
}

const groupOf = (e: WaitingEvent): string | undefined => (e.by === undefined ? undefined : `${e.reason}\u0000${e.by}`);

/** Collapses the newest waiting Event of the largest group of repeats into that group's oldest; false when no group has two. */
function collapseRepeats(line: WaitingEvent[]): boolean {
  const members = new Map<string, number[]>();
  for (const [i, e] of line.entries()) {
    const g = groupOf(e);
    if (g === undefined) continue;
    const list = members.get(g);
    if (list === undefined) members.set(g, [i]);
    else list.push(i);
  }
  const largest = [...members.values()].reduce<number[]>((a, b) => (b.length > a.length ? b : a), []);
  if (largest.length < 2) return false;
  const carrier = line[largest[0] as number] as WaitingEvent;
  const [newest] = line.splice(largest[largest.length - 1] as number, 1);
  carrier.collapsed += 1 + (newest?.collapsed ?? 0);
  return true;
}

/**
 * What a full line gives up, all of its own: its oldest routine Event; else a repeat collapsed
 * into its group; else (only approval transitions of distinct requesters wait) its oldest.
 */
export function shedOne(line: WaitingEvent[]): ShedOutcome {
  const routine = line.findIndex((e) => !e.priority);
  if (routine >= 0) {
    line.splice(routine, 1);
    return 'dropped';
  }
  if (collapseRepeats(line)) return 'collapsed';
  line.shift();
  return 'transition_dropped';
}

/**
 * Waiting Events, one bounded line per namespace served round-robin. What a full line sheds is
 * its own (shedOne); past the overall bound the longest line sheds, never a shorter one.
 */
export class NamespaceLines {
  readonly #lines = new Map<string, WaitingEvent[]>();
  /** Namespaces with waiting Events, in serving order. */
  readonly #turns: string[] = [];
  readonly #perNamespace: number;
  readonly #total: number;
  #length = 0;

  constructor(perNamespace: number, total: number) {
    this.#perNamespace = perNamespace;
    this.#total = total;
  }

  get length(): number { return this.#length; }

  /** Queues `e`; returns what was shed to make room (namespace and outcome), if anything. */
  push(e: WaitingEvent): { namespace: string; outcome: ShedOutcome }[] {
    const ns = e.ref.namespace;
    const line = this.#lines.get(ns) ?? [];
    if (line.length === 0) {
      this.#lines.set(ns, line);
      this.#turns.push(ns);
    }
    line.push(e);
    this.#length++;
    const shed: { namespace: string; outcome: ShedOutcome }[] = [];
    if (line.length > this.#perNamespace) shed.push(this.#shed(ns, line));
    if (this.#length > this.#total) shed.push(this.#shed(...this.#longest()));
    return shed;
  }

  shift(): WaitingEvent | undefined {
    const ns = this.#turns.shift();
    if (ns === undefined) return undefined;
    const line = this.#lines.get(ns) ?? [];
    const e = line.shift();
    this.#length--;
    if (line.length > 0) this.#turns.push(ns);
    else this.#lines.delete(ns);
    return e;
  }

  #shed(ns: string, line: WaitingEvent[]): { namespace: string; outcome: ShedOutcome } {
    const outcome = shedOne(line);
    this.#length--;
    return { namespace: ns, outcome };
  }

  #longest(): [string, WaitingEvent[]] {
    let best: [string, WaitingEvent[]] = ['', []];
    for (const entry of this.#lines) if (entry[1].length > best[1].length) best = entry;
    return best;
  }
}

export class EventRecorder {
  readonly #api: KubeApi;
  readonly #opts: RecorderOptions;
  readonly #last = new Map<string, { at: number; suppressed: number }>();
  readonly #waiting: NamespaceLines;
  /** Shedding per namespace since it was last logged. */
  readonly #shedLog = new Map<string, { loggedAt: number } & Record<ShedOutcome, number>>();
  #inFlight = 0;

  constructor(api: KubeApi, opts: RecorderOptions) {
    this.#api = api;
    this.#opts = opts;
    this.#waiting = new NamespaceLines(opts.maxWaitingPerNamespace ?? MAX_WAITING_PER_NAMESPACE, opts.maxWaiting ?? MAX_WAITING);
  }

  /** Fire and forget: an Event that cannot be written is logged, never fails the caller. */
  emit(ref: ObjectRef, type: EventType, reason: string, message: string, opts: EmitOptions = {}): void {
    const now = (this.#opts.now ?? Date.now)();
    const suppressed = this.#throttle(`${ref.kind}/${ref.namespace}/${ref.name}/${reason}`, now);
    if (suppressed === undefined) return;
    const text = suppressed > 0 ? `${message} (${suppressed} similar event(s) suppressed)` : message;
    this.#enqueue({ ref, type, reason, message: text, at: now, priority: opts.priority === true, ...(opts.by === undefined ? {} : { by: opts.by }), collapsed: 0 });
    this.#notify({ ref, type, reason, message: text });
  }

  /** undefined: suppress this one; else how many were suppressed since the last one sent. */
  #throttle(key: string, now: number): number | undefined {
    const last = this.#last.get(key);
    if (last !== undefined && now - last.at < (this.#opts.repeatIntervalMs ?? 0)) {
      last.suppressed++;
      return undefined;
    }
    this.#last.set(key, { at: now, suppressed: 0 });
    if (this.#last.size > 10_000) this.#last.delete(this.#last.keys().next().value ?? '');
    return last?.suppressed ?? 0;
  }

  #notify(e: OperatorEvent): void {
    const { ref, type, reason, message: text } = e;
    for (const n of this.#opts.notifiers ?? []) {
      Promise.resolve(n.notify({ ref, type, reason, message: text })).catch((err: unknown) => this.#opts.log.warn({ err: String(err) }, 'notifier failed'));
    }
  }

  #enqueue(e: WaitingEvent): void {
    for (const { namespace, outcome } of this.#waiting.push(e)) this.#shed(namespace, outcome, e.at);
    this.#pump();
  }

  #shed(namespace: string, outcome: ShedOutcome, now: number): void {
    this.#opts.metrics?.eventsShed.inc({ namespace, outcome });
    const s = this.#shedLog.get(namespace) ?? { loggedAt: Number.NEGATIVE_INFINITY, dropped: 0, collapsed: 0, transition_dropped: 0 };
    s[outcome]++;
    this.#shedLog.set(namespace, s);
    if (now - s.loggedAt < SHED_LOG_INTERVAL_MS) return;
    this.#opts.log.warn({ namespace, dropped: s.dropped, collapsed: s.collapsed, transitionsDropped: s.transition_dropped, perNamespace: this.#opts.maxWaitingPerNamespace ?? MAX_WAITING_PER_NAMESPACE }, 'too many Events of this namespace waiting to be written; shed some of its own (routine first, repeats of one requester collapsed)');
    this.#shedLog.set(namespace, { loggedAt: now, dropped: 0, collapsed: 0, transition_dropped: 0 });
    if (this.#shedLog.size > 10_000) this.#shedLog.delete(this.#shedLog.keys().next().value ?? '');
  }

  #pump(): void {
    while (this.#inFlight < MAX_IN_FLIGHT && this.#waiting.length > 0) {
      const e = this.#waiting.shift();
      if (e === undefined) return;
      this.#inFlight++;
      void this.#write(e).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #write(e: WaitingEvent): Promise<void> {
    const { ref, type, reason } = e;
    const time = kubeTime(e.at);
    try {
      await this.#api.create(paths.events(ref.namespace), {
        apiVersion: 'v1', kind: 'Event',
        metadata: { name: `${ref.name}.${randomBytes(8).toString('hex')}`, namespace: ref.namespace },
        involvedObject: ref, reason, message: eventMessage(e), type,
        source: { component: this.#opts.component }, reportingComponent: this.#opts.component, reportingInstance: this.#opts.instance,
        firstTimestamp: time, lastTimestamp: time, count: 1,
      });
    } catch (err) {
      this.#opts.log.warn({ err: err instanceof Error ? err.message : String(err), reason, object: `${ref.kind}/${ref.namespace}/${ref.name}` }, 'could not write Event');
    }
  }
}
