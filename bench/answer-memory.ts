// The Kubernetes listener's answer-memory charge beside what masking an answer really costs: peak RSS growth
// per byte of answer, per content class (one class per process run; answer-memory.ts's constants come from it).
//   node bench/answer-memory.ts <class> [bytes]   classes: see doc() below
import { compileMasker } from '../core/masking/index.ts';
import { maskKubernetesValue } from '../core/policy/kubernetes-response.ts';
import { answerExtraCost, MASKING_COST } from '../sidecar/src/kubernetes/answer-memory.ts';
const kind = process.argv[2] ?? 'nul';
const n = Number(process.argv[3] ?? 3_000_000);
const line = 'cliente 12345 valor 678 pedido 9012 ';
const text = line.repeat(Math.ceil(n / line.length)).slice(0, n);
type ConfigMap = Record<string, unknown>;
const cm = (extra: Record<string, unknown>): ConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', resourceVersion: '1' }, ...extra });

/** One ConfigMap (or list) per content class. */
const CLASSES: Record<string, () => unknown> = {
  nul: () => cm({ binaryData: { f: Buffer.from(text, 'utf16le').toString('base64') } }),
  nulbe: () => cm({ binaryData: { f: Buffer.from(text, 'utf16le').swap16().toString('base64') } }),
  nulodd: () => cm({ binaryData: { f: Buffer.concat([Buffer.from([0x41]), Buffer.from(text, 'utf16le')]).toString('base64') } }),
  nulesc: () => cm({ data: { f: Buffer.from(text, 'utf16le').toString('latin1') } }),
  nulbs: () => cm({ binaryData: { f: Buffer.from(text.replaceAll(' ', ' \b'), 'utf16le').toString('base64') } }),
  nulpct: () => cm({ binaryData: { f: Buffer.from(text.replaceAll(' ', '%20'), 'utf16le').toString('base64') } }),
  bidipct: () => cm({ data: { f: (text + text).replaceAll(' ', '%20\u202e') } }),
  nulbidi: () => cm({ binaryData: { f: Buffer.from(text.replaceAll(' ', ' \u202e'), 'utf16le').toString('base64') } }),
  nulbidiesc: () => cm({ data: { f: Buffer.from(text.replaceAll(' ', ' \u202e'), 'utf16le').toString('latin1') } }),
  plainkeys: () => { const d: Record<string, string> = {}; for (let i = 0, size = 0; size < 2 * n; i++) { d[`k${i}`] = 'x'; size += 12; } return cm({ data: d }); },
  digitkeys: () => { const d: Record<string, string> = {}; for (let i = 0, size = 0; size < 2 * n; i++) { d[`k${i}`] = '12345'; size += 16; } return cm({ data: d }); },
  kwkeys: () => { const d: Record<string, string> = {}; for (let i = 0, size = 0; size < 2 * n; i++) { d[`cpf${i}`] = 'x'; size += 14; } return cm({ data: d }); },
  utf8: () => cm({ binaryData: { f: Buffer.from(text + text, 'utf8').toString('base64') } }),
  data: () => cm({ data: { f: text + text } }),
  bs: () => cm({ data: { f: (text + text).replaceAll(' ', ' \b') } }),
  bidi: () => cm({ data: { f: (text + text).replaceAll(' ', ' \u202e') } }),
  pct: () => cm({ data: { f: (text + text).replaceAll(' ', '%20') } }),
  lines: () => cm({ data: { f: (text + text).replaceAll(' ', '\n') } }),
  keys: () => { const d: Record<string, string> = {}; for (let i = 0, size = 0; size < 2 * n; i++) { d[`cpf${i}`] = '12345'; d[`email${i}`] = 'x'; d[`telefone${i}`] = '678'; d[`cep${i}`] = '9012'; size += 60; } return cm({ data: d }); },
  // Identifiers glued to their neighbours, which the residue pass reads again next to every mask (core/masking/residue.ts).
  glued: () => cm({ data: { f: 'x@y.com529.982.247-25;(11) 91234-5678(11) 91234-5678 '.repeat(Math.ceil(2 * n / 52)) } }),
  masks: () => cm({ data: { f: 'cpf 529.982.247-25 tel (11) 91234-5678 '.repeat(Math.ceil(2 * n / 39)) } }),
  pods: () => { const items = []; for (let i = 0; i * 300 < 2 * n; i += 1) items.push({ metadata: { name: `p-${i}`, namespace: 'd', uid: '6f1f7c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f', resourceVersion: String(i), labels: { app: 'x' } }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'nginx:1', env: [{ name: 'CPF', value: '12345' }] }] }, status: { phase: 'Running', podIP: '10.0.0.1' } }); return { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '1' }, items }; },
};

function doc(): unknown {
  const build = CLASSES[kind];
  if (build === undefined) throw new Error(`unknown class ${kind}: ${Object.keys(CLASSES).join(', ')}`);
  return build();
}
const raw = Buffer.from(JSON.stringify(doc()));
const rawLen = raw.length;
const nuls = raw.includes('\\u0000');
const before = process.resourceUsage().maxRSS * 1024;
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
const session = compileMasker({}).newSession();
const parsed: unknown = JSON.parse(raw.toString('utf8'));
const charged = MASKING_COST * rawLen + answerExtraCost(parsed);
const out = Buffer.from(JSON.stringify(maskKubernetesValue(parsed, session, { secrets: false, revealSecretData: false })));
const t1 = performance.now();
const after = process.resourceUsage().maxRSS * 1024;
console.log(JSON.stringify({ kind, rawMB: +(rawLen / 2 ** 20).toFixed(2), outMB: +(out.length / 2 ** 20).toFixed(2), nulEscapes: nuls, growthPerRawByte: +((after - Math.max(before, rss0)) / rawLen).toFixed(1), ms: Math.round(t1 - t0), chargedPerRawByte: +(charged / rawLen).toFixed(1) }));
