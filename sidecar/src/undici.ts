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

const load = createRequire(import.meta.url);

const Dispatcher = load('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher;
Object.assign(Dispatcher.prototype, load('undici/lib/api/index.js'));
const { getGlobalDispatcher } = load('undici/lib/global.js') as { getGlobalDispatcher: typeof Undici.getGlobalDispatcher };

export const Agent = load('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
export type Agent = Undici.Agent;
export const Pool = load('undici/lib/dispatcher/pool.js') as typeof Undici.Pool;
export type Pool = Undici.Pool;

type RequestOptions = Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & { method?: Undici.Dispatcher.HttpMethod; dispatcher?: Undici.Dispatcher };

/** undici's `request(url, options)`: one request on `options.dispatcher` (or the global one) to an absolute URL. */
export function request(url: string | URL, options: RequestOptions = {}): Promise<Undici.Dispatcher.ResponseData> {
  const { dispatcher = getGlobalDispatcher(), ...rest } = options;
  const target = typeof url === 'string' ? new URL(url) : url;
  return dispatcher.request({ ...rest, origin: target.origin, path: `${target.pathname}${target.search}`, method: options.method ?? (options.body === undefined || options.body === null ? 'GET' : 'PUT') });
}
