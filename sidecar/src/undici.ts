// undici's HTTP client without its index. `import ... from 'undici'` runs undici's index.js, which
// loads every part of the package (fetch and its web streams, WebSocket, EventSource, the mock and
// snapshot agents, proxy and retry agents, the cache): ~10 MB of RSS and 2.4 MB of V8 heap in every
// injected pod (measured with Node 24, idle, after a memory-reducing GC), of which the sidecar uses
// the dispatchers and `request`. This module loads exactly those, and gives dispatchers their
// request/stream/pipeline methods the way the index does (Object.assign onto Dispatcher.prototype:
// the same functions, so a process that also loads the index ends up with the same prototype).
// `request(url, opts)` keeps the index's semantics (origin and path from the URL, the global
// dispatcher when none is given). sidecar/src/module-weight.test.ts checks the index stays unloaded.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import { upstreamLookup } from './upstream-address.ts';

const load = createRequire(import.meta.url);

const Dispatcher = load('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher;
Object.assign(Dispatcher.prototype, load('undici/lib/api/index.js'));
const { getGlobalDispatcher } = load('undici/lib/global.js') as { getGlobalDispatcher: typeof Undici.getGlobalDispatcher };

export const Agent = load('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
export type Agent = Undici.Agent;
const UndiciPool = load('undici/lib/dispatcher/pool.js') as typeof Undici.Pool;

/**
 * undici's Pool whose connections resolve names with the sidecar's upstream lookup
 * (upstream-address.ts: never the pod's own addresses or loopback). Pools are what the HTTP and
 * Kubernetes targets reach their upstreams with (http/proxy.ts, kubernetes/proxy.ts); undici hands
 * `connect` options to net.connect and tls.connect, `lookup` included. The lookup replaces any
 * other; a connector function (none is used) is left as it is.
 */
export const Pool = class UpstreamPool extends UndiciPool {
  constructor(url: string | URL, options: Undici.Pool.Options = {}) {
    const connect = typeof options.connect === 'function' ? options.connect : { ...options.connect, lookup: upstreamLookup };
    super(url, { ...options, connect });
  }
} as typeof Undici.Pool;
export type Pool = Undici.Pool;

type RequestOptions = Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & { method?: Undici.Dispatcher.HttpMethod; dispatcher?: Undici.Dispatcher };

/** undici's `request(url, options)`: one request on `options.dispatcher` (or the global one) to an absolute URL. */
export function request(url: string | URL, options: RequestOptions = {}): Promise<Undici.Dispatcher.ResponseData> {
  const { dispatcher = getGlobalDispatcher(), ...rest } = options;
  const target = typeof url === 'string' ? new URL(url) : url;
  return dispatcher.request({ ...rest, origin: target.origin, path: `${target.pathname}${target.search}`, method: options.method ?? (options.body === undefined || options.body === null ? 'GET' : 'PUT') });
}

const { kParser, kSocket } = load('undici/lib/core/symbols.js') as { kParser: symbol; kSocket: symbol };

/** What an HTTP/1.1 connection's response parser is called with when a response head is complete. */
type OnHeadersComplete = (statusCode: number, upgrade: boolean, shouldKeepAlive: boolean) => number;
/**
 * The status `100 Continue` is handed to undici's parser as: another interim status, which it
 * skips like 102 and 103 (and hands to the dispatch handler, which skips and counts it).
 */
export const CONTINUE_STAND_IN = 199;

/**
 * Makes every HTTP/1.1 connection of `dispatcher` read a `100 Continue` like any other interim
 * answer. undici's parser fails the exchange ("bad response") on a 100, because undici never sends
 * `Expect: 100-continue` (nodejs/undici#197, wontfix); but RFC 9110 §15.2 has a client parse any
 * number of 1xx before the final answer, and servers send 100 unasked (some send one to every
 * request with a body). The parser of each new connection (an instance of undici's own class,
 * reached through its socket as undici's client keeps it) gets an own `onHeadersComplete` that
 * passes a 100 on as `CONTINUE_STAND_IN`; every other status, 101 and upgrades included, goes to
 * undici's unchanged. HTTP/2 connections have no such parser and are left as they are.
 */
export function readContinueAsInterim(dispatcher: { on(event: 'connect', listener: (origin: URL, targets: readonly unknown[]) => void): unknown }): void {
  dispatcher.on('connect', (_origin, targets) => {
    const client = targets.at(-1) as Record<symbol, { [k: symbol]: unknown } | undefined> | undefined;
    const parser = client?.[kSocket]?.[kParser] as { onHeadersComplete?: OnHeadersComplete } | undefined;
    const original = parser?.onHeadersComplete;
    if (parser === undefined || typeof original !== 'function') return;
    parser.onHeadersComplete = function onHeadersComplete(this: unknown, statusCode, upgrade, shouldKeepAlive): number {
      return original.call(this, statusCode === 100 ? CONTINUE_STAND_IN : statusCode, upgrade, shouldKeepAlive);
    };
  });
}
