// A micro-benchmark of the credential redactor (sidecar/src/http/credential-redaction.ts), not run by the test
// suites: CPU time of one 10 MiB answer body through a CredentialStream in 16 KiB chunks, for a
// realistic RS256 JWT as the credential (1,298 characters) and bodies shaped to cost the most, and
// of the whole-body path (redactor.bytes, answers up to 256 KiB), against the same bytes passed on
// without a redactor. Run it alone on an idle machine:
//   bash scripts/run.sh node bench/redaction.ts [module] [MiB] [chunk]
// `module` is another copy of credential-redaction.ts to compare (a previous commit's).
import type { CredentialRedactor } from '../sidecar/src/http/credential-redaction.ts';

const modulePath = process.argv[2] ?? '../sidecar/src/http/credential-redaction.ts';
const mib = Number(process.argv[3] ?? 10);
const chunk = Number(process.argv[4] ?? 16 * 1024);
const size = mib * 1024 * 1024;

/** An RS256-shaped JWT of 1,298 characters: base64url header, claims and a 2048-bit signature. */
function jwt(): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64url');
  const header = b64('{"alg":"RS256","typ":"JWT","kid":"guarita-bench-2026-01"}');
  const filler = (n: number): string => Array.from({ length: n }, (_v, i) => String.fromCharCode(97 + ((i * 7) % 26))).join('');
  const signature = Buffer.from(Array.from({ length: 256 }, (_v, i) => (i * 151 + 17) % 256)).toString('base64url');
  const claims = (pad: number): string => b64(`{"iss":"https://idp.example","sub":"svc-orders","aud":"orders-api","scope":"orders.read orders.write","x":"${filler(pad)}"}`);
  let pad = 0;
  while (`${header}.${claims(pad)}.${signature}`.length < 1298) pad++;
  return `${header}.${claims(pad)}.${signature}`.slice(0, 1298);
}

const fill = (unit: string): Buffer => Buffer.from(unit.repeat(Math.ceil(size / unit.length)), 'latin1').subarray(0, size);
const cpuMs = (from: NodeJS.CpuUsage): number => { const u = process.cpuUsage(from); return (u.user + u.system) / 1000; };

function streamed(redactor: CredentialRedactor | undefined, body: Buffer): number {
  const from = process.cpuUsage();
  if (redactor === undefined) {
    // Without a redactor the proxy passes the chunks on as they are.
    let n = 0;
    for (let i = 0; i < body.length; i += chunk) n += body.subarray(i, i + chunk).length;
    if (n !== body.length) throw new Error('lost bytes');
    return cpuMs(from);
  }
  const stream = redactor.stream(4096);
  for (let i = 0; i < body.length; i += chunk) stream.push(body.subarray(i, i + chunk));
  stream.end();
  return cpuMs(from);
}

async function main(): Promise<void> {
  const { CredentialRedactor: Redactor } = await import(modulePath) as typeof import('../sidecar/src/http/credential-redaction.ts');
  const token = jwt();
  const redactor = Redactor.of([token]) as CredentialRedactor;
  const prefix = token.slice(0, -1);
  const pct = [...Buffer.from(prefix)].map((b) => `%${b.toString(16)}`).join('');
  const hexEntities = [...Buffer.from(prefix).toString('hex').slice(0, 430)].map((c) => `&#x0000${c.charCodeAt(0).toString(16)};`).join('');
  const shapes: [string, Buffer][] = [
    ['plain x', Buffer.alloc(size, 'x')],
    ['English text', fill('The quick brown fox jumps over the lazy dog. ')],
    ['HTML with entities', fill('<p>Fish &amp; chips &lt;3 &quot;caf&eacute;&quot;&nbsp;</p>\n')],
    ['JSON with escapes', fill('{"msg":"say \\"hi\\"\\n","path":"a\\/b","u":"\\u00e9"},')],
    ['token prefix repeated', fill(`${prefix} `)],
    ['percent-encoded prefix repeated', fill(`${pct} `)],
    ['&#x0000 repeated', fill('&#x0000')],
    ['entity-escaped hex prefix repeated', fill(`${hexEntities} `)],
    ['token anchor (8 chars) repeated', fill(token.slice(0, 8))],
  ];
  console.log(`${modulePath}: token ${token.length} chars, longestMatch ${redactor.longestMatch}, ${mib} MiB, ${chunk}-byte chunks`);
  for (const [name, body] of shapes) {
    const none = streamed(undefined, body);
    const ms = streamed(redactor, body);
    console.log(`${name.padEnd(36)} ${ms.toFixed(0).padStart(7)} ms CPU   (no redaction ${none.toFixed(1)} ms)`);
  }
  for (const kib of [256, 2048]) {
    const body = fill('The quick brown fox jumps over the lazy dog. ').subarray(0, kib * 1024);
    const from = process.cpuUsage();
    redactor.bytes(body);
    console.log(`${`whole body (bytes) ${kib} KiB`.padEnd(36)} ${cpuMs(from).toFixed(0).padStart(7)} ms CPU`);
  }
}

await main();
