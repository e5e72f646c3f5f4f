// node:http's server, loaded with require() instead of an ES import. Building the ES namespace of
// node:http reads every export, its lazy WebSocket, CloseEvent and MessageEvent too, and those load
// Node's own bundled copy of undici (~11 MB of RSS and 2 MB of heap in every sidecar, measured with
// Node 24), which nothing here uses. Types still come from `import type` (erased).
import { createRequire } from 'node:module';

const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');

export const createServer: typeof import('node:http').createServer = http.createServer;
