// @peculiar/x509, loaded only after reflect-metadata (its DI container, tsyringe, refuses to load
// without it). A static import is not enough: under Jest's ESM runtime a CommonJS dependency
// (x509's "main" build) executes while the importing graph is linked, before any sibling module's
// body, so the polyfill would come too late. A dynamic import on first use runs strictly after it.
// (Not a top-level await: Jest loads globalSetup with require() first, which rejects TLA.)
import 'reflect-metadata';
import type * as X509 from '@peculiar/x509';

let loading: Promise<typeof X509> | undefined;

export function loadX509(): Promise<typeof X509> {
  loading ??= import('@peculiar/x509');
  return loading;
}
