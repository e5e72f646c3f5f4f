// Request heads an attacker would send so the upstream does something the policy did not judge
// (issue 18, items 6 and 16): method overrides in every spelling, framing the upstream could split
// differently, bodies on methods without one, upgrades, and forgeable forwarding claims. Run by
// headers.test.ts (pure) and sidecar/test/http-bypass.int.test.ts (raw bytes, live listener).

/** Raw header lines (name, value) that make a GET refused before it is judged, with the code. */
export const REFUSED_HEADS: readonly { what: string; method: string; headers: [string, string][]; code: string; names: RegExp }[] = [
  { what: 'X-HTTP-Method-Override', method: 'GET', headers: [['X-HTTP-Method-Override', 'DELETE']], code: 'MethodOverride', names: /x-http-method-override/ },
  { what: 'X-HTTP-Method', method: 'GET', headers: [['X-HTTP-Method', 'DELETE']], code: 'MethodOverride', names: /x-http-method\b/ },
  { what: 'X-Method-Override', method: 'GET', headers: [['X-Method-Override', 'PUT']], code: 'MethodOverride', names: /x-method-override/ },
  { what: 'lower case', method: 'GET', headers: [['x-http-method-override', 'delete']], code: 'MethodOverride', names: /x-http-method-override/ },
  { what: 'odd case', method: 'POST', headers: [['x-HtTp-MeThOd-OvErRiDe', 'DELETE']], code: 'MethodOverride', names: /x-http-method-override/ },
  { what: 'repeated', method: 'GET', headers: [['X-HTTP-Method-Override', 'GET'], ['X-HTTP-Method-Override', 'DELETE']], code: 'MethodOverride', names: /x-http-method-override/ },
  { what: 'empty value', method: 'GET', headers: [['X-HTTP-Method-Override', '']], code: 'MethodOverride', names: /x-http-method-override/ },
  { what: 'underscores (CGI-style servers read them as dashes)', method: 'GET', headers: [['X_HTTP_Method_Override', 'DELETE']], code: 'MethodOverride', names: /x-http-method-override/ },
  { what: 'X-Original-Method', method: 'GET', headers: [['X-Original-Method', 'DELETE']], code: 'MethodOverride', names: /x-original-method/ },
  { what: 'body on GET', method: 'GET', headers: [['Content-Length', '5']], code: 'UnexpectedBody', names: /GET requests must not carry a body/ },
  { what: 'chunked body on GET', method: 'GET', headers: [['Transfer-Encoding', 'chunked']], code: 'UnexpectedBody', names: /must not carry a body/ },
  { what: 'body on HEAD', method: 'HEAD', headers: [['Content-Length', '5']], code: 'UnexpectedBody', names: /HEAD/ },
  { what: 'body on DELETE', method: 'DELETE', headers: [['Content-Length', '5']], code: 'UnexpectedBody', names: /DELETE/ },
  { what: 'body on OPTIONS', method: 'OPTIONS', headers: [['Content-Length', '5']], code: 'UnexpectedBody', names: /OPTIONS/ },
  { what: 'TE and CL', method: 'POST', headers: [['Transfer-Encoding', 'chunked'], ['Content-Length', '5']], code: 'AmbiguousFraming', names: /both Transfer-Encoding and Content-Length/ },
  { what: 'duplicate CL', method: 'POST', headers: [['Content-Length', '5'], ['Content-Length', '5']], code: 'AmbiguousFraming', names: /more than one Content-Length/ },
  { what: 'TE other than chunked', method: 'POST', headers: [['Transfer-Encoding', 'gzip, chunked']], code: 'AmbiguousFraming', names: /only chunked/ },
  { what: 'obs-fold', method: 'GET', headers: [['X-Note', 'a\r\n b']], code: 'AmbiguousFraming', names: /obs-fold/ },
  { what: 'Upgrade websocket', method: 'GET', headers: [['Upgrade', 'websocket']], code: 'UpgradeRefused', names: /websocket/ },
  { what: 'Upgrade h2c', method: 'GET', headers: [['Upgrade', 'h2c'], ['HTTP2-Settings', 'AAMAAABkAAQCAAAAAAIAAAAA']], code: 'UpgradeRefused', names: /h2c/ },
];

/** Headers the agent could forge; the upstream never receives them. */
export const FORGEABLE_HEADERS: readonly [string, string][] = [
  ['X-Forwarded-For', '10.0.0.1'], ['Forwarded', 'for=10.0.0.1;by=proxy'], ['X-Real-IP', '10.0.0.1'], ['X-Forwarded-User', 'dpo-admin'],
  ['X-Remote-User', 'dpo-admin'], ['X-Forwarded-Host', 'admin.internal'], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-Port', '443'],
  ['X-Forwarded-Prefix', '/admin'], ['X-Original-URL', '/customers/export'], ['X-Rewrite-URL', '/customers/export'], ['X-Original-URI', '/customers/export'],
  ['X-Auth-Request-User', 'dpo-admin'], ['X-Auth-Request-Email', 'dpo@example.com'], ['X-Auth-Request-Groups', 'dpo'], ['X-Forwarded-Email', 'dpo@example.com'],
  ['X-Forwarded-Groups', 'dpo'], ['X-Client-IP', '10.0.0.1'], ['True-Client-IP', '10.0.0.1'], ['Remote-User', 'dpo-admin'], ['X-Remote-Group', 'dpo'],
  // CGI-style servers map _ to - (HTTP_X_FORWARDED_USER): the underscore spellings are claims too.
  ['X_Forwarded_User', 'dpo-admin'], ['X_Remote_User', 'dpo-admin'], ['Remote_User', 'dpo-admin'], ['X_Real_IP', '10.0.0.1'],
];
