export { canonicalJson } from './canonical.ts';
export * from './keys.ts';
export * from './chain.ts';
export type * from './session-event.ts';
