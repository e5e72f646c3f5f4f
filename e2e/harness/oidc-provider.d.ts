// oidc-provider ships no type declarations (and @types/oidc-provider lags behind v9): this is
// the small surface idp-server.ts uses. Configuration stays loose; idp-server.ts types the
// callbacks it passes.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface OidcClient {
    clientId: string;
    metadata(): Record<string, unknown>;
  }

  export interface KoaContextWithOIDC {
    oidc: { client?: OidcClient };
  }

  export type Configuration = Record<string, unknown>;

  export default class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }
}
