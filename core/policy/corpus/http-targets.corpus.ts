// Request targets an attacker would try so that the upstream reads another path or query than the
// policy judged (issue 18, item 15). Each is either refused (with the reason's key words) or
// forwarded as exactly one canonical target, the one the policy matched. Run by
// core/policy/http-target.test.ts (pure) and sidecar/test/http-bypass.int.test.ts (raw bytes
// against the live listener, the upstream recording what it receives).
export type TargetCase =
  | { raw: string; class: string; refused: RegExp }
  | { raw: string; class: string; forwarded: string };

export const TARGET_CORPUS: readonly TargetCase[] = [
  // Fragments: RFC 9112 allows none in a request target.
  { class: 'fragment', raw: '/customers/1#/../export', refused: /fragment/ },
  { class: 'fragment', raw: '/customers/1#', refused: /fragment/ },
  { class: 'fragment', raw: '/customers/1?x=1#/../../export', refused: /fragment/ },
  // Dot segments, plain and encoded in every case and mix.
  { class: 'dot segment', raw: '/customers/1/../export', refused: /dot segment/ },
  { class: 'dot segment', raw: '/customers/./export', refused: /dot segment/ },
  { class: 'dot segment', raw: '/customers/1/%2e%2e/export', refused: /dot segment/ },
  { class: 'dot segment', raw: '/customers/1/%2E%2E/export', refused: /dot segment/ },
  { class: 'dot segment', raw: '/customers/1/.%2e/export', refused: /dot segment/ },
  { class: 'dot segment', raw: '/customers/1/%2e./export', refused: /dot segment/ },
  { class: 'dot segment', raw: '/customers/%2e/export', refused: /dot segment/ },
  { class: 'dot segment', raw: '/customers/1/..', refused: /dot segment/ },
  // Overlong and invalid UTF-8 (%c0%ae is an overlong '.').
  { class: 'overlong utf-8', raw: '/customers/1/%c0%ae%c0%ae/export', refused: /percent-encoding/ },
  { class: 'overlong utf-8', raw: '/customers/%e0%80%ae', refused: /percent-encoding/ },
  { class: 'invalid utf-8', raw: '/customers/%ff', refused: /percent-encoding/ },
  { class: 'malformed escape', raw: '/customers/%zz', refused: /percent-encoding/ },
  { class: 'malformed escape', raw: '/customers/%2', refused: /percent-encoding/ },
  // Encoded structure: / \ % ; ? # NUL.
  { class: 'encoded slash', raw: '/customers/1%2f..%2fexport', refused: /encoded/ },
  { class: 'encoded slash', raw: '/customers%2Fexport', refused: /encoded/ },
  { class: 'encoded backslash', raw: '/customers/1%5c..%5cexport', refused: /encoded/ },
  { class: 'double encoding', raw: '/customers/%252e%252e/export', refused: /encoded/ },
  { class: 'encoded query', raw: '/customers/1%3f/../export', refused: /encoded/ },
  { class: 'encoded query', raw: '/customers/export%3Fpage=1', refused: /encoded/ },
  { class: 'encoded fragment', raw: '/customers/1%23/export', refused: /encoded/ },
  { class: 'encoded NUL', raw: '/customers/1%00.json', refused: /encoded/ },
  { class: 'encoded semicolon', raw: '/customers/export%3bjsessionid=1', refused: /encoded/ },
  // Backslashes, empty segments, matrix parameters.
  { class: 'backslash', raw: '/customers/1\\..\\export', refused: /backslash/ },
  { class: 'double slash', raw: '//customers/export', refused: /empty segment/ },
  { class: 'double slash', raw: '/customers//export', refused: /empty segment/ },
  { class: 'matrix parameter', raw: '/customers/export;x=1', refused: /matrix/ },
  { class: 'matrix parameter', raw: '/customers;/export', refused: /matrix/ },
  { class: 'matrix parameter', raw: '/customers/..;/export', refused: /matrix/ },
  // Request-target forms other than origin form.
  { class: 'absolute form', raw: 'http://127.0.0.1/customers/export', refused: /absolute-form/ },
  { class: 'absolute form', raw: 'HTTPS://upstream.example/customers/export', refused: /absolute-form/ },
  { class: 'authority form', raw: 'upstream.example:443', refused: /origin form/ },
  { class: 'asterisk form', raw: '*', refused: /asterisk/ },
  // Bytes a request target cannot hold: non-ASCII (raw UTF-8 or Latin-1), controls, space.
  { class: 'non-ASCII', raw: '/customers/caf\u00e9', refused: /not allowed/ },
  { class: 'control byte', raw: '/customers/1\u0001', refused: /not allowed/ },
  { class: 'control byte', raw: '/customers/1\u007f', refused: /not allowed/ },
  // Query: separators and encodings parsers disagree on.
  { class: 'query semicolon', raw: '/customers/1?page=1;export=all', refused: /query contains ;/ },
  { class: 'query double encoding', raw: '/customers/1?page=%2531', refused: /double encoding/ },
  { class: 'query NUL', raw: '/customers/1?page=1%00', refused: /encoded % or NUL/ },
  { class: 'query malformed', raw: '/customers/1?page=%zz', refused: /malformed/ },
  { class: 'query invalid utf-8', raw: '/customers/1?page=%c0%ae', refused: /UTF-8/ },
  // Accepted, forwarded canonically: what the policy decoded, re-encoded one way.
  { class: 'canonical', raw: '/customers/2', forwarded: '/customers/2' },
  { class: 'canonical', raw: '/customers/2/', forwarded: '/customers/2/' },
  { class: 'canonical', raw: '/customers/%32', forwarded: '/customers/2' },
  { class: 'canonical', raw: '/customers/%61%62c', forwarded: '/customers/abc' },
  { class: 'canonical', raw: '/customers/a%20b', forwarded: '/customers/a%20b' },
  { class: 'canonical', raw: '/customers/%C3%A9', forwarded: '/customers/%C3%A9' },
  { class: 'canonical', raw: '/customers/1?', forwarded: '/customers/1' },
  { class: 'canonical query', raw: '/customers?page=1&size=2', forwarded: '/customers?page=1&size=2' },
  { class: 'canonical query', raw: '/customers?q=a+b', forwarded: '/customers?q=a%20b' },
  { class: 'canonical query', raw: '/customers?q=%3F%26x%3D1', forwarded: '/customers?q=%3F%26x%3D1' },
  { class: 'canonical query', raw: '/customers?q=a?b', forwarded: '/customers?q=a%3Fb' },
  { class: 'canonical query', raw: '/customers?flag', forwarded: '/customers?flag=' },
  { class: 'canonical query', raw: '/customers?q=%2e%2e%2Fexport', forwarded: '/customers?q=../export' },
];
