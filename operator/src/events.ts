// Kubernetes Events: the operator's notifications (`kubectl describe`, `kubectl get events`, and
// any Event exporter that forwards them to Slack or e-mail; see docs/recording.md, "Notifications").
// Repeats of one reason on one object are rate-limited so an alerting condition cannot flood the
// apiserver; suppressed repeats are counted into the next message.
import { randomBytes } from 'node:crypto';
import { kubeTime } from '../../core/duration.ts';
import { paths, type KubeApi } from './kube/client.ts';

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

export interface RecorderOptions {
  component: string;
  instance: string;
  log: EventLogger;
  /** Minimum interval between two Events with the same object and reason. */
  repeatIntervalMs?: number;
  notifiers?: Notifier[];
  now?: () => number;
}

const MAX_MESSAGE = 1024;
/** Event writes in flight at once, and waiting at most; beyond that the oldest waiting is dropped (logged). */
const MAX_IN_FLIGHT = 8;
const MAX_WAITING = 1000;

export class EventRecorder {
  readonly #api: KubeApi;
  readonly #opts: RecorderOptions;
  readonly #last = new Map<string, { at: number; suppressed: number }>();
  readonly #waiting: (() => Promise<void>)[] = [];
  #inFlight = 0;

  constructor(api: KubeApi, opts: RecorderOptions) {
    this.#api = api;
    this.#opts = opts;
  }

  /** Fire and forget: an Event that cannot be written is logged, never fails the caller. */
  emit(ref: ObjectRef, type: EventType, reason: string, message: string): void {
    const now = (this.#opts.now ?? Date.now)();
    const suppressed = this.#throttle(`${ref.kind}/${ref.namespace}/${ref.name}/${reason}`, now);
    if (suppressed === undefined) return;
    const text = suppressed > 0 ? `${message} (${suppressed} similar event(s) suppressed)` : message;
    this.#enqueue(() => this.#write(ref, type, reason, text, now));
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

  #enqueue(job: () => Promise<void>): void {
    this.#waiting.push(job);
    if (this.#waiting.length > MAX_WAITING) {
      this.#waiting.shift();
      this.#opts.log.warn({ waiting: MAX_WAITING }, 'too many Events waiting to be written; dropped the oldest');
    }
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight < MAX_IN_FLIGHT && this.#waiting.length > 0) {
      const job = this.#waiting.shift();
      if (job === undefined) return;
      this.#inFlight++;
      void job().finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #write(ref: ObjectRef, type: EventType, reason: string, message: string, now: number): Promise<void> {
    const time = kubeTime(now);
    try {
      await this.#api.create(paths.events(ref.namespace), {
        apiVersion: 'v1', kind: 'Event',
        metadata: { name: `${ref.name}.${randomBytes(8).toString('hex')}`, namespace: ref.namespace },
        involvedObject: ref, reason, message: message.slice(0, MAX_MESSAGE), type,
        source: { component: this.#opts.component }, reportingComponent: this.#opts.component, reportingInstance: this.#opts.instance,
        firstTimestamp: time, lastTimestamp: time, count: 1,
      });
    } catch (err) {
      this.#opts.log.warn({ err: err instanceof Error ? err.message : String(err), reason, object: `${ref.kind}/${ref.namespace}/${ref.name}` }, 'could not write Event');
    }
  }
}
